"""What two requests at the same moment must not get past: a refresh token used twice, two administrators
disabling each other. Each runs against its own committed database, as two requests would."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from cityhub.access import tokens
from cityhub.access.principal import Principal
from cityhub.audit.hooks import bind_principal
from cityhub.kit.db import make_session_factory, unit_of_work
from cityhub.kit.errors import Conflict
from cityhub.kit.settings import Settings
from cityhub.kit.timeutil import clock
from cityhub.models.org import LoginSession, RefreshToken, Role, User
from cityhub.org import service as org
from tests.conftest import migrated_database
from tests.factories import PASSWORD, add_user, build_city


def test_a_refresh_token_used_meanwhile_by_another_request_ends_the_session(
    client: TestClient, session: Session, settings: Settings
) -> None:
    build_city(session)
    pair = client.post("/api/v1/auth/login", json={"username": "dispatcher", "password": PASSWORD}).json()
    token = session.scalars(select(RefreshToken)).one()
    assert token.used_at is None  # what this request has read...
    # ...while another request uses the token up (this session's copy of the row does not see it).
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token.id)
        .values(used_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(tokens.RefreshReused, match="at the same moment"):
        tokens.refresh_tokens(session, settings, pair["refresh_token"])
    assert session.scalars(select(LoginSession.end_reason)).one() == "refresh token reused"
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 401


@pytest.fixture(params=["sqlite", "postgresql"])
def committed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A database of its own whose transactions really commit (the usual fixtures roll back)."""
    with migrated_database(request.param, tmp_path, prefix="cityhub_race") as engine:
        yield make_session_factory(engine)


def _acting(session: Session, username: str) -> tuple[Principal, User]:
    user = session.scalars(select(User).where(User.username == username)).one()
    principal = org.principal_for(session, user)
    bind_principal(session, principal)
    return principal, user


def test_two_administrators_disabling_each_other_at_once_leave_one(committed: sessionmaker[Session]) -> None:
    with unit_of_work(committed) as session:
        city = build_city(session)
        add_user(session, city, "admin2", Role.ADMIN)
    first_changed, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def first() -> None:  # admin disables admin2 and holds the transaction open a while
        with unit_of_work(committed) as session:
            actor, _ = _acting(session, "admin")
            other = session.scalars(select(User).where(User.username == "admin2")).one()
            org.update_user(session, actor, other, active=False)
            first_changed.set()
            release.wait(10)
        outcome["first"] = "done"

    def second() -> None:  # admin2 disables admin meanwhile
        try:
            with unit_of_work(committed) as session:
                actor, _ = _acting(session, "admin2")
                other = session.scalars(select(User).where(User.username == "admin")).one()
                org.update_user(session, actor, other, active=False)
            outcome["second"] = "done"
        except Conflict as exc:
            outcome["second"] = exc.message

    one = threading.Thread(target=first)
    one.start()
    assert first_changed.wait(10)
    two = threading.Thread(target=second)
    two.start()
    two.join(1.0)
    assert two.is_alive(), "the second change should wait for the first"
    release.set()
    one.join(10)
    two.join(10)
    assert outcome["first"] == "done"
    assert "last active administrator" in str(outcome["second"])
    with unit_of_work(committed) as session:
        active = session.scalars(select(User.username).where(User.role == Role.ADMIN, User.active)).all()
    assert active == ["admin"]
