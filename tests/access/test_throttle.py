"""The per-address limit on failed logins: one address guessing at many user names is stopped, whatever the
names, without locking the accounts it guessed at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cityhub.access.throttle import prune, throttle_key
from cityhub.app import create_app
from cityhub.kit.settings import Settings
from cityhub.kit.timeutil import clock
from cityhub.models.audit import AuditLog
from cityhub.models.org import LoginFailure, User
from tests.factories import PASSWORD, build_city

ATTACKER = "203.0.113.66"
OFFICE = "198.51.100.20"
LIMIT = 3


def from_address(client: TestClient, address: str) -> TestClient:
    """A client of the same hub connecting from ``address``."""
    return TestClient(client.app, client=(address, 40000), raise_server_exceptions=False)


def _login(client: TestClient, username: str, password: str = "not-the-password") -> int:
    return client.post("/api/v1/auth/login", json={"username": username, "password": password}).status_code


def _failures(session: Session, user: User) -> int | None:
    """The account's count of wrong passwords as stored now."""
    return session.scalar(select(User.failed_logins).where(User.id == user.id))


@pytest.fixture
def limited(settings: Settings) -> Settings:
    settings.login_address_max_failures = LIMIT
    return settings


def test_too_many_failures_from_one_address_refuse_it_whatever_the_user_name(
    client: TestClient, session: Session, limited: Settings
) -> None:
    city = build_city(session)
    attacker = from_address(client, ATTACKER)
    # Unknown names count as well as wrong passwords of real accounts.
    assert [_login(attacker, name) for name in ("nobody", "roads_handler", "no_such_user")] == [401] * LIMIT
    refused = attacker.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
    assert refused.status_code == 429, refused.text
    problem = refused.json()
    assert problem["code"] == "address_throttled" and ATTACKER in problem["detail"]
    assert 0 < int(refused.headers["retry-after"]) <= limited.login_address_window_minutes * 60
    # No spelling of a user name gets past it.
    for name in ("ADMIN", " admin ", "admin\t", "Admin", "roads_handler"):
        assert _login(attacker, name, PASSWORD) == 429, name
    # Another address is not concerned.
    assert _login(from_address(client, OFFICE), "admin", PASSWORD) == 200
    # Refused attempts count neither against the account nor for the address (and write nothing).
    assert _failures(session, city.users["roads_handler"]) == 1
    assert session.scalar(select(func.count()).select_from(LoginFailure)) == LIMIT
    onset = session.scalars(select(AuditLog).where(AuditLog.action == "login_throttled")).all()
    assert [(row.object_id, row.address, row.changes["failures"]) for row in onset] == [
        (ATTACKER, ATTACKER, LIMIT)
    ]


def test_the_refusal_ends_when_the_window_has_passed_and_a_good_login_does_not_reset_it(
    client: TestClient, session: Session, limited: Settings
) -> None:
    build_city(session)
    attacker = from_address(client, ATTACKER)
    start = datetime.now(UTC)
    clock.freeze(start)
    for _ in range(LIMIT - 1):
        assert _login(attacker, "nobody") == 401
    # The attacker's own valid account: its good login clears nothing for the address.
    assert _login(attacker, "citizen", PASSWORD) == 200
    clock.freeze(start + timedelta(minutes=1))
    assert _login(attacker, "nobody") == 401
    assert _login(attacker, "citizen", PASSWORD) == 429
    # The first failures leave the window at start + W; the last one, a minute later, still counts.
    clock.freeze(start + timedelta(minutes=limited.login_address_window_minutes, seconds=1))
    assert _login(attacker, "citizen", PASSWORD) == 200
    assert _login(attacker, "nobody") == 401
    clock.freeze(start + timedelta(minutes=limited.login_address_window_minutes, seconds=2))
    assert _login(attacker, "citizen", PASSWORD) == 200  # two in the window: below the limit


def test_an_account_under_attack_is_not_locked_further_by_refused_guesses(
    client: TestClient, session: Session, limited: Settings
) -> None:
    city = build_city(session)
    attacker = from_address(client, ATTACKER)
    for _ in range(LIMIT + 10):
        _login(attacker, "dispatcher")
    # Only the guesses before the refusal were checked and counted: the owner still logs in.
    assert _failures(session, city.users["dispatcher"]) == LIMIT
    assert _login(from_address(client, OFFICE), "dispatcher", PASSWORD) == 200


def test_every_api_process_sees_the_same_failures(
    client: TestClient, session: Session, limited: Settings, session_factory: sessionmaker[Session]
) -> None:
    build_city(session)
    for _ in range(LIMIT):
        assert _login(from_address(client, ATTACKER), "nobody") == 401
    # A second process (or the same one restarted) keeps nothing in memory: it reads the same rows.
    other = create_app(limited, session_factory, run_scheduler=False)
    with TestClient(other, client=(ATTACKER, 40000), raise_server_exceptions=False) as second:
        assert _login(second, "admin", PASSWORD) == 429


def test_an_ipv6_client_is_counted_by_its_64_network() -> None:
    assert throttle_key("2001:db8:1:2:aaaa::1") == throttle_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert throttle_key("2001:db8:1:3::1") != throttle_key("2001:db8:1:2::1")
    assert throttle_key("fe80::1%eth0") == "fe80::/64"
    assert throttle_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert throttle_key("192.0.2.7") == "192.0.2.7"
    assert throttle_key("testclient") == "testclient"
    assert throttle_key(None) is None and throttle_key("") is None


def test_ipv6_neighbours_share_one_count(client: TestClient, session: Session, limited: Settings) -> None:
    build_city(session)
    for host in range(1, LIMIT + 1):
        assert _login(from_address(client, f"2001:db8:7:7::{host}"), "nobody") == 401
    assert _login(from_address(client, "2001:db8:7:7::beef"), "admin", PASSWORD) == 429
    assert _login(from_address(client, "2001:db8:7:8::1"), "admin", PASSWORD) == 200


def test_failures_that_no_longer_count_are_pruned_hourly(
    client: TestClient, session: Session, limited: Settings, session_factory: sessionmaker[Session]
) -> None:
    from cityhub.scheduler import Scheduler

    build_city(session)
    start = datetime.now(UTC)
    clock.freeze(start - timedelta(minutes=limited.login_address_window_minutes + 1))
    _login(from_address(client, ATTACKER), "nobody")
    clock.freeze(start)
    _login(from_address(client, OFFICE), "nobody")
    assert prune(session, limited) == 1
    assert session.scalars(select(LoginFailure.address)).all() == [OFFICE]
    # The login-sessions job prunes them with the dead tokens and sessions.
    scheduler = Scheduler(session_factory, limited, [])
    clock.freeze(start + timedelta(minutes=limited.login_address_window_minutes))
    scheduler.run_once("login-sessions")
    assert session.scalars(select(LoginFailure.address)).all() == []


def test_a_user_without_a_password_fails_like_any_other_and_counts_for_the_address(
    client: TestClient, session: Session, limited: Settings
) -> None:
    from cityhub.models.org import Role
    from cityhub.org import service as org

    build_city(session)
    staff = org.create_user(session, username="colleague", password=None, role=Role.CITIZEN)
    session.flush()
    attacker = from_address(client, ATTACKER)
    for _ in range(LIMIT):
        assert _login(attacker, "colleague", PASSWORD) == 401
    assert _login(attacker, "colleague", PASSWORD) == 429
    rows = session.scalars(
        select(AuditLog.changes).where(AuditLog.action == "login_failed", AuditLog.object_id == str(staff.id))
    ).all()
    assert rows == [{"no_password": True}] * LIMIT
