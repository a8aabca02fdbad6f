"""The password rule (GB/T 22239 asks for complexity): every password a person sets meets it — through the
API, the CLI and the demo — and a refusal says what is missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cityhub.access import passwords
from cityhub.cli import app
from cityhub.kit.settings import get_settings
from tests.factories import PASSWORD, build_city, login


@pytest.mark.parametrize(
    ("password", "username", "missing"),
    [
        ("Ab1-", None, "fewer than 8"),
        ("        ", None, "only spaces"),
        ("alllowercase", None, "1 kind only"),
        ("lower-and-other", None, "2 kinds only"),
        ("UPPER12345", None, "2 kinds only"),
        ("Li-Ming-2026", "li-ming", "user name"),
        ("x-LIMING-2026", "liming", "user name"),
    ],
)
def test_a_weak_password_is_told_what_it_lacks(password: str, username: str | None, missing: str) -> None:
    reason = passwords.weakness(password, username)
    assert reason is not None and missing in reason


@pytest.mark.parametrize(
    ("password", "username"),
    [
        (PASSWORD, "admin"),  # lower-case, digits, others
        ("Qingdao2026", "dispatcher"),  # both cases and digits
        ("青岛市南区-2026a", None),  # letters of no case count as "other"; with digits and lower-case
        ("Ab1-Ab1-", "ab"),  # a user name shorter than three characters is not looked for
    ],
)
def test_a_password_with_three_kinds_of_characters_is_accepted(password: str, username: str | None) -> None:
    assert passwords.weakness(password, username) is None


def test_generated_passwords_meet_the_rule() -> None:
    made = {passwords.generate() for _ in range(300)}
    assert len(made) == 300 and all(passwords.weakness(p) is None for p in made)


def test_the_api_refuses_a_weak_password_with_its_code_and_the_rule(
    client: TestClient, session: Session
) -> None:
    city = build_city(session)
    admin = login(client, "admin")
    created = client.post(
        "/api/v1/users",
        json={"username": "wang", "password": "wangwang-2026", "role": "citizen"},
        headers=admin,
    )
    assert created.status_code == 422, created.text
    problem = created.json()
    assert problem["code"] == "weak_password" and "user name" in problem["detail"]
    assert problem["rule"] == passwords.RULE
    uid = city.users["grid_worker"].id
    reset = client.post(f"/api/v1/users/{uid}/password", json={"password": "onlylowercase"}, headers=admin)
    assert reset.status_code == 422 and reset.json()["code"] == "weak_password"
    own = login(client, "grid_worker")
    change = {"current_password": PASSWORD, "new_password": "12345678901"}
    changed = client.post("/api/v1/auth/password", json=change, headers=own)
    assert changed.status_code == 422 and changed.json()["code"] == "weak_password"
    # Nothing changed: the old password still logs in.
    again = client.post("/api/v1/auth/login", json={"username": "grid_worker", "password": PASSWORD})
    assert again.status_code == 200


def test_the_cli_and_the_demo_refuse_a_weak_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYHUB_MODE", "development")
    monkeypatch.setenv("CITYHUB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CITYHUB_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        weak = runner.invoke(app, ["users", "create", "ops", "--role", "admin", "--password", "opsopsops"])
        assert weak.exit_code == 2 and "too weak" in weak.output
        demo = runner.invoke(
            app, ["demo", "--data-dir", str(tmp_path / "demo"), "--demo-password", "secret123"]
        )
        assert demo.exit_code == 2 and "--demo-password is too weak" in demo.output
        assert not (tmp_path / "demo").exists()  # refused before anything was set up
    finally:
        get_settings.cache_clear()
