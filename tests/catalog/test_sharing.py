"""Sharing on demand: request → decision → grant → token → masked rows → the owner's access log, and every
way of asking wrongly."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityhub.catalog import sharing
from cityhub.kit.timeutil import clock
from tests.catalog.helpers import CARE, PERMITS, add_stewards, care_rows, permit_rows, register
from tests.factories import build_city, login

REQUESTED = ["permit_no", "applicant", "applicant_id", "phone", "district", "lon", "issued"]


@pytest.fixture
def city_client(client: TestClient, session: Session) -> Iterator[TestClient]:
    city = build_city(session)
    add_stewards(session, city)
    register(session, PERMITS, permit_rows(30))
    register(session, CARE, care_rows({"370201001": 12, "370202001": 12}))
    session.flush()
    sharing.limiter.reset()
    yield client
    sharing.limiter.reset()


def _ask(client: TestClient, user: str, **overrides: Any) -> Any:
    body = {
        "resource": "ROADS-PERMITS",
        "fields": REQUESTED,
        "purpose": "环境执法：核对施工扬尘点位的挖掘许可",
        "legal_basis": "《大气污染防治法》第六十九条",
        "period_days": 30,
    } | overrides
    return client.post("/api/v1/catalog/requests", json=body, headers=login(client, user))


def _approved_token(client: TestClient, **approval: Any) -> tuple[int, dict[str, str]]:
    request = _ask(client, "env_handler")
    assert request.status_code == 201, request.text
    grant = client.post(
        f"/api/v1/catalog/requests/{request.json()['id']}/approve",
        json={"reason": "同意"} | approval,
        headers=login(client, "roads_steward"),
    )
    assert grant.status_code == 200, grant.text
    token = client.post(
        f"/api/v1/catalog/grants/{grant.json()['id']}/tokens",
        json={"name": "执法系统"},
        headers=login(client, "env_handler"),
    )
    assert token.status_code == 201, token.text
    return grant.json()["id"], {"Authorization": f"Bearer {token.json()['token']}"}


def test_request_approve_and_receive_masked_rows(city_client: TestClient) -> None:
    client = city_client
    request = _ask(client, "env_handler")
    assert request.status_code == 201, request.text
    assert request.json()["status"] == "pending" and request.json()["grant_id"] is None
    rid = request.json()["id"]
    # Only the owner and the requester see it; the requester cannot approve its own request.
    assert (
        client.get(f"/api/v1/catalog/requests/{rid}", headers=login(client, "ops_steward")).status_code == 404
    )
    assert (
        client.post(
            f"/api/v1/catalog/requests/{rid}/approve", json={}, headers=login(client, "env_steward")
        ).status_code
        == 403
    )
    incoming = client.get(
        "/api/v1/catalog/requests",
        params={"incoming": "true", "status": "pending"},
        headers=login(client, "roads_steward"),
    ).json()
    assert [r["id"] for r in incoming] == [rid]

    grant_id, token = _approved_token_for(client, rid, unmasked_fields=["phone"])
    rows = client.get("/api/v1/catalog/shared/rows", params={"limit": 50}, headers=token)
    assert rows.status_code == 200, rows.text
    body = rows.json()
    assert body["count"] == 30 and body["fields"] == REQUESTED
    assert set(body["masked_fields"]) == {"applicant", "applicant_id", "lon"}
    first = body["rows"][0]
    assert set(first) == set(REQUESTED)  # nothing beyond the grant (no company code, no latitude)
    assert re.fullmatch(r"\S\*+", first["applicant"])
    assert re.fullmatch(r"370202\*{8}\d{3}[\dX]", first["applicant_id"])
    assert re.fullmatch(r"139\d{8}", first["phone"])  # unmasked by the grant
    assert first["lon"] in {"370201001001001", "370201002001001", "370202001001001", "370202002001001"}
    assert first["permit_no"] == "P0000"

    # The owner sees who used it, which fields, how many rows, for which purpose.
    owner = login(client, "roads_steward")
    log = client.get("/api/v1/catalog/access-log", headers=owner).json()
    assert len(log) == 1
    assert log[0]["row_count"] == 30 and log[0]["fields"] == REQUESTED and log[0]["outcome"] == "ok"
    assert log[0]["purpose"].startswith("环境执法") and log[0]["actor"].startswith("env_handler")
    report = client.get("/api/v1/catalog/access-log/report", headers=owner).json()
    assert report[0]["accesses"] == 1 and report[0]["rows"] == 30 and report[0]["department"] == "生态环境局"
    assert client.get("/api/v1/catalog/access-log", headers=login(client, "police_handler")).json() == []
    audit = client.get(
        "/api/v1/audit", params={"action": "catalog_shared_read"}, headers=login(client, "admin")
    ).json()
    assert audit and audit[0]["object_id"] == str(grant_id)


def _approved_token_for(client: TestClient, rid: int, **approval: Any) -> tuple[int, dict[str, str]]:
    grant = client.post(
        f"/api/v1/catalog/requests/{rid}/approve", json=approval, headers=login(client, "roads_steward")
    )
    assert grant.status_code == 200, grant.text
    token = client.post(
        f"/api/v1/catalog/grants/{grant.json()['id']}/tokens", json={}, headers=login(client, "env_handler")
    )
    assert token.status_code == 201, token.text
    assert token.json()["token"].startswith("chg_")
    return grant.json()["id"], {"Authorization": f"Bearer {token.json()['token']}"}


def test_a_grant_token_opens_its_grant_and_nothing_else(city_client: TestClient) -> None:
    client = city_client
    _grant, token = _approved_token(client)
    assert client.get("/api/v1/events", headers=token).status_code == 401
    assert client.get("/api/v1/catalog/resources", headers=token).status_code == 401
    jwt = login(client, "env_handler")
    refused = client.get("/api/v1/catalog/shared/rows", headers=jwt)
    assert refused.status_code == 401 and "grant token" in refused.json()["detail"]
    assert (
        client.get("/api/v1/catalog/shared/rows", headers={"Authorization": "Bearer chg_nope"}).status_code
        == 401
    )
    # Someone else's grant cannot be given a token.
    grants = client.get("/api/v1/catalog/grants", headers=jwt).json()
    other = client.post(
        f"/api/v1/catalog/grants/{grants[0]['id']}/tokens", json={}, headers=login(client, "police_handler")
    )
    assert other.status_code == 404


def test_unconditional_resources_are_granted_at_once(city_client: TestClient) -> None:
    client = city_client
    response = _ask(client, "env_handler", resource="CH-AREAS", fields=["code", "name", "level"])
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "approved" and response.json()["grant_id"] is not None
    assert response.json()["decided_by"] == "system"


def test_unshared_and_own_resources_cannot_be_requested(city_client: TestClient) -> None:
    client = city_client
    audit = _ask(client, "env_handler", resource="CH-AUDIT", fields=["at", "action"])
    assert audit.status_code == 403 and "不予共享" in audit.json()["detail"]
    own = _ask(client, "roads_handler")
    assert own.status_code == 409 and "your department owns" in own.json()["detail"]
    assert _ask(client, "citizen").status_code == 403


MALFORMED: list[tuple[dict[str, Any], int, str]] = [
    ({"fields": ["*"]}, 422, "wildcards"),
    ({"fields": ["permit_no", "salary"]}, 422, "no field(s) salary"),
    ({"fields": ["permit_no", "permit_no"]}, 422, "listed twice"),
    ({"fields": [f"f{i}" for i in range(31)]}, 422, "over-broad"),
    ({"fields": []}, 422, "fields"),
    ({"purpose": ""}, 422, "purpose"),
    ({"period_days": 400}, 422, "period_days"),
    ({"resource": "ENV-CARE", "fields": ["name", "age"]}, 422, "aggregates only"),
    ({"resource": "ENV-CARE", "fields": ["name", "age"], "mode": "aggregate"}, 422, "drop name"),
    ({"resource": "no such"}, 422, "resource"),
    ({"resource": "NOPE-1"}, 404, "no resource"),
]


def test_malformed_requests_are_refused(city_client: TestClient) -> None:
    for overrides, status, message in MALFORMED:
        response = _ask(city_client, "police_handler", **overrides)
        assert response.status_code == status, (overrides, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert message in response.text, overrides


def test_reject_with_a_reason_and_decide_once(city_client: TestClient) -> None:
    client = city_client
    rid = _ask(client, "env_handler").json()["id"]
    assert _ask(client, "env_handler").status_code == 409  # one pending request per resource
    owner = login(client, "roads_steward")
    assert (
        client.post(f"/api/v1/catalog/requests/{rid}/reject", json={"reason": ""}, headers=owner).status_code
        == 422
    )
    rejected = client.post(
        f"/api/v1/catalog/requests/{rid}/reject",
        json={"reason": "用途与申请字段不符，请精简字段"},
        headers=owner,
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    seen = client.get(f"/api/v1/catalog/requests/{rid}", headers=login(client, "env_handler")).json()
    assert (
        seen["decision_reason"] == "用途与申请字段不符，请精简字段" and seen["decided_by"] == "roads_steward"
    )
    again = client.post(f"/api/v1/catalog/requests/{rid}/approve", json={}, headers=owner)
    assert again.status_code == 409


def test_approvals_stay_within_the_rules(city_client: TestClient) -> None:
    client = city_client
    rid = _ask(client, "env_handler").json()["id"]
    owner = login(client, "roads_steward")
    for approval, message in [
        ({"unmasked_fields": ["lon"]}, "may not be delivered unmasked"),
        ({"unmasked_fields": ["company_code"]}, "not one of the requested"),
        ({"period_days": 60}, "not longer"),
        ({"dp_epsilon": 1.0}, "aggregate grants only"),
    ]:
        response = client.post(f"/api/v1/catalog/requests/{rid}/approve", json=approval, headers=owner)
        assert response.status_code == 422 and message in response.json()["detail"], approval


def test_expired_and_revoked_grants_are_refused(city_client: TestClient) -> None:
    client = city_client
    grant_id, token = _approved_token(client, period_days=1)
    assert client.get("/api/v1/catalog/shared/rows", headers=token).status_code == 200
    revoked = client.post(
        f"/api/v1/catalog/grants/{grant_id}/revoke",
        json={"reason": "用途已完成"},
        headers=login(client, "roads_steward"),
    )
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    refused = client.get("/api/v1/catalog/shared/rows", headers=token)
    assert refused.status_code == 403 and "revoked: 用途已完成" in refused.json()["detail"]

    rid = _ask(client, "env_handler").json()["id"]
    _grant, fresh = _approved_token_for(client, rid, period_days=1)
    clock.freeze(clock.now() + timedelta(days=2))
    expired = client.get("/api/v1/catalog/shared/rows", headers=fresh)
    assert expired.status_code == 403 and "expired" in expired.json()["detail"]


def test_rate_limit_per_token(city_client: TestClient) -> None:
    client = city_client
    _grant, token = _approved_token(client, rate_per_minute=2)
    assert client.get("/api/v1/catalog/shared/rows", headers=token).status_code == 200
    assert client.get("/api/v1/catalog/shared/rows", headers=token).status_code == 200
    limited = client.get("/api/v1/catalog/shared/rows", headers=token)
    assert limited.status_code == 429 and limited.json()["retry_after"] > 0


def test_token_bucket_refills() -> None:
    bucket = sharing.TokenBucket()
    assert bucket.take(1, 60, now=0.0) is None
    for _ in range(59):
        assert bucket.take(1, 60, now=0.0) is None
    assert bucket.take(1, 60, now=0.0) == pytest.approx(1.0)
    assert bucket.take(1, 60, now=1.0) is None  # one a second comes back
    assert bucket.take(2, 60, now=0.0) is None  # tokens do not share buckets
