"""Managing users: disable someone who left (their sessions end at once), reset or change a password, change a
role — and never leave the hub without an administrator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cityhub.access.tokens import create_api_token
from cityhub.cli import app
from cityhub.kit.db import make_engine
from cityhub.kit.settings import Settings, get_settings
from cityhub.kit.timeutil import clock
from cityhub.models.audit import AuditLog
from cityhub.models.org import LoginSession, User
from tests.factories import PASSWORD, build_city, login

NEW_PASSWORD = "another-long-password-7"


def _login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _me(client: TestClient, headers: dict[str, str]) -> int:
    return client.get("/api/v1/auth/me", headers=headers).status_code


def test_a_disabled_user_is_out_at_once_and_back_when_enabled(client: TestClient, session: Session) -> None:
    city = build_city(session)
    handler = _login(client, "roads_handler")
    admin = login(client, "admin")
    uid = city.users["roads_handler"].id
    disabled = client.patch(f"/api/v1/users/{uid}", json={"active": False}, headers=admin)
    assert disabled.status_code == 200 and disabled.json()["active"] is False
    assert _me(client, handler) == 401  # the token they hold, not only the next login
    refused = client.post("/api/v1/auth/login", json={"username": "roads_handler", "password": PASSWORD})
    assert refused.status_code == 401
    audit = session.scalars(
        select(AuditLog)
        .where(AuditLog.object_type == "users", AuditLog.object_id == str(uid), AuditLog.action == "update")
        .order_by(AuditLog.id)
    ).all()
    assert [(a.actor, a.changes.get("active")) for a in audit] == [("admin", [True, False])]
    assert client.patch(f"/api/v1/users/{uid}", json={"active": True}, headers=admin).status_code == 200
    assert _me(client, handler) == 401  # enabled again, but the sessions from before stay ended
    assert _me(client, _login(client, "roads_handler")) == 200


def test_role_department_and_area_change_and_are_checked(client: TestClient, session: Session) -> None:
    city = build_city(session)
    admin = login(client, "admin")
    uid = city.users["dispatcher"].id
    url = f"/api/v1/users/{uid}"
    no_department = client.patch(url, json={"role": "handler"}, headers=admin)
    assert no_department.status_code == 422 and "needs a department" in no_department.json()["detail"]
    unknown = client.patch(url, json={"role": "handler", "department_id": 999999}, headers=admin)
    assert unknown.status_code == 422 and "999999" in unknown.json()["detail"]
    moved = client.patch(
        url,
        json={"role": "handler", "department_id": city.departments["roads"].id, "area_id": None},
        headers=admin,
    ).json()
    assert (moved["role"], moved["department_id"], moved["area_id"]) == (
        "handler",
        city.departments["roads"].id,
        None,
    )
    assert moved["department"]["code"] == "roads" and moved["area"] is None
    listed = {u["username"]: u for u in client.get("/api/v1/users", headers=admin).json()}
    assert (
        listed["east_dispatcher"]["area"]["code"] == "370201"
        and listed["east_dispatcher"]["department"] is None
    )
    # The next request acts in the new role: the roads department's events, not the city's dispatch desk.
    assert client.get("/api/v1/auth/me", headers=_login(client, "dispatcher")).json()["role"] == "handler"
    assert (
        client.patch(url, json={"display_name": "王"}, headers=login(client, "dispatcher")).status_code == 403
    )
    assert client.patch("/api/v1/users/999999", json={"active": False}, headers=admin).status_code == 404
    assert client.patch(url, json={"role": "emperor"}, headers=admin).status_code == 422


def test_the_hub_keeps_an_administrator_and_no_one_locks_themselves_out(
    client: TestClient, session: Session
) -> None:
    city = build_city(session)
    admin = login(client, "admin")
    me = city.users["admin"].id
    own = client.patch(f"/api/v1/users/{me}", json={"active": False}, headers=admin)
    assert own.status_code == 409 and "your own" in own.json()["detail"]
    steward = city.users["steward"].id
    assert client.patch(f"/api/v1/users/{steward}", json={"role": "admin"}, headers=admin).status_code == 200
    second = _login(client, "steward")
    nowhere = client.patch(
        f"/api/v1/users/{me}", json={"role": "dispatcher", "area_id": None}, headers=second
    )
    assert nowhere.status_code == 422 and "needs an area" in nowhere.json()["detail"]  # not the whole city
    city_id = city.areas["370200"].id
    last = client.patch(
        f"/api/v1/users/{me}", json={"role": "dispatcher", "area_id": city_id}, headers=second
    )
    assert last.status_code == 200  # the steward is an administrator now, so the first one may step down
    alone = client.patch(f"/api/v1/users/{steward}", json={"active": False}, headers=second)
    assert alone.status_code == 409  # their own account, and the last administrator
    assert session.scalar(select(User.active).where(User.id == steward)) is True


def test_a_reset_password_ends_every_session_of_the_user(client: TestClient, session: Session) -> None:
    city = build_city(session)
    old = _login(client, "grid_worker")
    admin = login(client, "admin")
    uid = city.users["grid_worker"].id
    short = client.post(f"/api/v1/users/{uid}/password", json={"password": "short"}, headers=admin)
    assert short.status_code == 422
    reset = client.post(f"/api/v1/users/{uid}/password", json={"password": NEW_PASSWORD}, headers=admin)
    assert reset.status_code == 204
    assert _me(client, old) == 401
    assert (
        client.post("/api/v1/auth/login", json={"username": "grid_worker", "password": PASSWORD}).status_code
        == 401
    )
    assert _me(client, _login(client, "grid_worker", NEW_PASSWORD)) == 200
    ended = session.scalars(select(LoginSession.end_reason).where(LoginSession.user_id == uid)).all()
    assert "password changed" in ended


def test_changing_your_password_keeps_this_session_and_ends_the_others(
    client: TestClient, session: Session
) -> None:
    city = build_city(session)
    here, elsewhere = _login(client, "supervisor"), _login(client, "supervisor")
    url = "/api/v1/auth/password"
    wrong = client.post(url, json={"current_password": "not-it", "new_password": NEW_PASSWORD}, headers=here)
    assert wrong.status_code == 422 and "current password" in wrong.json()["detail"]
    same = client.post(url, json={"current_password": PASSWORD, "new_password": PASSWORD}, headers=here)
    assert same.status_code == 422
    assert _me(client, elsewhere) == 200  # nothing changed yet
    changed = client.post(
        url, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=here
    )
    assert changed.status_code == 204
    assert _me(client, here) == 200 and _me(client, elsewhere) == 401
    assert _me(client, _login(client, "supervisor", NEW_PASSWORD)) == 200
    _, secret = create_api_token(session, city.users["admin"], "gateway")
    session.flush()
    token = {"Authorization": f"Bearer {secret}"}
    machine = client.post(
        url, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=token
    )
    assert machine.status_code == 422


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CITYHUB_MODE", "development")
    monkeypatch.setenv("CITYHUB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CITYHUB_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    return tmp_path


def test_the_cli_disables_enables_and_resets_a_password(data_dir: Path) -> None:
    runner = CliRunner()
    try:
        created = runner.invoke(app, ["users", "create", "ops", "--role", "admin", "--password", PASSWORD])
        assert created.exit_code == 0, created.output
        made = runner.invoke(app, ["users", "create", "li", "--role", "citizen", "--password", PASSWORD])
        assert made.exit_code == 0, made.output
        disabled = runner.invoke(app, ["users", "disable", "li"])
        assert disabled.exit_code == 0 and "sessions have ended" in disabled.output
        assert runner.invoke(app, ["users", "disable", "nobody"]).exit_code == 2
        assert runner.invoke(app, ["users", "enable", "li"]).exit_code == 0
        reset = runner.invoke(app, ["users", "password", "li", "--password", NEW_PASSWORD])
        assert reset.exit_code == 0, reset.output
        short = runner.invoke(app, ["users", "password", "li", "--password", "short"])
        assert short.exit_code == 2 and "at least 8" in short.output
        last = runner.invoke(app, ["users", "disable", "ops"])
        assert last.exit_code == 2 and "last active administrator" in last.output
        # Locked after wrong passwords (as the login would leave it): listed so, and unlocked.
        engine = make_engine(get_settings().effective_database_url)
        with engine.begin() as conn:
            until = datetime.now(UTC) + timedelta(minutes=10)
            conn.execute(update(User).where(User.username == "li").values(locked_until=until))
        engine.dispose()
        listed = runner.invoke(app, ["users", "list"])
        assert listed.exit_code == 0, listed.output
        line = next(x for x in listed.output.splitlines() if x.startswith("li "))
        assert "citizen" in line and "locked until" in line
        assert runner.invoke(app, ["users", "unlock", "li"]).exit_code == 0
        line = next(
            x for x in runner.invoke(app, ["users", "list"]).output.splitlines() if x.startswith("li ")
        )
        assert line.rstrip().endswith("active")
    finally:
        get_settings.cache_clear()


def test_wrong_passwords_lock_the_login_for_a_while(
    client: TestClient, session: Session, settings: Settings
) -> None:
    city = build_city(session)
    bad = {"username": "roads_handler", "password": "not-the-password"}
    good = {"username": "roads_handler", "password": PASSWORD}
    for _ in range(settings.login_max_failures - 1):
        wrong = client.post("/api/v1/auth/login", json=bad)
        assert wrong.status_code == 401 and wrong.json()["code"] == "login_failed"
    # A good password before the limit clears the count: four more wrong ones do not lock.
    assert client.post("/api/v1/auth/login", json=good).status_code == 200
    for _ in range(settings.login_max_failures):
        assert client.post("/api/v1/auth/login", json=bad).status_code == 401
    locked = client.post("/api/v1/auth/login", json=good)  # the right password, during the lock
    assert locked.status_code == 429 and "too many wrong passwords" in locked.json()["detail"]
    # A program (the dashboard) knows the error by its code and when the login opens again by ``until``.
    assert locked.json()["code"] == "login_locked"
    until = datetime.fromisoformat(locked.json()["until"])
    assert until.utcoffset() == timedelta(hours=8) and until > datetime.now(UTC)
    assert 0 < int(locked.headers["retry-after"]) <= settings.login_lock_minutes * 60
    admin = login(client, "admin")
    uid = city.users["roads_handler"].id
    shown = {u["username"]: u for u in client.get("/api/v1/users", headers=admin).json()}
    assert shown["roads_handler"]["locked_until"] is not None
    # The lock ends by itself...
    clock.freeze(datetime.now(UTC) + timedelta(minutes=settings.login_lock_minutes, seconds=1))
    try:
        assert client.post("/api/v1/auth/login", json=good).status_code == 200
    finally:
        clock.unfreeze()
    # ...or when an administrator lifts it.
    for _ in range(settings.login_max_failures):
        client.post("/api/v1/auth/login", json=bad)
    assert client.post("/api/v1/auth/login", json=good).status_code == 429
    unlocked = client.patch(f"/api/v1/users/{uid}", json={"unlock": True}, headers=admin)
    assert unlocked.status_code == 200 and unlocked.json()["locked_until"] is None
    assert client.post("/api/v1/auth/login", json=good).status_code == 200
    # An unknown user name is only wrong: nothing to count, nothing to lock.
    for _ in range(settings.login_max_failures + 1):
        unknown = client.post("/api/v1/auth/login", json={"username": "nobody", "password": "x" * 8})
        assert unknown.status_code == 401


def test_unknown_references_in_a_body_are_422(client: TestClient, session: Session) -> None:
    build_city(session)
    admin = login(client, "admin")
    user = {"username": "newbie", "password": NEW_PASSWORD, "role": "handler", "department_id": 999999}
    created = client.post("/api/v1/users", json=user, headers=admin)
    assert created.status_code == 422 and "department 999999" in created.json()["detail"]
    token = client.post("/api/v1/api-tokens", json={"name": "gateway", "username": "nobody"}, headers=admin)
    assert token.status_code == 422 and "no user nobody" in token.json()["detail"]


def test_a_scoped_role_without_an_area_may_not_act_rather_than_see_the_whole_city(
    client: TestClient, session: Session
) -> None:
    city = build_city(session)
    admin = login(client, "admin")
    grid = {"username": "new_grid", "password": NEW_PASSWORD, "role": "grid_worker"}
    refused = client.post("/api/v1/users", json=grid, headers=admin)
    assert refused.status_code == 422 and "needs an area" in refused.json()["detail"]
    # A user stored so before (an older database, a hand edit) cannot act at all.
    city.users["supervisor"].area_id = None
    session.flush()
    stale = client.post("/api/v1/auth/login", json={"username": "supervisor", "password": PASSWORD})
    assert stale.status_code == 403 and "without an area" in stale.json()["detail"]


def test_wrong_current_passwords_count_towards_the_lock(
    client: TestClient, session: Session, settings: Settings
) -> None:
    build_city(session)
    headers = _login(client, "supervisor")
    wrong = {"current_password": "not-it", "new_password": NEW_PASSWORD}
    for _ in range(settings.login_max_failures):
        assert client.post("/api/v1/auth/password", json=wrong, headers=headers).status_code == 422
    right = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert client.post("/api/v1/auth/password", json=right, headers=headers).status_code == 429
    assert (
        client.post("/api/v1/auth/login", json={"username": "supervisor", "password": PASSWORD}).status_code
        == 429
    )
    failures = session.scalars(select(AuditLog.action).where(AuditLog.action.like("login_%"))).all()
    assert failures.count("login_failed") == settings.login_max_failures and "login_locked" in failures


def test_user_input_that_would_mislead_is_refused(client: TestClient, session: Session) -> None:
    city = build_city(session)
    admin = login(client, "admin")
    base = {"password": NEW_PASSWORD, "role": "citizen"}
    twin = client.post("/api/v1/users", json={**base, "username": "ADMIN"}, headers=admin)
    assert twin.status_code == 409 and "as admin" in twin.json()["detail"]
    blank = client.post(
        "/api/v1/users", json={**base, "username": "blank", "password": " " * 12}, headers=admin
    )
    assert blank.status_code == 422 and "only spaces" in blank.json()["detail"]
    flipped = client.post(
        "/api/v1/users", json={**base, "username": "flip", "display_name": "\u202enimda"}, headers=admin
    )
    assert flipped.status_code == 422
    sneaky = client.post("/api/v1/users", json={**base, "username": "sneaky", "active": False}, headers=admin)
    assert sneaky.status_code == 422  # not a field of a new user: refused, not ignored
    plain = client.post(
        "/api/v1/users", json={**base, "username": "plain", "display_name": "   "}, headers=admin
    )
    assert plain.status_code == 201 and plain.json()["display_name"] == "plain"
    url = f"/api/v1/users/{city.users['citizen'].id}"
    for body in ({"username": "renamed"}, {"password_hash": "x"}, {"active": "no"}, {"active": 0}):
        assert client.patch(url, json=body, headers=admin).status_code == 422, body


def _from(client: TestClient, address: str) -> TestClient:
    return TestClient(client.app, client=(address, 40000), raise_server_exceptions=False)


def test_an_administrator_sees_and_ends_another_users_sessions(client: TestClient, session: Session) -> None:
    from cityhub.access import tokens
    from cityhub.access.principal import Principal
    from cityhub.models.org import Role

    city = build_city(session)
    uid = city.users["dispatcher"].id
    office = _login(_from(client, "198.51.100.20"), "dispatcher")
    phone = _login(_from(client, "2001:db8::7"), "dispatcher")
    admin = _login(_from(client, "192.0.2.1"), "admin")
    url = f"/api/v1/users/{uid}/sessions"
    listed = client.get(url, headers=admin)
    assert listed.status_code == 200, listed.text
    assert [(s["address"], s["current"]) for s in listed.json()] == [
        ("2001:db8::7", False),
        ("198.51.100.20", False),
    ]
    phone_sid, office_sid = (s["id"] for s in listed.json())
    # Someone's addresses are personal: the look itself is in the audit log, by whom and from where.
    looked = session.scalars(select(AuditLog).where(AuditLog.action == "view_sessions")).all()
    assert [(a.actor, a.object_id, a.changes, a.address) for a in looked] == [
        ("admin", str(uid), {"sessions": 2}, "testclient")  # the address this request came from
    ]
    # Only administrators, through the policy: others are refused before anything is looked up.
    supervisor = _login(client, "supervisor")
    assert client.get(url, headers=supervisor).status_code == 403
    assert client.delete(url, headers=supervisor).status_code == 403
    assert client.delete(f"{url}/{phone_sid}", headers=supervisor).status_code == 403
    assert _me(client, phone) == 200
    # One session: its tokens stop at once, the other goes on.
    assert client.delete(f"{url}/{phone_sid}", headers=admin).status_code == 204
    assert _me(client, phone) == 401 and _me(client, office) == 200
    assert (
        client.delete(f"{url}/{phone_sid}", headers=admin).status_code == 204
    )  # ended already: nothing to do
    # A session of someone else, an unknown one, an unknown user: 404; ids out of range: 422, never 500.
    admin_sid = next(
        s["id"] for s in client.get(f"/api/v1/users/{city.users['admin'].id}/sessions", headers=admin).json()
    )
    for path, status in (
        (f"{url}/{admin_sid}", 404),
        (f"{url}/999999999", 404),
        ("/api/v1/users/999999999/sessions", 404),
        (f"/api/v1/users/999999999/sessions/{office_sid}", 404),
        (f"{url}/{2**63}", 422),
        (f"/api/v1/users/{2**63}/sessions", 422),
        (f"{url}/0", 422),
        (f"{url}/abc", 422),
    ):
        answer = client.delete(path, headers=admin)
        assert answer.status_code == status, (path, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    assert client.get("/api/v1/users/999999999/sessions", headers=admin).status_code == 404
    assert _me(client, admin) == 200 and _me(client, office) == 200
    # All of them: the live stream's periodic check sees the ending too.
    office_principal = Principal(
        uid, "dispatcher", Role.DISPATCHER, area_id=city.users["dispatcher"].area_id, session_id=office_sid
    )
    assert tokens.still_open(session, office_principal)
    ended = client.delete(url, headers=admin)
    assert ended.status_code == 200 and ended.json() == {"ended": 1}
    assert _me(client, office) == 401 and not tokens.still_open(session, office_principal)
    assert client.get(url, headers=admin).json() == []
    assert client.delete(url, headers=admin).json() == {"ended": 0}
    audit = session.scalars(
        select(AuditLog).where(AuditLog.action == "sessions_ended").order_by(AuditLog.id)
    ).all()
    assert [(a.actor, a.object_id, a.changes, a.address) for a in audit] == [
        ("admin", str(uid), {"sessions": 1, "session": phone_sid}, "testclient"),
        ("admin", str(uid), {"sessions": 1}, "testclient"),
    ]  # the address each request came from, not the one the administrator logged in from
    # They may log in again (disabling them is what keeps them out).
    assert _me(client, _login(client, "dispatcher")) == 200


def test_the_users_list_shows_each_users_latest_login_and_where_it_came_from(
    client: TestClient, session: Session
) -> None:
    build_city(session)
    _login(_from(client, "198.51.100.20"), "grid_worker")
    listed = {u["username"]: u for u in client.get("/api/v1/users", headers=login(client, "admin")).json()}
    assert listed["grid_worker"]["last_login_address"] == "198.51.100.20"
    assert datetime.fromisoformat(listed["grid_worker"]["last_login_at"]) > datetime.now(UTC) - timedelta(
        minutes=1
    )
    assert listed["citizen"]["last_login_at"] is None and listed["citizen"]["last_login_address"] is None
    # A failed login is not a login.
    client.post("/api/v1/auth/login", json={"username": "citizen", "password": "not-the-password"})
    listed = {u["username"]: u for u in client.get("/api/v1/users", headers=login(client, "admin")).json()}
    assert listed["citizen"]["last_login_at"] is None


def test_the_cli_lists_a_users_sessions_and_ends_them(data_dir: Path) -> None:
    from cityhub.access.tokens import issue_tokens
    from cityhub.kit.db import make_session_factory, unit_of_work

    runner = CliRunner()
    try:
        made = runner.invoke(app, ["users", "create", "li", "--role", "citizen", "--password", PASSWORD])
        assert made.exit_code == 0, made.output
        none = runner.invoke(app, ["users", "sessions", "li"])
        assert none.exit_code == 0 and "no open login session" in none.output
        settings = get_settings()
        engine = make_engine(settings.effective_database_url)
        with unit_of_work(make_session_factory(engine)) as db:
            user = db.scalars(select(User).where(User.username == "li")).one()
            issue_tokens(db, settings, user, client="Firefox on a phone", address="198.51.100.20")
            issue_tokens(db, settings, user, client="office PC", address="192.0.2.8")
        listed = runner.invoke(app, ["users", "sessions", "li"])
        assert listed.exit_code == 0, listed.output
        lines = listed.output.splitlines()
        assert lines[0].split()[:3] == ["id", "started", "from"]
        assert "192.0.2.8" in lines[1] and "office PC" in lines[1]
        assert "198.51.100.20" in lines[2] and "Firefox on a phone" in lines[2]
        ended = runner.invoke(app, ["users", "logout", "li"])
        assert ended.exit_code == 0 and "ended 2" in ended.output
        assert "no open login session" in runner.invoke(app, ["users", "sessions", "li"]).output
        assert runner.invoke(app, ["users", "logout", "nobody"]).exit_code == 2
        assert runner.invoke(app, ["users", "sessions", "nobody"]).exit_code == 2
        with engine.connect() as conn:
            reasons = conn.execute(select(LoginSession.end_reason)).scalars().all()
            audit = conn.execute(
                select(AuditLog.actor, AuditLog.address).where(AuditLog.action == "sessions_ended")
            ).all()
        engine.dispose()
        assert reasons == ["ended by an administrator"] * 2
        assert [tuple(row) for row in audit] == [("system", None)]
    finally:
        get_settings.cache_clear()
