"""Login, refresh rotation, API tokens, expiry, and refusal of insecure settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cityhub.access.tokens import create_api_token, issue_tokens, token_digest
from cityhub.kit.settings import Mode, Settings
from cityhub.kit.timeutil import clock
from cityhub.models.org import LoginSession, RefreshToken
from tests.factories import PASSWORD, build_city, login


def test_me_says_what_the_role_may_do_as_the_policy_decides(client: TestClient, session: Session) -> None:
    build_city(session)
    grid = client.get("/api/v1/auth/me", headers=login(client, "grid_worker")).json()["may"]
    assert grid["alerts.read"] == ["any"] and "reports.read" not in grid and "hotspots.read" not in grid
    handler = client.get("/api/v1/auth/me", headers=login(client, "roads_handler")).json()["may"]
    assert handler["reports.read"] == ["any"] and handler["catalog.quality.read"] == ["owner"]
    citizen = client.get("/api/v1/auth/me", headers=login(client, "citizen")).json()["may"]
    assert set(citizen) == {"events.create"}


def _login(client: TestClient, username: str = "dispatcher", agent: str = "pytest") -> dict[str, str]:
    response = client.post(
        "/api/v1/auth/login", json={"username": username, "password": PASSWORD}, headers={"User-Agent": agent}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def _refresh(client: TestClient, tokens: dict[str, str]) -> Response:
    return client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})


def test_login_and_refresh_rotate_within_one_session(client: TestClient, session: Session) -> None:
    build_city(session)
    bad = client.post("/api/v1/auth/login", json={"username": "dispatcher", "password": "wrong-password"})
    assert bad.status_code == 401 and bad.headers["content-type"].startswith("application/problem+json")
    first = _login(client)
    assert client.get("/api/v1/auth/me", headers=_bearer(first)).json()["role"] == "dispatcher"
    second = _refresh(client, first)
    assert second.status_code == 200
    # The same session: the earlier access token keeps working until it expires, and one session is listed.
    assert client.get("/api/v1/auth/me", headers=_bearer(first)).status_code == 200
    listed = client.get("/api/v1/auth/sessions", headers=_bearer(second.json())).json()
    assert len(listed) == 1 and listed[0]["current"] and listed[0]["client"] == "pytest"
    assert listed[0]["refreshed_at"] is not None


def test_a_refresh_token_used_twice_ends_its_session(client: TestClient, session: Session) -> None:
    build_city(session)
    stolen = _login(client)
    owners = _refresh(client, stolen).json()
    other_device = _login(client, agent="another device")
    replayed = _refresh(client, stolen)
    assert replayed.status_code == 401 and "already used" in replayed.json()["detail"]
    # The ending stands although the answer was an error: the owner's newer tokens are dead as well...
    assert _refresh(client, owners).status_code == 401
    assert client.get("/api/v1/auth/me", headers=_bearer(owners)).status_code == 401
    # ...and the user's other session is left alone.
    assert client.get("/api/v1/auth/me", headers=_bearer(other_device)).status_code == 200
    ended = session.scalars(select(LoginSession).where(LoginSession.ended_at.is_not(None))).all()
    assert [row.end_reason for row in ended] == ["refresh token reused"]


def test_logout_ends_this_session_at_once_and_only_this_one(client: TestClient, session: Session) -> None:
    build_city(session)
    office = _login(client, agent="office")
    home = _login(client, agent="home")
    stale = _refresh(client, office).json()  # a tab that rotated earlier still holds the first pair
    assert client.post("/api/v1/auth/logout", headers=_bearer(stale)).status_code == 204
    # The access token stops at once, not when it expires; its refresh tokens too.
    me = client.get("/api/v1/auth/me", headers=_bearer(stale))
    assert me.status_code == 401 and "ended" in me.json()["detail"]
    assert _refresh(client, stale).status_code == 401
    # A used-up token of the ended session is refused without ending anything else.
    assert _refresh(client, office).status_code == 401
    assert client.get("/api/v1/auth/me", headers=_bearer(home)).status_code == 200
    audit = client.get("/api/v1/audit", params={"action": "logout"}, headers=login(client, "admin")).json()
    assert [(row["actor"], row["changes"]) for row in audit] == [("dispatcher", {"sessions": 1})]


def test_logout_everywhere_and_ending_one_session_from_the_list(client: TestClient, session: Session) -> None:
    build_city(session)
    a, b, c = (_login(client, agent=agent) for agent in ("a", "b", "c"))
    listed = client.get("/api/v1/auth/sessions", headers=_bearer(a)).json()
    assert [(s["client"], s["current"]) for s in listed] == [("c", False), ("b", False), ("a", True)]
    b_id = listed[1]["id"]
    assert client.delete(f"/api/v1/auth/sessions/{b_id}", headers=_bearer(a)).status_code == 204
    assert client.get("/api/v1/auth/me", headers=_bearer(b)).status_code == 401
    # Someone else's session is not yours to end (nor to learn about).
    someone = login(client, "roads_handler")
    assert client.delete(f"/api/v1/auth/sessions/{listed[0]['id']}", headers=someone).status_code == 404
    assert client.get("/api/v1/auth/me", headers=_bearer(c)).status_code == 200
    assert client.post("/api/v1/auth/logout?everywhere=true", headers=_bearer(a)).status_code == 204
    assert client.get("/api/v1/auth/me", headers=_bearer(a)).status_code == 401
    assert client.get("/api/v1/auth/me", headers=_bearer(c)).status_code == 401
    assert client.get("/api/v1/auth/me", headers=someone).status_code == 200


def test_an_api_token_has_no_session_to_log_out(client: TestClient, session: Session) -> None:
    city = build_city(session)
    _, secret = create_api_token(session, city.users["admin"], "12345 gateway")
    session.flush()
    headers = {"Authorization": f"Bearer {secret}"}
    refused = client.post("/api/v1/auth/logout", headers=headers)
    assert refused.status_code == 422 and "api-tokens" in refused.json()["detail"]
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200


def test_a_refresh_token_from_before_sessions_starts_one(
    client: TestClient, session: Session, settings: Settings
) -> None:
    city = build_city(session)
    session.add(
        RefreshToken(
            user_id=city.users["admin"].id,
            token_hash=token_digest("an-old-refresh-token"),
            expires_at=datetime.now(UTC) + timedelta(days=1),
        )
    )
    session.flush()
    pair = client.post("/api/v1/auth/refresh", json={"refresh_token": "an-old-refresh-token"})
    assert pair.status_code == 200
    assert client.get("/api/v1/auth/me", headers=_bearer(pair.json())).json()["username"] == "admin"
    assert len(client.get("/api/v1/auth/sessions", headers=_bearer(pair.json())).json()) == 1


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


def test_old_tokens_and_sessions_are_pruned_and_live_ones_kept(
    client: TestClient, session: Session, settings: Settings
) -> None:
    from cityhub.access.tokens import prune
    from cityhub.scheduler import Scheduler

    city = build_city(session)
    start = datetime.now(UTC)
    clock.freeze(start - timedelta(days=60))
    ancient = issue_tokens(session, settings, city.users["admin"])  # never used again: long dead
    clock.freeze(start - timedelta(days=40))
    ended = issue_tokens(session, settings, city.users["dispatcher"])
    clock.unfreeze()
    session.flush()
    ended_row = session.scalars(
        select(LoginSession).where(LoginSession.user_id == city.users["dispatcher"].id)
    ).one()
    ended_row.ended_at = start - timedelta(days=35)
    live = _login(client)  # a session in use: its first token used up, its second current
    current = _refresh(client, live).json()
    session.flush()
    assert prune(session, settings) > 0
    assert client.get("/api/v1/auth/me", headers=_bearer(current)).status_code == 200
    remaining = session.scalars(select(LoginSession)).all()
    assert [(row.user_id, row.ended_at) for row in remaining] == [
        (city.users["dispatcher"].id, None)
    ]  # the live one
    # The used-up token of the live session is still known, so presenting it again still ends the session.
    assert _refresh(client, live).status_code == 401
    assert client.get("/api/v1/auth/me", headers=_bearer(current)).status_code == 401
    assert (
        session.scalar(
            select(RefreshToken.id).where(RefreshToken.token_hash == token_digest(ancient.refresh_token))
        )
        is None
    )
    assert (
        session.scalar(
            select(RefreshToken.id).where(RefreshToken.token_hash == token_digest(ended.refresh_token))
        )
        is None
    )
    assert "login-sessions" in {job.name for job in Scheduler(sessionmaker(), settings, []).jobs}


def _from(client: TestClient, address: str) -> TestClient:
    return TestClient(client.app, client=(address, 40000), raise_server_exceptions=False)


def test_a_session_shows_where_it_logged_in_from_and_was_last_refreshed_from(
    client: TestClient, session: Session
) -> None:
    build_city(session)
    office, phone = _from(client, "198.51.100.20"), _from(client, "2001:db8::7")
    tokens = office.post("/api/v1/auth/login", json={"username": "dispatcher", "password": PASSWORD}).json()
    listed = office.get("/api/v1/auth/sessions", headers=_bearer(tokens)).json()
    assert [(s["address"], s["last_address"]) for s in listed] == [("198.51.100.20", "198.51.100.20")]
    renewed = phone.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).json()
    listed = phone.get("/api/v1/auth/sessions", headers=_bearer(renewed)).json()
    assert [(s["address"], s["last_address"]) for s in listed] == [("198.51.100.20", "2001:db8::7")]


def test_audit_rows_of_a_request_carry_its_client_address_and_the_hubs_own_none(
    client: TestClient, session: Session
) -> None:
    from cityhub.access.principal import SYSTEM
    from cityhub.audit.hooks import bind_principal
    from cityhub.org import service as org

    city = build_city(session)
    guesser, office = _from(client, "203.0.113.5"), _from(client, "198.51.100.20")
    wrong = {"username": "dispatcher", "password": "not-the-password"}
    assert guesser.post("/api/v1/auth/login", json=wrong).status_code == 401
    assert guesser.post("/api/v1/auth/login", json={**wrong, "username": "nobody"}).status_code == 401
    tokens = office.post("/api/v1/auth/login", json={"username": "dispatcher", "password": PASSWORD}).json()
    assert office.post("/api/v1/auth/logout", headers=_bearer(tokens)).status_code == 204
    admin = {"Authorization": f"Bearer {_login(office, 'admin')['access_token']}"}
    uid = city.users["roads_handler"].id
    assert (
        office.patch(f"/api/v1/users/{uid}", json={"display_name": "路政"}, headers=admin).status_code == 200
    )
    bind_principal(session, SYSTEM)  # the hub's own work (command line, scheduler)
    org.update_user(session, SYSTEM, city.users["roads_handler"], display_name="路政处")
    session.flush()
    rows = office.get("/api/v1/audit", params={"limit": 50}, headers=admin).json()
    seen = [(r["action"], r["object_id"], r["actor"], r["address"]) for r in reversed(rows)]
    dispatcher = str(city.users["dispatcher"].id)
    assert seen[-7:] == [
        ("login_failed", dispatcher, "system", "203.0.113.5"),
        ("login_failed", "?", "system", "203.0.113.5"),
        ("login", dispatcher, "dispatcher", "198.51.100.20"),
        ("logout", dispatcher, "dispatcher", "198.51.100.20"),
        ("login", str(city.users["admin"].id), "admin", "198.51.100.20"),
        ("update", str(uid), "admin", "198.51.100.20"),
        ("update", str(uid), "system", None),
    ]
    from_guesser = office.get("/api/v1/audit", params={"address": "203.0.113.5"}, headers=admin).json()
    assert {r["action"] for r in from_guesser} == {"login_failed"} and len(from_guesser) == 2


def test_the_address_is_the_peers_unless_uvicorn_trusts_the_proxy_that_names_another(
    client: TestClient, session: Session
) -> None:
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    build_city(session)
    body = {"username": "dispatcher", "password": PASSWORD}
    spoof = {"X-Forwarded-For": "192.0.2.99", "X-Real-IP": "192.0.2.99", "Forwarded": "for=192.0.2.99"}
    # A client cannot name its own address: the hub reads no forwarding header itself.
    direct = _from(client, "203.0.113.5").post("/api/v1/auth/login", json=body, headers=spoof).json()
    # Behind a proxy uvicorn trusts (FORWARDED_ALLOW_IPS), the client the proxy names.
    proxied_app = ProxyHeadersMiddleware(client.app, trusted_hosts="10.0.0.2")  # type: ignore[arg-type]
    proxy = TestClient(proxied_app, client=("10.0.0.2", 40000), raise_server_exceptions=False)
    forwarded = {"X-Forwarded-For": "192.0.2.99, 198.51.100.20"}  # the proxy appended the real peer
    proxied = proxy.post("/api/v1/auth/login", json=body, headers=forwarded).json()
    listed = client.get("/api/v1/auth/sessions", headers=_bearer(proxied)).json()
    assert sorted(s["address"] for s in listed) == ["198.51.100.20", "203.0.113.5"]
    assert direct["access_token"]
