"""The demo city's catalog, as the issue's "done when" describes it: the data steward sees the hub's own
resources graded and a quality dashboard with real scores, approves a pending request from another
department, the requester receives masked data through its token, and the owner sees the access log."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine

from cityhub.app import create_app
from cityhub.catalog import sharing
from cityhub.kit.settings import Settings
from cityhub.sim.seed import DemoCity
from tests.sim import PASSWORD, rolled_back, seeded_city


@pytest.fixture(scope="module")
def demo(engine: Engine) -> Iterator[tuple[Connection, DemoCity]]:
    with seeded_city(engine) as seeded:
        yield seeded


@pytest.fixture
def client(demo: tuple[Connection, DemoCity], settings: Settings) -> Iterator[TestClient]:
    sharing.limiter.reset()
    with rolled_back(demo[0]) as factory:
        app = create_app(settings, factory, run_scheduler=False)
        with TestClient(app, raise_server_exceptions=False) as c:
            yield c


def _login(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_steward_sees_the_graded_catalog_and_real_quality_scores(client: TestClient) -> None:
    steward = _login(client, "steward")
    resources = {r["code"]: r for r in client.get("/api/v1/catalog/resources", headers=steward).json()}
    assert resources["CH-EVENTS"]["grade_label"] == "重要数据"
    assert resources["CH-AREAS"]["grade_label"] == "一般数据（1级）"
    assert (
        resources["WJW-DJLR"]["grade"] == "important"
        and resources["WJW-DJLR"]["department"] == "青岛市卫生健康委员会"
    )
    assert resources["SCJG-QYDJ"]["department"] == "青岛市市场监督管理局"
    board = {r["resource"]: r for r in client.get("/api/v1/catalog/quality", headers=steward).json()}
    for code in ("SCJG-QYDJ", "DSJ-FRK", "WJW-DJLR", "CH-AREAS"):
        assert board[code]["rows"] > 0 and board[code]["overall"] is not None, code
    assert len(board["SCJG-QYDJ"]["scores"]) == 6  # every GB/T 36344 dimension it declares
    assert 90 < board["SCJG-QYDJ"]["scores"]["conformity"] < 100  # the planted bad check characters
    assert board["SCJG-QYDJ"]["open_alert"]  # its duplicated registrations fail uniqueness
    assert board["DSJ-FRK"]["scores"]["consistency"] < 100  # names drifted from the registry


def test_pending_request_approved_then_masked_rows_and_access_log(client: TestClient) -> None:
    steward = _login(client, "steward")
    pending = client.get(
        "/api/v1/catalog/requests", params={"incoming": "true", "status": "pending"}, headers=steward
    ).json()
    assert [(r["resource"], r["department"]) for r in pending] == [("DSJ-FRK", "青岛市住房和城乡建设局")]
    grant = client.post(
        f"/api/v1/catalog/requests/{pending[0]['id']}/approve",
        json={"reason": "同意，脱敏提供"},
        headers=steward,
    )
    assert grant.status_code == 200, grant.text

    requester = _login(client, "handler_zhujian")
    token = client.post(f"/api/v1/catalog/grants/{grant.json()['id']}/tokens", json={}, headers=requester)
    assert token.status_code == 201, token.text
    shared = client.get(
        "/api/v1/catalog/shared/rows",
        params={"limit": 20},
        headers={"Authorization": f"Bearer {token.json()['token']}"},
    )
    assert shared.status_code == 200, shared.text
    row = shared.json()["rows"][0]
    assert re.fullmatch(r"\S\*+", row["legal_rep"])
    assert re.fullmatch(r"3702\d{2}\*{8}\d{3}[\dX]", row["legal_rep_id"])
    assert re.fullmatch(r"91\d{6}[0-9A-Z]{10}", row["uscc"])

    log = client.get("/api/v1/catalog/access-log", headers=steward).json()
    assert log[0]["resource"] == "DSJ-FRK" and log[0]["row_count"] == 20
    assert log[0]["actor"].startswith("handler_zhujian") and "资质" in log[0]["purpose"]


def test_aggregate_only_grant_answers_counts_and_refuses_small_groups(client: TestClient) -> None:
    admin = _login(client, "admin")
    grants = client.get("/api/v1/catalog/grants", params={"active": "true"}, headers=admin).json()
    elderly = next(g for g in grants if g["resource"] == "WJW-DJLR")
    assert elderly["mode"] == "aggregate" and elderly["department"] == "青岛市民政局"
    token = client.post(f"/api/v1/catalog/grants/{elderly['id']}/tokens", json={}, headers=admin).json()[
        "token"
    ]
    headers = {"Authorization": f"Bearer {token}"}
    answered = client.post(
        "/api/v1/catalog/shared/aggregate", json={"group_by": [{"field": "district"}]}, headers=headers
    )
    assert answered.status_code == 200, answered.text
    counts = {g["key"]["district"]: g["value"] for g in answered.json()["groups"]}
    assert counts["370203"] >= 10 and all(v >= 10 for v in counts.values())
    rows = client.get("/api/v1/catalog/shared/rows", headers=headers)
    assert rows.status_code == 403
    smallest = min(counts, key=lambda k: counts[k])
    tiny = client.post(
        "/api/v1/catalog/shared/aggregate",
        json={"filters": {"district": smallest}, "group_by": [{"field": "registered", "bucket": "day"}]},
        headers=headers,
    )
    assert tiny.status_code == 422 and "fewer than k=10" in tiny.json()["detail"]
