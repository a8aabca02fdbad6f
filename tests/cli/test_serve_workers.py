"""`cityhub serve --workers N`: API processes beside one worker process, their buses relayed through NATS.

Real processes on free ports, the real PostgreSQL and the real NATS server (JetStream).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cityhub.audit import hooks as audit_hooks
from cityhub.cli import app
from cityhub.kit.db import make_engine
from cityhub.kit.migrate import upgrade
from cityhub.kit.settings import get_settings
from cityhub.models.indicator import Indicator, IndicatorState, WarningLevel
from tests.conftest import PG_ADMIN_URL, PG_HOST, _pg_available, require_service
from tests.entities.helpers import add_device
from tests.factories import PASSWORD
from tests.indicators.helpers import define, sensing_city
from tests.kit.nats_service import delete_stream, namespace, require_nats, wait_until
from tests.telemetry.helpers import gateway_headers
from tests.web.live_server import free_port
from tests.web.test_stream import EAST, Listener

GAS = {
    "key": "safety.methane",
    "name": {"zh": "可燃气体浓度", "en": "Methane"},
    "domain": "安全",
    "unit": "%LEL",
    "formula": {"source": "telemetry", "metric": "methane", "aggregate": "last", "window": "10m"},
    "thresholds": {"blue": 5, "yellow": 10, "orange": 20, "red": 25},
}
START_S = 180.0  # a loaded 2-core machine takes tens of seconds to start a few processes


@dataclass
class Database:
    url: str
    device: str
    gateway_token: str


@pytest.fixture
def database() -> Iterator[Database]:
    """A fresh PostgreSQL database with the sensing city, a methane indicator, a gas detector, a gateway."""
    require_service("PostgreSQL", _pg_available())
    name = f"cityhub_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@{PG_HOST}:5432/{name}"
    engine = make_engine(url, pool_size=2)
    try:
        upgrade(engine)
        audit_hooks.install()
        with Session(engine) as session:
            sensing_city(session)
            define(session, indicators_=[GAS])
            device = add_device(session, "methane").code
            token = gateway_headers(session)["Authorization"]
            session.commit()
        yield Database(url, device, token)
    finally:
        engine.dispose()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def bus_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of the hub's processes: development mode, NATS in a namespace of their own."""
    url = require_nats()
    ns = namespace()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
    env.update(
        CITYHUB_MODE="development",
        CITYHUB_DATA_DIR=str(tmp_path),
        CITYHUB_BUS_URL=url,
        CITYHUB_BUS_NAMESPACE=ns,
    )
    yield env
    delete_stream(f"{ns}_durable")


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@contextlib.contextmanager
def serve(env: dict[str, str], log: Path, *args: str) -> Iterator[Served]:
    """`cityhub serve ARGS` on a free port until the block ends; its whole process group is ended after."""
    port = free_port()
    command = [sys.executable, "-c", "from cityhub.cli import main; main()", "serve", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, *args], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    served = Served(process, f"http://127.0.0.1:{port}", log)
    try:
        _wait_ready(served)
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # open event streams end with a "bye"
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever a failed test left running
        process.wait(timeout=30)


def _wait_ready(served: Served) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise AssertionError(f"cityhub serve exited ({served.process.returncode}):\n{served.tail()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{served.url}/healthz", timeout=5).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"cityhub serve did not answer within {START_S:.0f} s:\n{served.tail()}")


def _children(pid: int) -> dict[int, str]:
    """Live child processes of ``pid`` and their command lines (Linux /proc)."""
    out: dict[int, str] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                out[int(stat.parent.name)] = cmdline
    return out


def _all_ended(pids: Iterable[int]) -> bool:
    return not [pid for pid in pids if _alive(pid)]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _split(pid: int) -> dict[int, str] | None:
    """The children of ``cityhub serve --workers 2`` once all are there: two API processes, one worker."""
    children = _children(pid)
    api = [c for c in children.values() if "spawn_main" in c]
    worker = [c for c in children.values() if c.endswith("main() worker ")]
    return children if len(api) == 2 and len(worker) == 1 else None


def _token(base_url: str, username: str) -> str:
    response = httpx.post(
        f"{base_url}/api/v1/auth/login", json={"username": username, "password": PASSWORD}, timeout=30
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _methane_level(url: str, device: str) -> WarningLevel | None:
    engine = make_engine(url, pool_size=1)
    try:
        with Session(engine) as session:
            return session.scalar(
                select(IndicatorState.level)
                .join(Indicator, Indicator.id == IndicatorState.indicator_id)
                .where(Indicator.key == GAS["key"], IndicatorState.subject == device)
            )
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.slow
def test_serve_workers_runs_api_processes_and_one_worker_that_takes_the_readings(
    database: Database, bus_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**bus_env, "CITYHUB_DATABASE_URL": database.url}
    with serve(env, tmp_path / "serve.log", "--workers", "2") as hub:
        children = wait_until(lambda: _split(hub.process.pid), timeout=60, what="two API processes, a worker")
        # One signing key for all: a token issued by one API process is good at the other.
        headers = {"Authorization": f"Bearer {_token(hub.url, 'dispatcher')}"}
        for _ in range(20):  # a new connection each: the two processes share the listening socket
            assert httpx.get(f"{hub.url}/api/v1/events", headers=headers, timeout=30).status_code == 200
        # Whichever process answers a scrape adds up what every process counted.
        admin = {"Authorization": f"Bearer {_token(hub.url, 'admin')}"}
        for _ in range(4):
            scraped = httpx.get(f"{hub.url}/metrics", headers=admin, timeout=30)
            assert scraped.status_code == 200, scraped.text
            counted = 'cityhub_http_requests_total{method="GET",route="/api/v1/events",status="200"} 20.0'
            assert counted in scraped.text
        # A reading taken by an API process reaches the worker's sensing pipeline through JetStream.
        at = (datetime.now(UTC) - timedelta(seconds=10)).isoformat()
        reading = {"device": database.device, "metric": "methane", "ts": at, "value": 30.0}
        response = httpx.post(
            f"{hub.url}/api/v1/telemetry",
            json=[reading],
            headers={"Authorization": database.gateway_token},
            timeout=30,
        )
        assert response.status_code == 200 and response.json()["accepted"] == 1, response.text
        level = wait_until(lambda: _methane_level(database.url, database.device), timeout=60, what="red")
        assert level is WarningLevel.RED
        # SIGTERM to the command: it stops the API processes and the worker, and exits.
        hub.process.send_signal(signal.SIGTERM)
        assert hub.process.wait(timeout=90) == 0, hub.tail()
        # multiprocessing's resource tracker ends once it sees the parent gone: give the children a moment.
        wait_until(lambda: _all_ended(children), timeout=15, what=f"the end of {children}")
    log = hub.tail()
    assert "cityhub worker running: scheduler, sensing pipeline" in log
    assert "cityhub worker stopping" in log


@pytest.mark.postgres
@pytest.mark.slow
def test_an_event_created_through_one_api_process_reaches_the_stream_of_another(
    database: Database, bus_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**bus_env, "CITYHUB_DATABASE_URL": database.url, "CITYHUB_SECRET_KEY": "s" * 40}
    with (
        serve(env, tmp_path / "one.log", "--workers", "1", "--no-worker") as one,
        serve(env, tmp_path / "two.log", "--workers", "1", "--no-worker") as two,
    ):
        # A ticket from one process opens the stream on the other: they share the signing key.
        ticket = httpx.post(
            f"{two.url}/api/v1/stream/ticket",
            headers={"Authorization": f"Bearer {_token(two.url, 'dispatcher')}"},
            timeout=30,
        ).json()["ticket"]
        listener = Listener(f"{one.url}/api/v1/stream?ticket={ticket}")
        try:
            listener.wait_for("hello")
            headers = {"Authorization": f"Bearer {_token(two.url, 'dispatcher')}"}
            body = {"title": "路灯不亮", "location": {"lon": EAST.lon, "lat": EAST.lat}}
            created = httpx.post(f"{two.url}/api/v1/events", json=body, headers=headers, timeout=30)
            assert created.status_code == 201, created.text
            message = listener.wait_for("events.create")
            assert message["data"]["id"] == created.json()["id"]
        finally:
            listener.stop()


runner = CliRunner()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in list(os.environ):
        if key.startswith("CITYHUB_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CITYHUB_MODE", "development")
    monkeypatch.setenv("CITYHUB_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("cli_env")
def test_several_processes_are_refused_without_the_nats_bus() -> None:
    result = runner.invoke(app, ["serve", "--workers", "2"])
    assert result.exit_code == 2
    assert "several processes need the NATS bus: set CITYHUB_BUS_URL" in result.output
    assert runner.invoke(app, ["worker"]).exit_code == 2


@pytest.mark.usefixtures("cli_env")
def test_several_processes_are_refused_on_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYHUB_BUS_URL", "nats://127.0.0.1:4222")
    result = runner.invoke(app, ["serve", "--workers", "2"])
    assert result.exit_code == 2
    assert "several processes need PostgreSQL" in result.output


@pytest.mark.usefixtures("cli_env")
def test_an_unreachable_nats_is_named_and_nothing_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()  # nothing listens there
    monkeypatch.setenv("CITYHUB_BUS_URL", f"nats://127.0.0.1:{port}")
    monkeypatch.setenv("CITYHUB_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/never_opened")
    result = runner.invoke(app, ["serve", "--workers", "2"])
    assert result.exit_code == 2
    assert f"cannot reach NATS at nats://127.0.0.1:{port}" in result.output
