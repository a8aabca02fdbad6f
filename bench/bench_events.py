"""Event creation over HTTP against the real server, on SQLite and PostgreSQL.

The hub runs in its own process (uvicorn, as ``cityhub serve`` runs it, on a free loopback port, in
development mode) on a fresh database seeded with the tiny test city and routing rules, so every
request takes the real path: authentication, location, routing, automatic dispatch with deadlines,
audit rows, the response view. Each phase gets a freshly started server on the same database and a
warm-up, so a collapse in one phase cannot leak into the next:

* closed loop: ``--concurrency`` requests in flight, for the throughput the server sustains;
* open loop at each ``--rate``: requests are *scheduled* at a fixed rate and latency is counted from
  the scheduled send time, so a server that falls behind shows its queueing (no coordinated omission);
* the practical limit: as many raw single-row event INSERTs as the open loop at ``--target-rate``
  sends, by a plain SQLAlchemy Core loop, one transaction each, into the same database.

The load comes from aiohttp (one keep-alive connection pool of ``--max-connections``): about 0.5–0.8 ms
of client CPU per request where httpx took 1.5–2.3 ms, and 3–6.5 ms once the server falls behind. The
client shares the machine with the server under test, so what it spends the server does not get.
Each HTTP phase reports the CPU both spent per request: the server's process tree (``/proc``) and this
client process (``getrusage``).

    python bench/bench_events.py                        # both backends: 16 in flight, then 200/s for 60 s
    python bench/bench_events.py --backend sqlite --rate 50 100 200 --seconds 30 --markdown
    python bench/bench_events.py --backend postgresql --workers 2   # `cityhub serve --workers 2` (NATS)
    python bench/bench_events.py --concurrency 1 --rate          # one at a time: the cost of one creation

Exits 1 when any request failed (non-2xx or no answer): errors must be 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import httpx
import psycopg
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.factories: the tiny test city

from cityhub.dispatch import routing
from cityhub.events import categories
from cityhub.kit.db import make_engine
from cityhub.kit.migrate import upgrade
from cityhub.models.event import Event
from tests.factories import PASSWORD, build_city

BACKENDS = ("sqlite", "postgresql")
TARGET_P99_MS = 50.0
DEFAULT_APP = "cityhub.app:create_app"
ROAD, MANHOLE, NOISE = (
    "城乡建设/市政设施/道路破损",
    "城乡建设/市政设施/井盖缺失",
    "环境保护/噪声污染/施工噪声",
)


# ---------------------------------------------------------------- databases


@dataclass(frozen=True)
class PgServer:
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"

    def admin_dsn(self) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname=postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"


@contextlib.contextmanager
def fresh_database(backend: str, pg: PgServer, workdir: Path) -> Iterator[str]:
    """A migrated, empty database that is removed afterwards: a SQLite file, or a PostgreSQL database."""
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'cityhub.db'}"
        _migrate(url)
        yield url
        return
    name = f"cityhub_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg.admin_dsn(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        _migrate(pg.url(name))
        yield pg.url(name)
    finally:
        with psycopg.connect(pg.admin_dsn(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def seed_city(url: str) -> None:
    """The tiny test city, its users and routing rules for its three categories (all auto-dispatched)."""
    engine = make_engine(url)
    try:
        with Session(engine) as session, session.begin():
            city = build_city(session)
            depts, areas = city.departments, city.areas
            road = categories.find(session, ROAD).id
            routing.add_rule(session, category_id=road, lead_department_id=depts["roads"].id)
            routing.add_rule(
                session,
                category_id=road,
                area_id=areas["370201"].id,
                lead_department_id=depts["east_roads"].id,
                co_department_ids=(depts["police"].id,),
            )
            manhole = categories.find(session, MANHOLE).id
            routing.add_rule(session, category_id=manhole, lead_department_id=depts["roads"].id)
            noise = categories.find(session, NOISE).id
            routing.add_rule(session, category_id=noise, lead_department_id=depts["env"].id)
    finally:
        engine.dispose()


# ---------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process and its children so far (Linux /proc; 0
        elsewhere): with --workers, the API processes and the worker process too."""
        processes = _processes()
        ticks, todo = 0, [self.process.pid]
        while todo:
            pid = todo.pop()
            ticks += processes.get(pid, (0, 0))[1]
            todo += [child for child, (parent, _) in processes.items() if parent == pid]
        return ticks / os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, int]]:
    """pid → (parent pid, user + system ticks) of every live process."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            out[int(stat.parent.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return out


@contextlib.contextmanager
def running_server(
    url: str, workdir: Path, app: str = DEFAULT_APP, workers: int | None = None, bus_url: str = ""
) -> Iterator[Server]:
    """The hub in its own process on 127.0.0.1 and a free port; stopped with SIGINT. With ``workers``,
    `cityhub serve --workers N` (N API processes and the worker process, the bus relayed through NATS)."""
    port = free_port()
    env = {**os.environ, "CITYHUB_MODE": "development", "CITYHUB_DATABASE_URL": url}
    env["CITYHUB_DATA_DIR"] = str(workdir)
    # What `cityhub serve` runs (uvicorn, one process, access log on), without the CLI's other imports.
    command = [sys.executable, "-m", "uvicorn", "--factory", app]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "info"]
    if workers is not None:
        env.update(CITYHUB_BUS_URL=bus_url, CITYHUB_BUS_NAMESPACE=f"bench_{uuid.uuid4().hex[:10]}")
        command = [sys.executable, "-c", "from cityhub.cli import main; main()", "serve"]
        command += ["--workers", str(workers), "--host", "127.0.0.1", "--port", str(port)]
    log = workdir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        _wait_ready(server, timeout_s=60.0 if workers is None else 180.0)
        yield server
    finally:
        _stop(process)
        if workers is not None:
            _delete_stream(bus_url, env["CITYHUB_BUS_NAMESPACE"])


def _delete_stream(bus_url: str, namespace: str) -> None:
    import nats

    async def delete() -> None:
        nc = await nats.connect(bus_url, allow_reconnect=False)
        try:
            with contextlib.suppress(Exception):
                await nc.jetstream().delete_stream(f"{namespace}_durable")
        finally:
            await nc.close()

    asyncio.run(delete())


def _wait_ready(server: Server, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited; see its log:\n{server.log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.base_url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the server did not answer /healthz within {timeout_s:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=5)  # a server stuck in a collapse does not finish its requests
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # API or worker processes left behind


def login(base_url: str, username: str) -> dict[str, str]:
    response = httpx.post(
        f"{base_url}/api/v1/auth/login", json={"username": username, "password": PASSWORD}, timeout=30
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}", "Content-Type": "application/json"}


# ---------------------------------------------------------------- request bodies

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "建华"]
ROADS = [
    "香港中路",
    "延安三路",
    "南京路",
    "福州北路",
    "辽阳西路",
    "山东路",
    "敦化路",
    "哈尔滨路",
    "劲松七路",
    "海尔路",
    "银川东路",
    "青岛路",
]
PLACES = [
    "小区东门",
    "菜市场旁",
    "公交站附近",
    "学校门口",
    "十字路口",
    "人行道上",
    "社区广场",
    "医院南侧",
    "加油站对面",
    "地铁口",
]
# Per category: titles and details (varied, so reports differ the way real ones do).
REPORTS = {
    ROAD: (
        ["路面塌陷", "道路坑洼", "人行道砖松动", "路面开裂", "沥青脱落"],
        [
            "路面出现塌陷坑，直径约一米，车辆经过非常危险",
            "道路坑洼不平，下雨后大量积水，行人无法通行",
            "人行道地砖松动翘起，老人和小孩容易绊倒",
            "路面裂缝越来越宽，电动车经过时颠簸严重",
            "新铺的沥青大面积脱落，碎石散落在车道上",
        ],
    ),
    MANHOLE: (
        ["井盖缺失", "井盖破损", "井盖移位", "雨水箅子丢失"],
        [
            "有一处窨井盖缺失，只用树枝遮挡，夜间没有警示",
            "井盖破损，车辆压过发出很大响声，影响附近居民休息",
            "井盖被车辆压得移位，露出半个井口",
            "雨水箅子不见了，雨天积水时根本看不出来",
        ],
    ),
    NOISE: (
        ["夜间施工噪声", "凌晨施工扰民", "工地机械噪声"],
        [
            "工地晚上十一点后仍在施工，噪声很大，严重影响居民睡眠",
            "凌晨两点还有渣土车和打桩机作业",
            "切割机和电镐从早到晚不停，家里老人心脏不好",
            "周末也在打桩，孩子没法写作业",
        ],
    ),
}
SINCE = ["今天早上", "昨天晚上", "前天", "这两天", "一周以来", "半个月来"]
ASKS = [
    "请尽快处理。",
    "希望相关部门派人到现场看看。",
    "已经反映过一次，还没有解决，请督促。",
    "请处理后回电告知结果。",
    "附近有幼儿园，请优先处理。",
]
# Who reports on which channel: the 12345 operator, the grid worker on patrol, the citizen's app.
CHANNELS = (("hotline_12345", "dispatcher"), ("grid", "grid_worker"), ("app", "citizen"))


@dataclass(frozen=True)
class Request:
    user: str
    content: bytes


def make_requests(count: int, seed: int) -> list[Request]:
    """Realistic reports with a point inside the tiny city (some given in GCJ-02, as Chinese maps do)."""
    rng = random.Random(seed)
    return [_one_request(rng, i) for i in range(count)]


def _one_request(rng: random.Random, i: int) -> Request:
    category = rng.choices([ROAD, MANHOLE, NOISE], weights=[6, 2, 3])[0]
    titles, details = REPORTS[category]
    road, number, place = rng.choice(ROADS), rng.randrange(1, 400), rng.choice(PLACES)
    where = f"{road}{number}号{place}"
    text = f"{rng.choice(SINCE)}{where}{rng.choice(details)}，{rng.choice(ASKS)}"
    channel, user = rng.choices(CHANNELS, weights=[6, 2, 2])[0]
    body: dict[str, object] = {
        "title": f"{road}{rng.choice(titles)}",
        "description": text,
        "channel": channel,
        "category": category,
        "urgency": rng.choices(["normal", "urgent", "critical"], weights=[85, 12, 3])[0],
        "location": {
            "lon": round(rng.uniform(120.3005, 120.3395), 6),
            "lat": round(rng.uniform(36.0005, 36.0395), 6),
            "crs": "gcj02" if i % 4 == 0 else "wgs84",
        },
        "address": f"测试市{where}",
    }
    if channel == "hotline_12345":
        name = rng.choice(SURNAMES) + rng.choice(GIVEN)
        body["reporter"] = {"name": name, "phone": f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"}
    return Request(user, json.dumps(body, ensure_ascii=False).encode())


# ---------------------------------------------------------------- load


@dataclass
class Sample:
    latency_s: float
    status: int
    lag_s: float = 0.0  # how late the client sent it (open loop only)


@dataclass
class Phase:
    name: str
    samples: list[Sample] = field(default_factory=list)
    elapsed_s: float = 0.0
    server_cpu_s: float = 0.0
    client_cpu_s: float | None = None  # this process over the phase; None where not measured
    stopped_early: bool = False
    rate_target: float | None = None  # the open loop's arrival rate

    def met(self) -> bool:
        """Open loop: every request answered 2xx, on rate, p99 under the target."""
        assert self.rate_target is not None
        on_rate = self.rate >= 0.98 * self.rate_target
        return self.errors == 0 and on_rate and self.ms(99) < TARGET_P99_MS

    def verdict(self) -> str:
        met = "yes" if self.met() else "NO"
        return (
            f"{self.name}: p99 {self.ms(99):.1f} ms, {self.rate:.1f} 2xx/s, {self.errors} errors "
            f"-> p99 < {TARGET_P99_MS:g} ms with 0 errors, on rate: {met}"
        )

    def summary(self) -> str:
        errors = f" ({self.error_kinds()})" if self.errors else ""
        client = self.client_cpu_ms_per_request()
        cpu = f", CPU/req server {self.cpu_ms_per_request():.2f} ms" if self.server_cpu_s else ""
        cpu += f", client {client:.2f} ms" if client is not None else ""
        return (
            f"{self.name}: {len(self.samples)} requests, {self.rate:.1f} 2xx/s, p50 {self.ms(50):.1f} ms, "
            f"p99 {self.ms(99):.1f} ms, {self.errors} errors{errors}{cpu}"
        )

    @property
    def errors(self) -> int:
        return sum(1 for s in self.samples if not 200 <= s.status < 300)

    def error_kinds(self) -> str:
        """E.g. ``no answer 120, 500 ×3``: what the failures were."""
        kinds = Counter(s.status for s in self.samples if not 200 <= s.status < 300)
        return ", ".join(f"{'no answer' if k == 0 else k} ×{n}" for k, n in sorted(kinds.items()))

    @property
    def rate(self) -> float:
        ok = len(self.samples) - self.errors
        return ok / self.elapsed_s if self.elapsed_s else 0.0

    def ms(self, q: float) -> float:
        return percentile([s.latency_s for s in self.samples], q) * 1000

    def lag_ms(self, q: float) -> float:
        return percentile([s.lag_s for s in self.samples], q) * 1000

    def cpu_ms_per_request(self) -> float:
        return self.server_cpu_s * 1000 / len(self.samples) if self.samples else 0.0

    @property
    def answered(self) -> int:
        """Requests that got an HTTP answer, whatever its status (0 is no answer)."""
        return sum(1 for s in self.samples if s.status)

    def client_cpu_ms_per_request(self) -> float | None:
        """The load generator's CPU ms per answered request; None where not measured or none answered."""
        if self.client_cpu_s is None or not self.answered:
            return None
        return self.client_cpu_s * 1000 / self.answered


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); max for 100."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass
class Load:
    """The client side: one keep-alive connection pool, a token per reporting user, the give-up rules."""

    session: aiohttp.ClientSession
    tokens: dict[str, dict[str, str]]
    timeout_s: float
    max_errors: int
    connections: int

    async def post(self, request: Request) -> int:
        """The response status, or 0 when there was no answer (connection error, time-out, broken body).

        The body is read whole, so the connection goes back to the pool for the next request."""
        try:
            async with self.session.post(
                "/api/v1/events",
                data=request.content,
                headers=self.tokens[request.user],
                allow_redirects=False,
            ) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return 0


def client_session(base_url: str, connections: int, timeout_s: float) -> aiohttp.ClientSession:
    """One keep-alive pool of ``connections`` to the server. ``timeout_s`` bounds, each on its own, the
    wait for a connection (pool slot and TCP connect) and every wait for data from the server; timers
    are exact (aiohttp otherwise rounds time-outs over 5 s up to the next whole second). No cookies:
    requests carry their user's bearer token."""
    timeout = aiohttp.ClientTimeout(
        connect=timeout_s, sock_connect=timeout_s, sock_read=timeout_s, ceil_threshold=math.inf
    )
    connector = aiohttp.TCPConnector(limit=connections, timeout_ceil_threshold=math.inf)
    return aiohttp.ClientSession(
        base_url=base_url, connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
    )


def own_cpu_seconds() -> float:
    """User + system CPU time of this process (the load generator) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def open_loop(load: Load, requests: Sequence[Request], rate: float) -> Phase:
    """Send on a fixed schedule whatever happens to earlier requests; latency counts from the schedule.

    Requests beyond ``load.connections`` in flight wait for a connection here (a FIFO semaphore; the
    wait is part of their latency), never inside the client's pool, so the pool always has a
    connection for a request that got past the semaphore and its connect time-out never counts a wait
    for one. Whatever is unanswered ``timeout_s + 5`` s after the last scheduled send counts as an error.
    """
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.1
    slots = asyncio.Semaphore(load.connections)

    async def one(request: Request, scheduled: float) -> Sample:
        async with slots:
            lag = loop.time() - scheduled
            status = await load.post(request)
        return Sample(loop.time() - scheduled, status, lag)

    tasks: list[asyncio.Task[Sample]] = []
    for i, request in enumerate(requests):
        scheduled = start + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(request, scheduled)))
    await asyncio.wait(tasks, timeout=load.timeout_s + 5)
    end = loop.time()
    samples = [_outcome(task, end - (start + i / rate)) for i, task in enumerate(tasks)]
    await asyncio.gather(*tasks, return_exceptions=True)  # let the cancelled ones finish
    phase = Phase(f"open loop {rate:g}/s", samples, end - start, rate_target=rate)
    phase.stopped_early = any(task.cancelled() for task in tasks)
    return phase


def _outcome(task: asyncio.Task[Sample], waited_s: float) -> Sample:
    if task.done():
        return task.result()
    task.cancel()
    return Sample(waited_s, 0)


async def closed_loop(
    load: Load, requests: Sequence[Request], concurrency: int, max_seconds: float = 300.0
) -> Phase:
    """``concurrency`` workers, each sending its next request as soon as the last one is answered.

    Ends after ``max_seconds`` even if requests are left, and gives up (``stopped_early``) after
    ``load.max_errors`` failures: a stuck server must not keep the benchmark running.
    """
    loop = asyncio.get_running_loop()
    queue = iter(requests)
    samples: list[Sample] = []
    start = loop.time()
    errors = 0

    async def worker() -> None:
        nonlocal errors
        for request in queue:
            if errors >= load.max_errors or loop.time() - start > max_seconds:
                return
            sent = loop.time()
            status = await load.post(request)
            samples.append(Sample(loop.time() - sent, status))
            errors += not 200 <= status < 300

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    phase = Phase(f"closed loop, {concurrency} in flight", samples, loop.time() - start)
    phase.stopped_early = errors >= load.max_errors
    return phase


@dataclass(frozen=True)
class Plan:
    """One measured phase: an open loop at ``rate`` or a closed loop with ``concurrency`` in flight."""

    requests: Sequence[Request]
    rate: float | None = None
    concurrency: int | None = None


async def drive(server: Server, args: argparse.Namespace, warm: Sequence[Request], plan: Plan) -> Phase:
    """Log in, warm up (errors there stop the benchmark), then run the phase.

    The CPU both sides spend over the phase is measured; the client's excludes reading the server's
    from /proc."""
    tokens = {user: login(server.base_url, user) for _, user in CHANNELS}
    async with client_session(server.base_url, args.max_connections, args.timeout) as session:
        load = Load(session, tokens, args.timeout, args.max_errors, args.max_connections)
        warmup = await closed_loop(load, warm, 4)
        if warmup.errors:
            raise RuntimeError(f"{warmup.errors} warm-up requests failed; see {server.log}")
        server_cpu = server.cpu_seconds()
        client_cpu = own_cpu_seconds()
        if plan.rate is not None:
            phase = await open_loop(load, plan.requests, plan.rate)
        else:
            assert plan.concurrency is not None
            phase = await closed_loop(load, plan.requests, plan.concurrency, args.closed_seconds)
        phase.client_cpu_s = own_cpu_seconds() - client_cpu
        phase.server_cpu_s = server.cpu_seconds() - server_cpu
        return phase


def raw_inserts(url: str, count: int) -> Phase:
    """The practical limit: single-row event INSERTs, one transaction each, plain SQLAlchemy Core."""
    engine: Engine = make_engine(url)
    stmt = insert(Event)
    samples = []
    start = time.perf_counter()
    try:
        for i in range(count):
            row = _raw_row(i)
            began = time.perf_counter()
            with engine.begin() as connection:
                connection.execute(stmt, row)
            samples.append(Sample(time.perf_counter() - began, 200))
    finally:
        engine.dispose()
    return Phase("raw Core INSERT, 1 txn each", samples, time.perf_counter() - start)


def _raw_row(i: int) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "number": f"RAW-{i:09d}",
        "title": "路面塌陷（公交站附近）",
        "description": "市民来电反映公交站附近路面出现塌陷坑，直径约一米，车辆经过非常危险，请尽快处理。",
        "channel": "hotline_12345",
        "status": "received",
        "urgency": "normal",
        "lon": 120.305,
        "lat": 36.005,
        "created_at": now,
        "updated_at": now,
        "deadline_state": "normal",
    }


# ---------------------------------------------------------------- one backend


@dataclass
class Result:
    backend: str
    phases: list[Phase]
    target_rate: float
    workers: int | None = None

    @property
    def label(self) -> str:
        processes = f", {self.workers} API proc." if self.workers else ""
        return LABELS[self.backend] + processes

    def verdict(self, phase: Phase) -> str:
        if phase.rate_target != self.target_rate:
            return f"p99 < {TARGET_P99_MS:g} ms: {'yes' if phase.met() else 'no'}"
        return "met" if phase.met() else "**not met**"


def plans(args: argparse.Namespace) -> tuple[list[Request], list[Plan]]:
    """Warm-up bodies and the phases: the closed loop first, then the open loop at each rate, rising."""
    counts = [args.closed_requests] + [int(rate * args.seconds) for rate in args.rate]
    bodies = make_requests(args.warmup + sum(counts), seed=args.seed)
    warm, rest = bodies[: args.warmup], bodies[args.warmup :]
    out = [Plan(rest[: counts[0]], concurrency=args.concurrency)]
    offset = counts[0]
    for rate, count in zip(sorted(args.rate), counts[1:], strict=True):
        out.append(Plan(rest[offset : offset + count], rate=rate))
        offset += count
    return warm, out


def run_backend(backend: str, args: argparse.Namespace) -> Result:
    """Each phase on a freshly started server (same database), so a collapse cannot leak into the next."""
    pg = PgServer(args.pg_host, args.pg_port, args.pg_user)
    warm, phase_plans = plans(args)
    phases = []
    with tempfile.TemporaryDirectory(prefix=f"cityhub-bench-{backend}-") as tmp:
        workdir = Path(tmp)
        with fresh_database(backend, pg, workdir) as url:
            seed_city(url)
            if args.idle_seconds:
                with running_server(url, workdir, args.app, args.workers, args.bus_url) as server:
                    print(f"[{backend}] {idle_cpu(server, args.idle_seconds)}", flush=True)
            if args.floor:
                with running_server(url, workdir, args.app, args.workers, args.bus_url) as server:
                    for line in asyncio.run(floor(server, args.floor, args.concurrency)):
                        print(f"[{backend}] {line}", flush=True)
            for plan in phase_plans:
                with running_server(url, workdir, args.app, args.workers, args.bus_url) as server:
                    phases.append(asyncio.run(drive(server, args, warm, plan)))
                print(f"[{backend}] {phases[-1].summary()}", flush=True)
            raw_count = args.raw_inserts or int(args.target_rate * args.seconds)
            phases.append(raw_inserts(url, raw_count))
    return Result(backend, phases, args.target_rate, args.workers)


def idle_cpu(server: Server, seconds: float) -> str:
    """What the server spends with no request at all (its scheduler's jobs, the sensing tick), after a
    few seconds to settle: spread over the requests of a phase, it is part of their CPU per request."""
    time.sleep(5)
    before, started = server.cpu_seconds(), time.perf_counter()
    time.sleep(seconds)
    per_second = (server.cpu_seconds() - before) / (time.perf_counter() - started)
    return f"idle: server CPU {per_second * 1000:.1f} ms per second over {seconds:g} s"


async def floor(server: Server, count: int, concurrency: int) -> list[str]:
    """What any request costs the server, below which no creation can go: the public health check (one
    worker-thread hop, ``SELECT 1``) and the authenticated ``/auth/me`` (the principal's read, three hops),
    each ``count`` times in a closed loop, after as many to warm up."""
    headers = login(server.base_url, CHANNELS[0][1])
    out = []
    async with client_session(server.base_url, concurrency, 10.0) as session:

        async def loop(path: str, auth: dict[str, str]) -> float:
            todo = iter(range(count))

            async def worker() -> None:
                for _ in todo:
                    async with session.get(path, headers=auth) as response:
                        await response.read()
                        if response.status != 200:
                            raise RuntimeError(f"GET {path} answered {response.status}")

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return count / (time.perf_counter() - started)

        for path, auth in (("/healthz", {}), ("/api/v1/auth/me", headers)):
            await loop(path, auth)
            before = server.cpu_seconds()
            rate = await loop(path, auth)
            cpu_ms = (server.cpu_seconds() - before) * 1000 / count
            out.append(f"floor GET {path}: {rate:.0f}/s, server CPU {cpu_ms:.2f} ms per request")
    return out


# ---------------------------------------------------------------- output

LABELS = {"sqlite": "SQLite (WAL)", "postgresql": "PostgreSQL 15"}


def print_table(results: Sequence[Result]) -> None:
    header = (
        f"{'backend':<28} {'load':<30} {'n':>6} {'ok/s':>7} {'p50':>7} {'p95':>7} {'p99':>7} "
        f"{'max':>7} {'err':>5} {'srv/req':>8} {'cli/req':>8} {'lag p99':>8}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        for phase in result.phases:
            lag = f"{phase.lag_ms(99):8.1f}" if phase.rate_target else "       -"
            cpu = f"{phase.cpu_ms_per_request():8.2f}" if phase.server_cpu_s else "       -"
            client = phase.client_cpu_ms_per_request()
            client_cpu = f"{client:8.2f}" if client is not None else "       -"
            name = phase.name + (" (stopped)" if phase.stopped_early else "")
            print(
                f"{result.label:<28} {name:<30} {len(phase.samples):>6} {phase.rate:>7.1f} "
                f"{phase.ms(50):>7.2f} {phase.ms(95):>7.2f} {phase.ms(99):>7.2f} {phase.ms(100):>7.0f} "
                f"{phase.errors:>5} {cpu} {client_cpu} {lag}"
            )
    print(
        "(ms; ok/s = 2xx answers per second; err = non-2xx or no answer; srv/req = server process CPU ms "
        "per request; cli/req = this client's CPU ms per answered request; lag = how late the request "
        "went out, waiting for a connection included)"
    )
    for result in results:
        label = result.label
        for phase in result.phases:
            if phase.rate_target:
                target = result.verdict(phase).strip("*").upper()
                headline = f"  <- TARGET {target}" if phase.rate_target == result.target_rate else ""
                print(f"{label}: {phase.verdict()}{headline}")
        closed = next(p for p in result.phases if p.name.startswith("closed"))
        raw = result.phases[-1]
        print(
            f"{label}: creation over HTTP {closed.ms(50):.2f} ms (p50, {closed.rate:.0f}/s at "
            f"{closed.name.split(', ')[1]}) vs raw single-row INSERT {raw.ms(50):.2f} ms "
            f"({raw.rate:.0f}/s, one connection)"
        )


def print_markdown(results: Sequence[Result]) -> None:
    print(
        "| Backend | Load | Requests | 2xx/s | p50 | p95 | p99 | max | Errors | Server CPU/req "
        "| Client CPU/req | Target: p99 < 50 ms at 200/s |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for result in results:
        for phase in result.phases:
            target = result.verdict(phase) if phase.rate_target else ""
            cpu = f"{phase.cpu_ms_per_request():.1f} ms" if phase.server_cpu_s else "–"
            client = phase.client_cpu_ms_per_request()
            client_cpu = f"{client:.2f} ms" if client is not None else "–"
            name = phase.name + (" (stopped early)" if phase.stopped_early else "")
            errors = f"{phase.errors} ({phase.error_kinds()})" if phase.errors else "0"
            print(
                f"| {result.label} | {name} | {len(phase.samples)} | {phase.rate:.1f} "
                f"| {phase.ms(50):.1f} ms | {phase.ms(95):.1f} ms | {phase.ms(99):.1f} ms "
                f"| {phase.ms(100):.0f} ms | {errors} | {cpu} | {client_cpu} | {target} |"
            )


# ---------------------------------------------------------------- entry point


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    parser.add_argument(
        "--rate",
        type=float,
        nargs="*",
        default=[200.0],
        help="open-loop arrival rate(s), requests/s; none (`--rate` alone) for the closed loop only",
    )
    parser.add_argument(
        "--target-rate", type=float, default=200.0, help="the rate the target is judged at; sizes the raw run"
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="duration of each open loop")
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop requests in flight")
    parser.add_argument("--closed-requests", type=int, default=3000, help="closed-loop request count")
    parser.add_argument("--closed-seconds", type=float, default=20.0, help="closed loop: stop after this")
    parser.add_argument("--warmup", type=int, default=300, help="warm-up requests (not counted)")
    parser.add_argument("--raw-inserts", type=int, default=0, help="default: target rate × seconds")
    parser.add_argument("--max-connections", type=int, default=256, help="client connection pool")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request time-out, s")
    parser.add_argument("--max-errors", type=int, default=100, help="closed loop: stop after this many")
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument(
        "--idle-seconds", type=float, default=0.0, help="first measure the server's CPU with no requests"
    )
    parser.add_argument(
        "--floor",
        type=int,
        default=0,
        help="first time N GETs of /healthz and of /auth/me (what any request costs)",
    )
    parser.add_argument(
        "--app",
        default=DEFAULT_APP,
        help="the app factory uvicorn serves (module:function); to measure a candidate change",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="serve with `cityhub serve --workers N` (N API processes + the worker; needs NATS)",
    )
    parser.add_argument("--bus-url", default="nats://127.0.0.1:4222", help="NATS, with --workers")
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--pg-user", default="postgres")
    parser.add_argument("--markdown", action="store_true", help="also print the rows for docs/benchmarks.md")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    backends = BACKENDS if args.backend == "both" else (args.backend,)
    print(f"event creation over HTTP — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {_load()}")
    results = []
    for backend in backends:
        print(
            f"[{backend}] seeding; each phase: start the server, {args.warmup} warm-up requests", flush=True
        )
        results.append(run_backend(backend, args))
    print(f"\nload average at the end {_load()}")
    print_table(results)
    if args.markdown:
        print()
        print_markdown(results)
    errors = sum(phase.errors for result in results for phase in result.phases)
    return 1 if errors else 0


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
