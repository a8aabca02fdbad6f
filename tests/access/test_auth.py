"""Login, refresh rotation, API tokens, expiry, and refusal of insecure settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.orm import Session

from cityhub.access.tokens import create_api_token, issue_tokens
from cityhub.kit.settings import Mode, Settings
from cityhub.kit.timeutil import clock
from tests.factories import PASSWORD, build_city, login


def test_me_says_what_the_role_may_do_as_the_policy_decides(client: TestClient, session: Session) -> None:
    build_city(session)
    grid = client.get("/api/v1/auth/me", headers=login(client, "grid_worker")).json()["may"]
    assert grid["alerts.read"] == ["any"] and "reports.read" not in grid and "hotspots.read" not in grid
    handler = client.get("/api/v1/auth/me", headers=login(client, "roads_handler")).json()["may"]
    assert handler["reports.read"] == ["any"] and handler["catalog.quality.read"] == ["owner"]
    citizen = client.get("/api/v1/auth/me", headers=login(client, "citizen")).json()["may"]
    assert set(citizen) == {"events.create"}


def test_login_refresh_rotates_and_logout_revokes(client: TestClient, session: Session) -> None:
    build_city(session)
    bad = client.post("/api/v1/auth/login", json={"username": "dispatcher", "password": "wrong-password"})
    assert bad.status_code == 401 and bad.headers["content-type"].startswith("application/problem+json")
    tokens = client.post("/api/v1/auth/login", json={"username": "dispatcher", "password": PASSWORD}).json()
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.json()["role"] == "dispatcher"
    new = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert new.status_code == 200
    reused = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert reused.status_code == 401
    headers = {"Authorization": f"Bearer {new.json()['access_token']}"}
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": new.json()["refresh_token"]}).status_code
        == 401
    )


def test_access_token_expires(client: TestClient, session: Session, settings: Settings) -> None:
    city = build_city(session)
    # Issued 16 minutes ago with a 15-minute lifetime.
    clock.freeze(datetime.now(UTC) - timedelta(minutes=16))
    stale = issue_tokens(session, settings, city.users["admin"]).access_token
    clock.unfreeze()
    session.flush()
    response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {stale}"})
    assert response.status_code == 401 and "expired" in response.json()["detail"]
    assert client.get("/api/v1/auth/me", headers={"Authorization": "Bearer not-a-token"}).status_code == 401


def test_api_token_works_until_revoked(client: TestClient, session: Session) -> None:
    city = build_city(session)
    row, secret = create_api_token(session, city.users["admin"], "12345 gateway")
    session.flush()
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/auth/me", headers=headers).json()["username"] == "admin"
    listed = client.get("/api/v1/api-tokens", headers=headers).json()
    assert all(t["token"] is None for t in listed)
    assert client.delete(f"/api/v1/api-tokens/{row.id}", headers=headers).status_code == 204
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_production_refuses_missing_or_weak_secret() -> None:
    with pytest.raises(ValidationError, match="CITYHUB_SECRET_KEY"):
        Settings(mode=Mode.PRODUCTION, secret_key=None)
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(mode=Mode.PRODUCTION, secret_key="short")
    assert Settings(mode=Mode.DEMO).secret_key


@pytest.mark.parametrize(
    ("expires_at", "says"),
    [
        ("2027-01-01T00:00:00", "UTC offset"),  # naive: which zone is a guess
        ("9999-12-31T23:59:59-12:00", "between the years"),  # beyond what a datetime holds in UTC
        ("0001-01-01T00:00:00+14:00", "between the years"),
        ("2020-01-01T00:00:00+08:00", "already past"),
    ],
)
def test_an_api_token_expiry_is_a_future_instant_with_its_offset(
    client: TestClient, session: Session, expires_at: str, says: str
) -> None:
    build_city(session)
    body = {"name": "qa", "username": "citizen", "expires_at": expires_at}
    refused = client.post("/api/v1/api-tokens", json=body, headers=login(client, "admin"))
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert says in refused.json()["detail"] and "expires_at" in refused.json()["detail"]


def test_an_api_token_expiry_is_kept_in_utc(client: TestClient, session: Session) -> None:
    build_city(session)
    body = {"name": "qa", "username": "citizen", "expires_at": "2099-01-01T08:00:00+08:00"}
    created = client.post("/api/v1/api-tokens", json=body, headers=login(client, "admin"))
    assert created.status_code == 201, created.text
    assert datetime.fromisoformat(created.json()["expires_at"]) == datetime(2099, 1, 1, tzinfo=UTC)
