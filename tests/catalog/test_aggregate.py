"""Usable but not visible: grouped counts answered, small groups withheld, noise when asked, never rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityhub.catalog import aggregate, sharing
from cityhub.catalog.schemas import AggregateQuery
from cityhub.kit.errors import Conflict, Unprocessable
from cityhub.kit.timeutil import SHANGHAI
from cityhub.models.catalog import AccessMode, CatalogResource, Grant
from tests.catalog.helpers import CARE, add_stewards, care_rows, register
from tests.factories import build_city, login

# 370201001: 12 people, 370201002: 15, 370202001: 4, 370202002: 11 → districts 27 and 15.
PEOPLE = {"370201001": 12, "370201002": 15, "370202001": 4, "370202002": 11}
GRANTED = ["district", "street", "age", "visited"]


def _resource() -> CatalogResource:
    return CatalogResource(code="ENV-CARE", fields=CARE["fields"])


def _grant(epsilon: float | None = None) -> Grant:
    return Grant(id=1, fields=GRANTED, mode=AccessMode.AGGREGATE, dp_epsilon=epsilon)


def _run(query: dict[str, Any], *, epsilon: float | None = None, seed: int = 0) -> Any:
    rows = iter(care_rows(PEOPLE))
    return aggregate.run(
        _resource(),
        _grant(epsilon),
        AggregateQuery.model_validate(query),
        rows,
        rng=np.random.default_rng(seed),
    )


def _values(result: Any) -> dict[str | None, float | None]:
    return {next(iter(g.key.values()), None): g.value for g in result.groups}


def test_a_grouped_count_is_answered() -> None:
    result = _run({"measure": "count", "group_by": [{"field": "district"}]})
    assert _values(result) == {"370201": 27, "370202": 15}
    assert result.suppressed_groups == 0 and result.k == 10


def test_small_groups_are_withheld_with_their_complement() -> None:
    """370202001 has 4 people: withheld, and with it the next smallest (11), so no total gives it away."""
    result = _run({"group_by": [{"field": "street"}]})
    assert _values(result) == {"370201001": 12, "370201002": 15}
    assert result.suppressed_groups == 2


def test_a_query_whose_groups_are_all_small_is_refused() -> None:
    with pytest.raises(aggregate.SmallGroups, match="fewer than k=10"):
        _run({"filters": {"street": "370202001"}})


def test_means_and_sums_and_time_buckets() -> None:
    mean = _run({"measure": "mean", "field": "age", "group_by": [{"field": "district"}]})
    assert all(70 <= (v or 0) <= 89 for v in _values(mean).values())
    total = _run({"measure": "sum", "field": "age"})
    assert total.groups[0].value == sum(r["age"] for r in care_rows(PEOPLE))
    monthly = _run({"group_by": [{"field": "visited", "bucket": "month"}]})
    assert _values(monthly) == {"2026-11": 42}
    since = datetime(2026, 11, 5, tzinfo=SHANGHAI)  # visits from the 5th: 8 + 11 + 0 + 7
    later = _run({"since": since.isoformat(), "until": (since + timedelta(days=30)).isoformat()})
    assert later.groups[0].value == 26


def test_differential_privacy_noise() -> None:
    """Laplace noise with ε = 0.5: counts move, the same seed gives the same answer, sums need bounds."""
    exact = _values(_run({"group_by": [{"field": "district"}]}))
    noisy = _values(_run({"group_by": [{"field": "district"}]}, epsilon=0.5, seed=7))
    again = _values(_run({"group_by": [{"field": "district"}]}, epsilon=0.5, seed=7))
    assert noisy == again and noisy != exact
    assert all(abs((noisy[k] or 0) - (v or 0)) < 30 for k, v in exact.items())
    summed = _run({"measure": "sum", "field": "age"}, epsilon=0.5, seed=1)
    assert summed.groups[0].value != sum(r["age"] for r in care_rows(PEOPLE))
    unbounded = CatalogResource(
        code="X", fields=[*CARE["fields"][:2], {"name": "age", "type": "integer"}, *CARE["fields"][3:]]
    )
    with pytest.raises(Conflict, match="declared range"):
        aggregate.run(
            unbounded, _grant(0.5), AggregateQuery(measure="sum", field="age"), iter(care_rows(PEOPLE))
        )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"group_by": [{"field": "name"}]}, "not a field of this grant"),
        ({"group_by": [{"field": "age"}]}, "area, time or category"),
        ({"group_by": [{"field": "district", "bucket": "day"}]}, "takes no bucket"),
        ({"filters": {"age": "70"}}, "area and category"),
        ({"measure": "mean", "field": "district"}, "numeric"),
    ],
)
def test_queries_outside_the_grant_are_refused(query: dict[str, Any], message: str) -> None:
    with pytest.raises(Unprocessable, match=message):
        _run(query)


@pytest.fixture
def grant_token(client: TestClient, session: Session) -> Iterator[dict[str, str]]:
    city = build_city(session)
    add_stewards(session, city)
    register(session, CARE, care_rows(PEOPLE))
    session.flush()
    sharing.limiter.reset()
    request = client.post(
        "/api/v1/catalog/requests",
        json={
            "resource": "ENV-CARE",
            "fields": GRANTED,
            "purpose": "道路施工影响的独居老人统计",
            "legal_basis": "《突发事件应对法》",
            "mode": "aggregate",
        },
        headers=login(client, "roads_handler"),
    )
    assert request.status_code == 201, request.text
    grant = client.post(
        f"/api/v1/catalog/requests/{request.json()['id']}/approve",
        json={},
        headers=login(client, "env_steward"),
    )
    assert grant.status_code == 200, grant.text
    token = client.post(
        f"/api/v1/catalog/grants/{grant.json()['id']}/tokens", json={}, headers=login(client, "roads_handler")
    )
    yield {"Authorization": f"Bearer {token.json()['token']}"}
    sharing.limiter.reset()


def test_aggregate_only_grant_over_the_api(client: TestClient, grant_token: dict[str, str]) -> None:
    answered = client.post(
        "/api/v1/catalog/shared/aggregate", json={"group_by": [{"field": "district"}]}, headers=grant_token
    )
    assert answered.status_code == 200, answered.text
    assert {g["key"]["district"]: g["value"] for g in answered.json()["groups"]} == {
        "370201": 27,
        "370202": 15,
    }
    small = client.post(
        "/api/v1/catalog/shared/aggregate", json={"filters": {"street": "370202001"}}, headers=grant_token
    )
    assert small.status_code == 422 and small.json()["title"] == "Groups too small"
    rows = client.get("/api/v1/catalog/shared/rows", headers=grant_token)
    assert rows.status_code == 403 and "aggregate queries only" in rows.json()["detail"]
    log = client.get("/api/v1/catalog/access-log", headers=login(client, "env_steward")).json()
    assert [(e["mode"], e["outcome"]) for e in reversed(log)] == [
        ("aggregate", "ok"),
        ("aggregate", "refused"),
        ("rows", "refused"),
    ]
    first = log[-1]
    assert first["row_count"] == 2 and first["fields"] == ["district"]
    assert first["query"]["group_by"] == [{"field": "district"}] and first["query"]["suppressed_groups"] == 0
    assert "fewer than k=10" in log[-2]["detail"]
