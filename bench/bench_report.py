"""The evaluation report (考核) over a million events, on SQLite and PostgreSQL.

A fresh, migrated database gets a city of 10 districts, 30 departments and 60 categories, then
``--events`` events with one lead assignment each, written with Core ``insert()`` executemany
batches: a year of reports with realistic spreads of statuses, deadlines met and missed, returns
and ratings. The triggers mark every day dirty; the rollup job (``evaluation.refresh``, which the
scheduler runs every minute in service) then rolls them up, timed. ``evaluation.report(session,
principal, group_by, since, until)`` is timed once to warm up and ``--repeat`` times, for each
principal, period and grouping; the median and the maximum are reported. Principals: ``system``
(an administrator: the rollup), ``district`` (a district dispatcher: the rollup filtered by district),
``handler`` (a department handler: the live query, which the rollup cannot express). Periods: ``all``
(no bounds) and ``q3`` (July–September in Asia/Shanghai: partial UTC days at both edges, read live).

    python bench/bench_report.py                        # both backends, 1 M events
    python bench/bench_report.py --backend sqlite --events 200000 --explain --markdown
    python bench/bench_report.py --principal system district handler --period all q3
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shapely.geometry import box
from sqlalchemy import Connection, Engine, event, func, insert, select, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench.bench_events: databases, percentiles

from bench.bench_events import BACKENDS, PgServer, fresh_database
from cityhub.access.principal import SYSTEM, Principal
from cityhub.events import categories, evaluation
from cityhub.events.evaluation import GroupBy
from cityhub.geo import service as geo
from cityhub.geo.generate import AreaRecord
from cityhub.kit.db import make_engine
from cityhub.models.area import Area, AreaLevel
from cityhub.models.category import Category
from cityhub.models.event import Event, EventAssignment
from cityhub.models.org import DepartmentKind, Role
from cityhub.org import service as org

TARGET_S = 2.0
END = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)  # the year of events ends here
PERIODS: dict[str, tuple[datetime | None, datetime | None]] = {
    "all": (None, None),
    "q3": (datetime(2026, 6, 30, 16, tzinfo=UTC), datetime(2026, 9, 30, 16, tzinfo=UTC)),  # Shanghai time
}

# ---------------------------------------------------------------- the city

DISTRICTS = [  # code, name, share of the events (population-weighted)
    ("370202", "市南区", 9),
    ("370203", "市北区", 14),
    ("370211", "黄岛区", 16),
    ("370212", "崂山区", 7),
    ("370213", "李沧区", 9),
    ("370214", "城阳区", 11),
    ("370215", "即墨区", 10),
    ("370281", "胶州市", 9),
    ("370283", "平度市", 8),
    ("370285", "莱西市", 7),
]
BUREAUS = [
    "市政公用局",
    "园林和林业局",
    "生态环境局",
    "交通运输局",
    "公安局交通警察支队",
    "住房和城乡建设局",
    "应急管理局",
    "消防救援支队",
    "市场监督管理局",
    "水务管理局",
    "城市管理局",
    "民政局",
]
ENTERPRISES = [
    "海水集团",
    "华润燃气",
    "国网青岛供电公司",
    "能源热电集团",
    "公交集团",
    "地铁集团",
    "联通分公司",
    "邮政分公司",
]
DISTRICT = "district"  # handled by the event's district 城市管理局
# level 1/level 2, its five level-3 categories, and who handles them.
TAXONOMY = [
    ("城乡建设/市政设施", "道路破损 井盖缺失 路灯不亮 护栏损坏 桥梁隐患", "市政公用局 district"),
    ("城乡建设/园林绿化", "树木倒伏 绿地破坏 公园设施损坏 行道树修剪 草坪枯死", "园林和林业局"),
    ("环境保护/噪声污染", "施工噪声 社会生活噪声 交通噪声 工业噪声 商业经营噪声", "生态环境局 district"),
    ("环境保护/大气污染", "露天焚烧 油烟扰民 扬尘污染 工业废气 异味扰民", "生态环境局"),
    ("市容环卫/环境卫生", "垃圾清运不及时 道路保洁 公厕管理 垃圾分类 建筑垃圾倾倒", "district"),
    ("市容环卫/市容秩序", "占道经营 违规广告 乱堆乱放 违章搭建 乱贴乱画", "district 城市管理局"),
    (
        "交通运输/道路交通",
        "信号灯故障 违章停车 交通标志缺失 道路拥堵 非机动车乱停",
        "公安局交通警察支队 交通运输局",
    ),
    (
        "交通运输/公共交通",
        "公交线路调整 公交站亭损坏 出租车拒载 公交服务态度 地铁施工影响",
        "公交集团 地铁集团 交通运输局",
    ),
    ("公用事业/供水", "停水 水管爆裂 水质问题 水压不足 水表故障", "海水集团 水务管理局"),
    (
        "公用事业/供电供气",
        "停电 燃气泄漏 供暖不热 电线私拉 燃气表故障",
        "国网青岛供电公司 华润燃气 能源热电集团",
    ),
    (
        "社会治理/安全生产",
        "安全隐患 消防通道堵塞 危险品存放 电动车楼道充电 高空坠物隐患",
        "应急管理局 消防救援支队",
    ),
    (
        "社会治理/社区事务",
        "物业纠纷 邻里纠纷 宠物扰民 群租房 老旧小区改造",
        "住房和城乡建设局 民政局 市场监督管理局 联通分公司 邮政分公司",
    ),
]


@dataclass
class City:
    """Ids of what the events refer to."""

    districts: list[tuple[int, int]]  # (district id, street id)
    district_weights: list[int]
    categories: list[tuple[int, list[str]]]  # (leaf category id, its handlers: names or DISTRICT)
    bureaus: dict[str, int]
    district_bureaus: list[int]  # by district index


def seed_city(engine: Engine) -> City:
    with Session(engine) as session, session.begin():
        districts = _areas(session)
        bureaus = {
            name: _department(session, f"b{i:02d}", name, DepartmentKind.BUREAU)
            for i, name in enumerate(BUREAUS)
        }
        bureaus |= {
            name: _department(session, f"e{i:02d}", name, DepartmentKind.ENTERPRISE)
            for i, name in enumerate(ENTERPRISES)
        }
        district_bureaus = [
            _department(session, f"d{code}", f"{name}城市管理局", DepartmentKind.DISTRICT_BUREAU, area_id)
            for (code, name, _), (area_id, _) in zip(DISTRICTS, districts, strict=True)
        ]
        rows = [[*group.split("/"), leaf] for group, leaves, _ in TAXONOMY for leaf in leaves.split()]
        categories.import_rows(session, rows)
        paths = {c.path: c.id for c in session.scalars(select(Category).where(Category.level == 3))}
        leaves = [
            (paths[f"{group}/{leaf}"], who.split())
            for group, names, who in TAXONOMY
            for leaf in names.split()
        ]
        return City(districts, [w for _, _, w in DISTRICTS], leaves, bureaus, district_bureaus)


def _areas(session: Session) -> list[tuple[int, int]]:
    records = [AreaRecord("370200", "青岛市", "city", None, box(119.5, 35.5, 121.0, 37.0), (120.38, 36.07))]
    for i, (code, name, _) in enumerate(DISTRICTS):
        x = 119.5 + 0.15 * i
        cell = box(x, 35.5, x + 0.15, 37.0)
        records.append(AreaRecord(code, name, "district", "370200", cell, (x + 0.07, 36.2)))
        records.append(AreaRecord(f"{code}001", f"{name}中心街道", "street", code, cell, (x + 0.07, 36.2)))
    geo.import_records(session, records)
    ids = {a.code: a.id for a in session.scalars(select(Area))}
    return [(ids[code], ids[f"{code}001"]) for code, _, _ in DISTRICTS]


def _department(
    session: Session, code: str, name: str, kind: DepartmentKind, area_id: int | None = None
) -> int:
    return org.create_department(session, code=code, name=name, kind=kind, area_id=area_id).id


# ---------------------------------------------------------------- a year of events

STATUS_WEIGHTS = {  # event status → (share, assignment status)
    "closed": (62, "resolved"),
    "resolved": (9, "resolved"),
    "in_progress": (7, "in_progress"),
    "accepted": (4, "accepted"),
    "dispatched": (5, "pending"),
    "returned": (4, "returned"),
    "suspended": (1, "accepted"),
    "cancelled": (2, "withdrawn"),
    "merged": (6, "withdrawn"),
}
CHANNELS = ["hotline_12345"] * 6 + ["app"] * 2 + ["grid"] * 2 + ["open311", "sensor"]
PHRASES = [
    "市民来电反映{what}，已持续多日，影响周边居民正常生活，希望相关部门尽快到现场核实处理并回复。",
    "网格员巡查发现{what}，现场已拍照取证，存在一定安全隐患，请责任单位按时限处置。",
    "群众通过APP上报{what}，位置在小区南门附近，附近有学校，请尽快处理。",
    "热线再次反映{what}，此前已多次投诉未解决，诉求人情绪较大，要求上门回复。",
]


@dataclass
class Generator:
    """Rows of events and their lead assignments, drawn reproducibly from ``seed``."""

    city: City
    seed: int
    names: dict[int, str] = field(default_factory=dict)

    def batches(self, total: int, size: int) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
        rng = random.Random(self.seed)
        statuses = list(STATUS_WEIGHTS)
        weights = [share for share, _ in STATUS_WEIGHTS.values()]
        for start in range(0, total, size):
            events, assignments = [], []
            for event_id in range(start + 1, min(total, start + size) + 1):
                status = rng.choices(statuses, weights)[0]
                e, a = self._one(rng, event_id, status)
                events.append(e)
                assignments.append(a)
            yield events, assignments

    def _one(self, rng: random.Random, event_id: int, status: str) -> tuple[dict[str, Any], dict[str, Any]]:
        city = self.city
        d = rng.choices(range(len(city.districts)), city.district_weights)[0]
        district_id, street_id = city.districts[d]
        located = rng.random() > 0.02
        category_id, handlers = rng.choice(city.categories)
        who = rng.choice(handlers)
        department_id = city.district_bureaus[d] if who == DISTRICT else city.bureaus[who]
        urgent = rng.random() < 0.12
        created = END - timedelta(seconds=rng.uniform(0, 365 * 86400))
        assigned = created + timedelta(seconds=rng.expovariate(1 / 600))
        sign_deadline = assigned + timedelta(hours=0.5 if urgent else 2)
        resolve_deadline = assigned + timedelta(days=1 if urgent else 5)
        assignment_status = STATUS_WEIGHTS[status][1]
        accepted = resolved = None
        if assignment_status in ("accepted", "in_progress", "resolved") or status == "merged":
            accepted = assigned + timedelta(minutes=rng.expovariate(1 / (20 if rng.random() < 0.9 else 200)))
        if assignment_status == "resolved":
            assert accepted is not None
            mean_days = 1.6 if rng.random() < 0.8 else 7.0
            resolved = accepted + timedelta(days=rng.expovariate(1 / mean_days))
        rating = rng.choices([5, 4, 3, 2, 1], [55, 25, 10, 5, 5])[0] if status == "closed" else None
        channel = rng.choice(CHANNELS)
        what = self.names[category_id]
        event = {
            "id": event_id,
            "number": f"{created:%Y%m%d}-{event_id:07d}",
            "title": f"{what}（{rng.choice(['小区门口', '主干道', '菜市场旁', '学校附近', '公交站'])}）",
            "description": rng.choice(PHRASES).format(what=what),
            "channel": channel,
            "category_id": category_id,
            "status": status,
            "urgency": "urgent" if urgent else "normal",
            "lon": None,
            "lat": None,
            "address": f"{DISTRICTS[d][1]}中心街道{rng.randrange(1, 300)}号",
            "district_id": district_id if located else None,
            "street_id": street_id if located else None,
            "location_resolved": located,
            "reporter_name": "张先生" if channel == "hotline_12345" else None,
            "reporter_phone": f"138{rng.randrange(10**8):08d}" if channel == "hotline_12345" else None,
            "anonymous": False,
            "lead_department_id": None if status == "returned" else department_id,
            "suggested_category_id": category_id,
            "suggested_department_id": department_id,
            "suggestion_confidence": 1.0,
            "suggestion": {"model_version": "routing-table", "confidence": 1.0, "reason": "routing rule"},
            "model_version": "routing-table",
            "needs_review": status == "returned",
            "created_at": created,
            "updated_at": resolved or accepted or assigned,
            "dispatched_at": assigned,
            "accepted_at": accepted,
            "resolved_at": resolved,
            "closed_at": resolved + timedelta(days=1) if resolved and status == "closed" else None,
            "sign_deadline": sign_deadline,
            "resolve_deadline": resolve_deadline,
            "deadline_state": "overdue" if resolved and resolved > resolve_deadline else "normal",
            "return_count": 1 if status == "returned" else 0,
            "rating": rating,
            "resolution": "已到现场处置完毕" if resolved else None,
        }
        assignment = {
            "id": event_id,
            "event_id": event_id,
            "department_id": department_id,
            "role": "lead",
            "status": assignment_status,
            "assigned_at": assigned,
            "accepted_at": accepted,
            "resolved_at": resolved,
            "sign_deadline": sign_deadline,
            "resolve_deadline": resolve_deadline,
            "note": "不属于本单位职责" if status == "returned" else None,
        }
        return event, assignment


def load_events(engine: Engine, city: City, total: int, batch: int, seed: int) -> float:
    """Insert ``total`` events and assignments in executemany batches; seconds taken."""
    with Session(engine) as session:
        names = {row.id: row.name for row in session.execute(select(Category.id, Category.name))}
    generator = Generator(city, seed, names)
    started = time.perf_counter()
    for events, assignments in generator.batches(total, batch):
        with engine.begin() as connection:
            connection.execute(insert(Event), events)
            connection.execute(insert(EventAssignment), assignments)
        done = events[-1]["id"]
        if done % (batch * 10) == 0 or done == total:
            rate = done / (time.perf_counter() - started)
            print(f"  {done:>9,} events ({rate:,.0f}/s)", flush=True)
    _after_load(engine)
    return time.perf_counter() - started


def _after_load(engine: Engine) -> None:
    """Make the database what it would be in service: sequences past the ids, statistics gathered."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            for table in ("events", "event_assignments"):
                connection.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}")
                )
        # Autovacuum would get there within minutes of a bulk load; do it now so the run is repeatable.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE events"))
            connection.execute(text("VACUUM ANALYZE event_assignments"))


# ---------------------------------------------------------------- timing


def principals(city: City) -> dict[str, Principal]:
    """Who asks: an administrator, the dispatcher of the busiest district, the 市政公用局's handler."""
    busiest = city.district_weights.index(max(city.district_weights))
    return {
        "system": SYSTEM,
        "district": Principal(
            None,
            "district dispatcher",
            Role.DISPATCHER,
            area_id=city.districts[busiest][0],
            area_level=AreaLevel.DISTRICT,
        ),
        "handler": Principal(None, "handler", Role.HANDLER, department_id=city.bureaus["市政公用局"]),
    }


def refresh_rollup(engine: Engine) -> float:
    """What the scheduler's rollup job does after the load: every day is dirty; seconds taken."""
    started = time.perf_counter()
    while True:  # the job recomputes a month of days per run
        with Session(engine) as session, session.begin():
            if not evaluation.refresh(session):
                break
    return time.perf_counter() - started


@dataclass
class Timing:
    group_by: GroupBy
    seconds: list[float]
    groups: int
    who: str = "system"
    period: str = "all"

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def worst(self) -> float:
        return max(self.seconds)


def time_report(
    engine: Engine,
    group_by: GroupBy,
    repeat: int,
    who: str = "system",
    principal: Principal = SYSTEM,
    period: str = "all",
) -> Timing:
    since, until = PERIODS[period]

    def once() -> tuple[float, int]:
        with Session(engine) as session:
            started = time.perf_counter()
            rows = evaluation.report(session, principal, group_by, since, until)
            return time.perf_counter() - started, len(rows)

    once()  # warm-up: caches, statement compilation
    runs = [once() for _ in range(repeat)]
    return Timing(group_by, [s for s, _ in runs], runs[0][1], who, period)


def report_sql(engine: Engine, group_by: GroupBy) -> tuple[str, Any]:
    """The aggregate statement ``evaluation.report`` sends, with its parameters."""
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Connection, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "GROUP BY" in statement:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with Session(engine) as session:
            evaluation.report(session, SYSTEM, group_by)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return captured[0]


def explain(engine: Engine, group_by: GroupBy) -> str:
    statement, parameters = report_sql(engine, group_by)
    sqlite = engine.dialect.name == "sqlite"
    prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, BUFFERS) "
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(prefix + statement, parameters).all()
    if sqlite:
        return "\n".join(f"  {'  ' * (r[1] != 0)}{r[3]}" for r in rows)
    return "\n".join(f"  {r[0]}" for r in rows)


# ---------------------------------------------------------------- one backend


@dataclass
class Result:
    backend: str
    events: int
    load_s: float
    size_mb: float
    timings: list[Timing]
    refresh_s: float = 0.0
    plans: dict[GroupBy, str] = field(default_factory=dict)


def run_backend(backend: str, args: argparse.Namespace) -> Result:
    pg = PgServer(args.pg_host, args.pg_port, args.pg_user)
    with (
        tempfile.TemporaryDirectory(prefix=f"cityhub-report-{backend}-") as tmp,
        fresh_database(backend, pg, Path(tmp)) as url,
    ):
        engine = make_engine(url)
        try:
            city = seed_city(engine)
            print(f"[{backend}] loading {args.events:,} events…", flush=True)
            load_s = load_events(engine, city, args.events, args.batch, args.seed)
            _check(engine, args.events)
            print(f"[{backend}] rolling up…", flush=True)
            refresh_s = refresh_rollup(engine)
            groupings = [GroupBy(g) for g in args.group_by]
            who = principals(city)
            timings = [
                time_report(engine, g, args.repeat, name, who[name], period)
                for name in args.principal
                for period in args.period
                for g in groupings
            ]
            plans = {g: explain(engine, g) for g in groupings} if args.explain else {}
            return Result(backend, args.events, load_s, _size_mb(engine), timings, refresh_s, plans)
        finally:
            engine.dispose()


def _check(engine: Engine, total: int) -> None:
    with Session(engine) as session:
        count = session.scalar(select(func.count()).select_from(Event))
    if count != total:
        raise RuntimeError(f"expected {total} events, found {count}")


def _size_mb(engine: Engine) -> float:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
            size = connection.exec_driver_sql("PRAGMA page_size").scalar_one()
            return float(pages * size) / 1e6
        return (
            float(connection.execute(text("SELECT pg_database_size(current_database())")).scalar_one()) / 1e6
        )


# ---------------------------------------------------------------- output

LABELS = {"sqlite": "SQLite (WAL)", "postgresql": "PostgreSQL 15"}


def print_table(results: Sequence[Result]) -> None:
    print(
        f"{'backend':<14} {'events':>9} {'principal':<9} {'period':<6} {'group by':<11} {'groups':>6} "
        f"{'median s':>9} {'max s':>7}  target"
    )
    for result in results:
        for t in result.timings:
            verdict = "met" if t.worst < TARGET_S else "NOT MET"
            print(
                f"{LABELS[result.backend]:<14} {result.events:>9,} {t.who:<9} {t.period:<6} "
                f"{t.group_by.value:<11} {t.groups:>6} {t.median:>9.3f} {t.worst:>7.3f}  "
                f"< {TARGET_S:g} s: {verdict}"
            )
    for result in results:
        print(
            f"{LABELS[result.backend]}: loaded {result.events:,} events + assignments "
            f"in {result.load_s:.0f} s ({result.events / result.load_s:,.0f}/s); "
            f"rolled up in {result.refresh_s:.1f} s; database {result.size_mb:,.0f} MB"
        )
        for group_by, plan in result.plans.items():
            print(f"{LABELS[result.backend]} plan, group by {group_by.value}:\n{plan}")


def print_markdown(results: Sequence[Result], repeat: int) -> None:
    print(
        f"| Backend | Events | Principal | Period | Group by | Groups | Median ({repeat} runs) | Max "
        f"| Target < {TARGET_S:g} s |"
    )
    print("|---|---:|---|---|---|---:|---:|---:|---|")
    for result in results:
        for t in result.timings:
            verdict = "met" if t.worst < TARGET_S else "**not met**"
            print(
                f"| {LABELS[result.backend]} | {result.events:,} | {t.who} | {t.period} | {t.group_by.value} "
                f"| {t.groups} | {t.median:.3f} s | {t.worst:.3f} s | {verdict} |"
            )


# ---------------------------------------------------------------- entry point


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=20_000, help="rows per executemany")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs after one warm-up")
    parser.add_argument(
        "--group-by",
        nargs="+",
        default=["department", "district", "category"],
        choices=[g.value for g in GroupBy],
    )
    parser.add_argument(
        "--principal", nargs="+", default=["system"], choices=["system", "district", "handler"]
    )
    parser.add_argument("--period", nargs="+", default=["all"], choices=list(PERIODS))
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--pg-user", default="postgres")
    parser.add_argument("--markdown", action="store_true", help="also print the rows for docs/benchmarks.md")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    backends = BACKENDS if args.backend == "both" else (args.backend,)
    print(f"evaluation report — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {_load()}")
    results = [run_backend(backend, args) for backend in backends]
    print(f"\nload average at the end {_load()}")
    print_table(results)
    if args.markdown:
        print()
        print_markdown(results, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
