"""End-to-end telemetry ingest throughput, HTTP batch and MQTT, on SQLite and PostgreSQL, each side by side
with a raw ``executemany`` of the same rows into the same database (the practical limit).

The hub runs in its own process (uvicorn on 127.0.0.1, development mode, the app as ``cityhub serve`` builds
it: scheduler, the sensing pipeline subscribed to ``telemetry.readings``, MQTT ingest when configured) on a
fresh database with the tiny test city and ``--devices`` registered water-level sensors. Then:

* HTTP: ``--clients`` keep-alive connections POST pre-serialised batches of ``--batch`` readings to
  ``/api/v1/telemetry`` with a gateway's API token; the rate is readings over wall time, first send to last
  answer (each answer comes after the commit). Every reading must be accepted.
* MQTT: the bench publishes arrays of ``--mqtt-batch`` readings (QoS 1) to the hub's topic through
  Mosquitto; the rate is readings over the time until all are stored (counted in the database).
* raw: the same rows as the HTTP phase, inserted with the driver's ``executemany`` in transactions of
  ``--batch`` rows into the same table after the HTTP rows were deleted.

    python bench/bench_ingest.py                         # both backends, 300 000 readings over HTTP
    python bench/bench_ingest.py --backend sqlite --readings 100000 --markdown
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.factories: the tiny test city

from cityhub.access.principal import SYSTEM
from cityhub.access.tokens import create_api_token
from cityhub.audit import hooks
from cityhub.entities import service as entities
from cityhub.entities.schemas import EntityIn, PointIn
from cityhub.indicators import service as indicators
from cityhub.indicators.spec import IndicatorSpec
from cityhub.kit.db import make_engine, make_session_factory, sqlite_pragmas, unit_of_work
from cityhub.kit.migrate import upgrade
from cityhub.models.org import Role
from cityhub.org import service as org
from tests.factories import build_city

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
MQTT = ("127.0.0.1", 1883)


@dataclass
class Result:
    backend: str
    channel: str
    readings: int
    seconds: float
    cpu_s: float | None = None  # CPU time of the hub's process (HTTP, MQTT) or of the raw insert

    @property
    def cpu_us(self) -> float | None:
        """CPU µs per reading: less at the mercy of other work on a shared machine than the rate."""
        return self.cpu_s / self.readings * 1e6 if self.cpu_s is not None and self.readings else None

    @property
    def rate(self) -> float:
        return self.readings / self.seconds if self.seconds else 0.0


# ---------------------------------------------------------------- set-up


@contextlib.contextmanager
def database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    name = f"cityhub_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(url: str, devices: int) -> tuple[list[tuple[int, str]], str]:
    """The tiny city, ``devices`` water-level sensors and a gateway token: (entity id, code) pairs, token."""
    engine = make_engine(url)
    upgrade(engine)
    hooks.install()
    with unit_of_work(make_session_factory(engine)) as session:
        build_city(session)
        pairs = [_sensor(session, i) for i in range(devices)]
        user = org.create_user(session, username="bench-gateway", password=None, role=Role.GATEWAY)
        _row, token = create_api_token(session, user, "bench")
    engine.dispose()
    return pairs, token


# The alerting indicator the ingest runs with (``--rules``) and the alert-latency probes trip.
INDICATOR = {
    "key": "bench.level",
    "name": {"zh": "水位(基准测试)", "en": "Water level (benchmark)"},
    "domain": "水务",
    "unit": "m",
    "formula": {"source": "telemetry", "metric": "water_level", "aggregate": "last", "window": "1m"},
    "thresholds": {"yellow": 7.0, "red": 9.0},
    "alert": {"at": "red", "type": "bench.level_red"},
}


def define_indicator(url: str) -> None:
    engine = make_engine(url)
    hooks.install()
    with unit_of_work(make_session_factory(engine)) as session:
        indicators.upsert(session, SYSTEM, IndicatorSpec.model_validate(INDICATOR))
    engine.dispose()


def _sensor(session: Session, i: int) -> tuple[int, str]:
    lon, lat = 120.301 + (i % 37) * 0.001, 36.001 + (i // 37 % 37) * 0.001
    entity = entities.create(
        session,
        SYSTEM,
        EntityIn(
            type="DV",
            name=f"水位计 {i}",
            location=PointIn(lon=lon, lat=lat),
            attributes={"device_type": "water_level"},
        ),
    )
    return entity.id, entity.code


SERVERS: dict[int, int] = {}  # port → pid of the hub serving it


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(url: str, workdir: Path, mqtt_topic: str | None) -> Iterator[int]:
    port = free_port()
    env = {
        **os.environ,
        "CITYHUB_MODE": "development",
        "CITYHUB_DATABASE_URL": url,
        "CITYHUB_DATA_DIR": str(workdir),
    }
    if mqtt_topic:
        env |= {
            "CITYHUB_MQTT_URL": "mqtt://127.0.0.1:1883",
            "CITYHUB_MQTT_TOPIC": f"{mqtt_topic}/#",
            "CITYHUB_MQTT_CLIENT_ID": f"bench-{uuid.uuid4().hex[:8]}",
        }
    command = [sys.executable, "-m", "uvicorn", "--factory", "cityhub.app:create_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    log = workdir / "server.log"
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait(port, process, log)
        SERVERS[port] = process.pid
        yield port
    finally:
        SERVERS.pop(port, None)
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("the server did not come up")


# ---------------------------------------------------------------- workloads


def readings(
    pairs: list[tuple[int, str]], total: int, start: datetime
) -> list[tuple[int, str, datetime, float]]:
    """``total`` readings round-robin over the devices, one per device per second, oldest first."""
    out = []
    for k in range(total):
        entity_id, code = pairs[k % len(pairs)]
        out.append((entity_id, code, start + timedelta(seconds=k // len(pairs)), 1.0 + (k % 500) / 100))
    return out


def bodies(rows: list[tuple[int, str, datetime, float]], size: int) -> list[bytes]:
    return [
        orjson.dumps(
            [
                {"device": c, "metric": "water_level", "ts": t.isoformat(), "value": v}
                for _e, c, t, v in rows[i : i + size]
            ]
        )
        for i in range(0, len(rows), size)
    ]


def run_http(port: int, token: str, payloads: list[bytes], clients: int) -> tuple[float, int]:
    """POST every payload over ``clients`` keep-alive connections; (seconds, readings accepted)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    accepted = [0] * clients
    errors: list[str] = []

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for body in payloads[n::clients]:
            for _attempt in range(20):
                conn.request("POST", "/api/v1/telemetry", body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                if response.status in (429, 503):
                    time.sleep(float(response.getheader("Retry-After") or 0.1) / 10)
                    continue
                if response.status != 200:
                    errors.append(f"{response.status}: {data[:300]!r}")
                    return
                accepted[n] += orjson.loads(data)["accepted"]
                break
        conn.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"HTTP ingest failed: {errors[0]}")
    return elapsed, sum(accepted)


def run_mqtt(
    url: str, topic: str, rows: list[tuple[int, str, datetime, float]], size: int, already: int
) -> float:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    payloads = bodies(rows, size)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(*MQTT)
    client.loop_start()
    began = time.perf_counter()
    infos = [client.publish(f"{topic}/gw", p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(timeout=120)
    target = already + len(rows)
    deadline = time.monotonic() + 600
    while count_readings(url) < target and time.monotonic() < deadline:
        time.sleep(0.05)
    elapsed = time.perf_counter() - began
    client.disconnect()
    client.loop_stop()
    stored = count_readings(url)
    if stored < target:
        raise RuntimeError(f"MQTT: only {stored - already} of {len(rows)} readings stored")
    return elapsed


def count_readings(url: str) -> int:
    with _dbapi(url) as conn:
        return int(conn.execute("SELECT count(*) FROM telemetry_readings").fetchone()[0])


@contextlib.contextmanager
def _dbapi(url: str) -> Iterator[Any]:
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)
        sqlite_pragmas(conn)  # the hub's own connection settings: the same database, tuned the same way
        try:
            yield conn
        finally:
            conn.close()
        return
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        yield conn


def run_raw(url: str, rows: list[tuple[int, str, datetime, float]], size: int) -> tuple[float, float]:
    """The same rows with the driver's executemany, one transaction per ``size`` rows (after a clean-up):
    (seconds, CPU seconds of this process)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    us = timedelta(microseconds=1)
    params = [(e, "water_level", (t - epoch) // us, v) for e, _c, t, v in rows]
    marker = "?" if url.startswith("sqlite") else "%s"
    sql = f"INSERT INTO telemetry_readings (entity_id, metric, ts, value) VALUES ({', '.join([marker] * 4)})"
    with _dbapi(url) as conn:
        conn.execute("DELETE FROM telemetry_readings")
        conn.commit()
        began, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(params), size):
            cursor = conn.cursor()
            cursor.executemany(sql, params[i : i + size])
            conn.commit()
        return time.perf_counter() - began, time.process_time() - cpu


# ---------------------------------------------------------------- main


def bench_backend(backend: str, args: argparse.Namespace) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory() as tmp, database(backend, Path(tmp)) as url:
        workdir = Path(tmp)
        pairs, token = seed(url, args.devices)
        if args.rules:
            define_indicator(url)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
        rows = readings(pairs, args.readings, start)
        payloads = bodies(rows, args.batch)
        topic = f"cityhub-bench/{uuid.uuid4().hex[:8]}" if args.mqtt else None
        with server(url, workdir, topic) as port:
            # Warm-up (connections, caches) with readings a day earlier, not counted.
            warm = readings(pairs, min(args.batch * 5, args.readings), start - timedelta(days=0.5))
            run_http(port, token, bodies(warm, args.batch), args.clients)
            cpu = cpu_seconds(SERVERS[port])
            seconds, accepted = run_http(port, token, payloads, args.clients)
            cpu = cpu_seconds(SERVERS[port]) - cpu
            if accepted != len(rows):
                raise RuntimeError(f"HTTP: {accepted} of {len(rows)} accepted")
            results.append(Result(backend, f"HTTP batch ({args.batch}/request)", len(rows), seconds, cpu))
            if topic:
                mqtt_rows = readings(pairs, args.mqtt_readings, start + timedelta(hours=6))
                already = count_readings(url)
                cpu = cpu_seconds(SERVERS[port])
                secs = run_mqtt(url, topic, mqtt_rows, args.mqtt_batch, already)
                cpu = cpu_seconds(SERVERS[port]) - cpu
                results.append(
                    Result(backend, f"MQTT ({args.mqtt_batch}/message, QoS 1)", len(mqtt_rows), secs, cpu)
                )
        secs, cpu = run_raw(url, rows, args.batch)
        results.append(Result(backend, f"raw executemany ({args.batch}/transaction)", len(rows), secs, cpu))
    return results


def report(results: list[Result], markdown: bool) -> str:
    raw = {r.backend: r.rate for r in results if r.channel.startswith("raw")}
    lines = [
        "| backend | path | readings | seconds | readings/s | share of raw | CPU µs/reading |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        share = r.rate / raw[r.backend] if raw.get(r.backend) else 0
        cpu = f"{r.cpu_us:.1f}" if r.cpu_us is not None else ""
        row = [r.backend, r.channel, f"{r.readings:,}", f"{r.seconds:.2f}", f"{r.rate:,.0f}", f"{share:.0%}"]
        lines.append("| " + " | ".join([*row, cpu]) + " |")
    text = "\n".join(lines)
    return text if markdown else text.replace("|", " ").replace("---", "")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument("--readings", type=int, default=300_000, help="HTTP readings (and raw rows)")
    parser.add_argument("--batch", type=int, default=1000, help="readings per request / raw transaction")
    parser.add_argument("--clients", type=int, default=2, help="concurrent HTTP connections")
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--mqtt", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--rules",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="an alerting indicator over every reading (bench_alerts': water level, red at 9 m)",
    )
    parser.add_argument("--mqtt-readings", type=int, default=100_000)
    parser.add_argument("--mqtt-batch", type=int, default=100, help="readings per MQTT message")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results: list[Result] = []
    for backend in args.backend or ["sqlite", "postgresql"]:
        results.extend(bench_backend(backend, args))
        print(f"{backend}: done", file=sys.stderr, flush=True)
    print(report(results, args.markdown), flush=True)
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ | {"rate": r.rate} for r in results], indent=2))


if __name__ == "__main__":
    main()
