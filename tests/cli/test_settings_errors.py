"""A command run in an environment that makes no valid settings says what to set in one line (exit code 2),
not with a pydantic traceback: real processes, the real entry point, an environment without CITYHUB_*."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

KEY = "k" * 40  # long enough for production


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
    clean.update(CITYHUB_DATA_DIR=str(tmp_path / "data"), **env)
    command = [sys.executable, "-c", "from cityhub.cli import main; main()", *args]
    return subprocess.run(command, env=clean, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(
    ("env", "names", "says"),
    [
        ({}, "CITYHUB_SECRET_KEY", "CITYHUB_MODE=development"),  # production mode without a key
        ({"CITYHUB_SECRET_KEY": "short"}, "CITYHUB_SECRET_KEY", "at least 32 characters"),
        ({"CITYHUB_MODE": "prod", "CITYHUB_SECRET_KEY": KEY}, "CITYHUB_MODE='prod'", "'development'"),
        ({"CITYHUB_MODE": "Production"}, "CITYHUB_MODE='Production'", "'production'"),
        (
            {"CITYHUB_MODE": "development", "CITYHUB_LOGIN_MAX_FAILURES": "many"},
            "CITYHUB_LOGIN_MAX_FAILURES='many'",
            "valid integer",
        ),
    ],
)
@pytest.mark.parametrize("command", [("migrate",), ("telemetry", "dead-letters")])
def test_a_command_without_valid_settings_says_what_to_set_in_one_line(
    tmp_path: Path, env: dict[str, str], names: str, says: str, command: tuple[str, ...]
) -> None:
    done = _run(tmp_path, *command, **env)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: {names}") and says in lines[0], lines[0]
    assert "Traceback" not in done.stderr and "pydantic" not in done.stderr and done.stdout == ""
    assert "short" not in lines[0]  # the secret given is not echoed back
    assert not (tmp_path / "data").exists()  # nothing was done


def test_the_demo_keeps_its_data_when_the_settings_are_not_valid(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    data.mkdir()
    (data / "cityhub.db").write_bytes(b"kept")
    done = _run(tmp_path, "demo", "--fresh", "--data-dir", str(data), CITYHUB_LOGIN_LOCK_MINUTES="0")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: CITYHUB_LOGIN_LOCK_MINUTES='0' is not valid")
    assert (data / "cityhub.db").read_bytes() == b"kept"


def test_a_valid_environment_runs_the_command(tmp_path: Path) -> None:
    done = _run(tmp_path, "migrate", CITYHUB_SECRET_KEY=KEY)
    assert done.returncode == 0, done.stderr
    assert "database at head" in done.stdout
