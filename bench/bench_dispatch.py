"""Dispatch: duplicates (一事多诉), hot spots and the gazetteer, on synthetic reports of the demo city.

**Duplicates.** A synthetic stream of reports in one district, written from the demo city's own templates
(``cityhub.sim.texts``): each report is a new problem (a template at a place: a road and number, a
crossing, a landmark, an estate, a shop, a building site) or, with probability ``--dup``, another report
of a problem reported in the last two days — the way the demo stream repeats it (same title, "又有市民来电
反映…") or written afresh by another caller (another wording, channel and category or none, a GPS fix
some tens of metres away, sometimes no point at all). Places sit on roads laid out in a 6 × 6 km square,
so the same template at the next house number is a hard negative a hundred metres away. Every report
is scored against every earlier report of the window (``cityhub.dispatch.duplicates.rank``); the sweep
reports, for each threshold, the precision and recall of proposals (a correct earlier report among those
proposed) and of automatic merges (the chosen report is the same problem).

**Latency.** ``detect`` per new event on a database holding the stream's open events (SQLite and
PostgreSQL), in milliseconds: the nearby query, the IDF corpus (cached) and the scoring; and the nearby
query alone, by grid square beside by time (the query before migration 0009), alternated in one run.
``--spread`` widens the district (5: the same reports over 30 × 30 km, as in a whole city).

**Hot spots.** Planted clusters (many reports of one problem at one place over a week) in background
noise; DBSCAN per category on space only vs. over space + time + text: adjusted Rand index and how many
planted clusters are found whole, for a few radii and minimum sizes.

**Gazetteer.** Address-only reports composed by the demo's own composer in every district, a third of them
without the city and district names: the share located in the right district, and the time per address.

    python bench/bench_dispatch.py                 # everything, a few minutes
    python bench/bench_dispatch.py --only duplicates --reports 2000 --per-day 100 --seed 2
    python bench/bench_dispatch.py --only latency --per-day 1000 --reports 6000
    python bench/bench_dispatch.py --only latency --per-day 10000 --reports 40000 --spread 5
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from sklearn.cluster import DBSCAN
from sklearn.metrics import adjusted_rand_score
from sklearn.metrics.pairwise import haversine_distances
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import Session

from bench.bench_events import BACKENDS, PgServer, fresh_database, percentile
from cityhub.dispatch import duplicates as dup
from cityhub.dispatch import gazetteer, hotspots
from cityhub.events import categories
from cityhub.geo import service as geo
from cityhub.geo import squares
from cityhub.geo.sources import qingdao_demo_areas
from cityhub.kit.db import make_engine
from cityhub.kit.migrate import upgrade
from cityhub.kit.timeutil import clock
from cityhub.models.area import Area, AreaLevel
from cityhub.models.category import Category
from cityhub.models.event import Channel, DeadlineState, Event, EventStatus
from cityhub.sim import texts
from cityhub.sim.seed import demo_places

ORIGIN = (120.38, 36.06)  # south-west corner of the synthetic district (市南区 latitudes)
SIDE_M = 6_000.0
M_PER_DEG_LAT = 111_320.0
START = datetime(2026, 11, 2, tzinfo=UTC)


def offset(lon: float, lat: float, dx: float, dy: float) -> tuple[float, float]:
    return lon + dx / (M_PER_DEG_LAT * math.cos(math.radians(lat))), lat + dy / M_PER_DEG_LAT


# ---------------------------------------------------------------- the synthetic district


@dataclass
class District:
    """Roads as straight segments in a square; every named place has its own point."""

    rng: random.Random
    code: str = "370202"
    name: str = "市南区"
    roads: dict[str, tuple[tuple[float, float], tuple[float, float]]] = field(default_factory=dict)
    points: dict[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for road in texts.PLACES[self.code].roads:
            a = (self.rng.uniform(0, SIDE_M), self.rng.uniform(0, SIDE_M))
            angle, length = self.rng.uniform(0, math.pi), self.rng.uniform(1_500, 3_000)
            self.roads[road] = (a, (a[0] + length * math.cos(angle), a[1] + length * math.sin(angle)))

    def point(self, slots: dict[str, str]) -> tuple[float, float]:
        """The place's point in metres: along its road by house number, else a fixed random spot."""
        key = slots["address"]
        if key not in self.points:
            road = slots["road"]
            if slots["address"].startswith(road) and road in self.roads:
                (x0, y0), (x1, y1) = self.roads[road]
                t = min(int(slots["n"]), 300) / 300
                self.points[key] = (x0 + t * (x1 - x0), y0 + t * (y1 - y0))
            else:
                self.points[key] = (self.rng.uniform(0, SIDE_M), self.rng.uniform(0, SIDE_M))
        return self.points[key]


@dataclass(frozen=True)
class Problem:
    id: int
    report: texts.Report
    slots: dict[str, str]
    at: datetime


def _slots(rng: random.Random, report: texts.Report, code: str) -> dict[str, str]:
    return texts._slots(rng, report, texts.PLACES[code])


def _template(rng: random.Random) -> texts.Report:
    return rng.choices(texts.REPORTS, weights=[r.weight for r in texts.REPORTS])[0]


def _write(rng: random.Random, problem: Problem, channel: str) -> str:
    body = texts._body(rng, problem.report, channel).format_map(problem.slots)
    description = rng.choice(texts.OPENINGS[channel]) + body + "，" + rng.choice(texts.CLOSINGS[channel])
    return dup.report_text(problem.report.title.format_map(problem.slots), description)


def _repeat(rng: random.Random, problem: Problem) -> str:
    """The demo stream's repeat: the same title, another caller's words around it."""
    title = problem.report.title.format_map(problem.slots)
    opening, closing = rng.choice(texts.DUPLICATE_OPENINGS), rng.choice(texts.DUPLICATE_CLOSINGS)
    return dup.report_text(title, f"{opening}{title}，{closing}")


@dataclass(frozen=True)
class Synthetic:
    reports: list[dup.Report]
    problem_of: dict[int, int]  # report id → problem id


def stream(n: int, per_day: int, dup_share: float, seed: int) -> Synthetic:
    """``n`` reports, ``per_day`` a day, ``dup_share`` of them another report of an active problem."""
    rng = random.Random(seed)
    district = District(random.Random(seed + 1))
    active: list[Problem] = []  # problems reported within the window
    last: dict[int, datetime] = {}  # problem id → its latest report
    reports: list[dup.Report] = []
    problem_of: dict[int, int] = {}
    for i in range(n):
        at = START + timedelta(days=i / per_day)
        active = [p for p in active if at - last[p.id] <= dup.RULES.window]
        address = None
        if active and rng.random() < dup_share:
            problem = rng.choice(active)
            text = _repeat(rng, problem) if rng.random() < 0.5 else _write(rng, problem, _channel(rng))
            jitter, category = 40.0, problem.report.category if rng.random() < 0.8 else None
            address = _another_address(rng, district, problem)
        else:
            report = _template(rng)
            slots = _slots(rng, report, district.code)
            # The same kind of problem at the same place within the window is the same problem.
            same = (p for p in active if p.report is report and p.slots["address"] == slots["address"])
            problem = next(same, None) or Problem(len(last), report, slots, at)
            if problem.id not in last:
                active.append(problem)
            text, jitter, category = _write(rng, problem, _channel(rng)), 15.0, report.category
        lon, lat = _located(rng, district, problem, jitter)
        reports.append(
            dup.Report(
                id=i,
                number=f"R{i:05d}",
                text=text,
                created_at=at,
                title=text.split("。", 1)[0],
                lon=lon,
                lat=lat,
                category=category,
                address=address or f"青岛市{district.name}{problem.slots['address']}",
                district_id=1,
            )
        )
        problem_of[i] = problem.id
        last[problem.id] = at
    return Synthetic(reports, problem_of)


def _another_address(rng: random.Random, district: District, problem: Problem) -> str:
    """How another caller gives the same place: as written before, by its name alone, or loosely."""
    slots, roll = problem.slots, rng.random()
    if roll < 0.5:
        return f"青岛市{district.name}{slots['address']}"
    if roll < 0.75:
        return slots["place"]
    return f"{district.name}{slots['place']}附近"


def _channel(rng: random.Random) -> str:
    return rng.choices(["hotline_12345", "app", "grid"], weights=[55, 20, 15])[0]


def _located(
    rng: random.Random, district: District, problem: Problem, jitter: float
) -> tuple[float | None, float | None]:
    if rng.random() < 0.15:
        return None, None  # an address only
    x, y = district.point(problem.slots)
    return offset(*ORIGIN, x + rng.gauss(0, jitter), y + rng.gauss(0, jitter))


# ---------------------------------------------------------------- duplicates: quality


@dataclass(frozen=True)
class Decision:
    report: int
    best: dup.Candidate | None  # the best-scored earlier report in the window
    correct_best: bool
    has_duplicate: bool  # an earlier report of the same problem is in the window
    candidates: list[dup.Candidate]


def decisions(data: Synthetic, rules: dup.Rules) -> Iterator[Decision]:
    model = dup.TextModel([r.text for r in data.reports])
    for i, new in enumerate(data.reports):
        window = [
            o
            for o in data.reports[max(0, i - 2000) : i]
            if new.created_at - o.created_at <= rules.window and _near(new, o, rules)
        ]
        ranked = dup.rank(model, new, window, rules)
        truth = data.problem_of[new.id]
        best = ranked[0] if ranked else None
        yield Decision(
            report=new.id,
            best=best,
            correct_best=best is not None and data.problem_of[best.event_id] == truth,
            has_duplicate=any(data.problem_of[o.id] == truth for o in window),
            candidates=ranked,
        )


def _near(new: dup.Report, old: dup.Report, rules: dup.Rules) -> bool:
    if None in (new.lon, new.lat, old.lon, old.lat):
        return True  # the hub compares address-only reports with the whole district
    assert new.lon is not None and new.lat is not None and old.lon is not None and old.lat is not None
    return dup.haversine_m(new.lon, new.lat, old.lon, old.lat) <= rules.search_radius_m


@dataclass(frozen=True)
class Quality:
    threshold: float
    precision: float
    recall: float
    decided: int


def propose_quality(ds: Sequence[Decision], truth: dict[int, int], threshold: float) -> Quality:
    """Per report: proposed = some candidate ≥ threshold; right = one of those is the same problem."""
    proposed = right = 0
    for d in ds:
        above = [c for c in d.candidates if c.score >= threshold][: dup.RULES.keep]
        if above:
            proposed += 1
            right += any(truth[c.event_id] == truth[d.report] for c in above)
    positives = sum(d.has_duplicate for d in ds)
    return Quality(threshold, right / max(proposed, 1), right / max(positives, 1), proposed)


def merge_quality(ds: Sequence[Decision], threshold: float, rules: dup.Rules) -> Quality:
    """Automatic merges: the best mergeable candidate at or above the threshold."""
    merged = right = 0
    positives = sum(d.has_duplicate for d in ds)
    for d in ds:
        chosen = next((c for c in d.candidates if c.score >= threshold and _mergeable(c, rules)), None)
        if chosen is not None:
            merged += 1
            right += chosen is d.best and d.correct_best
    return Quality(threshold, right / max(merged, 1), right / max(positives, 1), merged)


def _mergeable(c: dup.Candidate, rules: dup.Rules) -> bool:
    close = (c.distance_m is not None and c.distance_m <= rules.merge_within_m) or (
        c.distance_m is None and c.address_overlap is not None and c.address_overlap >= 0.999
    )
    return close and c.same_category is not False


def duplicates_quality(args: argparse.Namespace) -> None:
    rules = dup.RULES
    data = stream(args.reports, args.per_day, args.dup, args.seed)
    started = time.perf_counter()
    ds = list(decisions(data, rules))
    elapsed = time.perf_counter() - started
    positives = sum(d.has_duplicate for d in ds)
    print(f"\n## Duplicates: {len(ds)} reports, {args.per_day}/day, {positives} with an earlier duplicate")
    print(f"(scoring every pair of the window: {elapsed / len(ds) * 1000:.2f} ms a report, no database)\n")
    print("| threshold | proposals: precision | recall | merges: precision | recall | merged |")
    print("|---|---|---|---|---|---|")
    for t in (0.2, 0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85):
        p, m = propose_quality(ds, data.problem_of, t), merge_quality(ds, t, rules)
        mark = " ←" if t in (rules.propose_at, rules.merge_at) else ""
        print(
            f"| {t:.2f}{mark} | {p.precision:.3f} | {p.recall:.3f} | {m.precision:.3f} | {m.recall:.3f} "
            f"| {m.decided} |"
        )
    chosen_p = propose_quality(ds, data.problem_of, rules.propose_at)
    chosen_m = merge_quality(ds, rules.merge_at, rules)
    print(
        f"\nchosen: propose at {rules.propose_at} (precision {chosen_p.precision:.3f}, recall "
        f"{chosen_p.recall:.3f}); merge at {rules.merge_at} within {rules.merge_within_m:.0f} m "
        f"(precision {chosen_m.precision:.3f}, recall {chosen_m.recall:.3f})"
    )


# ---------------------------------------------------------------- duplicates: latency in the hub


def latency(args: argparse.Namespace) -> None:
    """``detect`` per new event against the stream's earlier reports stored as open events, and its query
    for the reports around a point: by grid square (the hub's) beside by time (the query before 0009)."""
    data = stream(args.reports, args.per_day, args.dup, args.seed)
    reports = [_spread(r, args.spread) for r in data.reports]
    history, fresh = reports[: -args.new], reports[-args.new :]
    side = SIDE_M * args.spread / 1000
    print(
        f"\n## Duplicate detection per new event ({len(history)} stored reports, {args.per_day}/day, "
        f"{side:g} × {side:g} km)\n"
    )
    print(
        "| backend | open events in the window | mean ms | p50 ms | p95 ms | max ms | around: by square ",
        end="",
    )
    print("| by time |")
    print("|---|---|---|---|---|---|---|---|")
    pg = PgServer()
    with tempfile.TemporaryDirectory() as workdir:
        for backend in BACKENDS if args.backend == "both" else (args.backend,):
            with fresh_database(backend, pg, Path(workdir)) as url:
                engine = make_engine(url)
                try:
                    times, window, by_square, by_time = _time_detect(engine, history, fresh)
                finally:
                    engine.dispose()
            print(
                f"| {backend} | {window} | {statistics.mean(times):.1f} | {percentile(times, 50):.1f} "
                f"| {percentile(times, 95):.1f} | {max(times):.1f} | {statistics.mean(by_square):.2f} ms "
                f"| {statistics.mean(by_time):.2f} ms |"
            )


def _spread(report: dup.Report, factor: float) -> dup.Report:
    """The report with its point ``factor`` times as far from the district's south-west corner: the same
    stream over a wider city (5: 30 × 30 km), as many reports around each point divided by factor²."""
    if report.lon is None or report.lat is None or factor == 1:
        return report
    lon, lat = ORIGIN[0] + (report.lon - ORIGIN[0]) * factor, ORIGIN[1] + (report.lat - ORIGIN[1]) * factor
    return replace(report, lon=lon, lat=lat)


def _time_detect(
    engine: Engine, history: list[dup.Report], fresh: list[dup.Report]
) -> tuple[list[float], int, list[float], list[float]]:
    """``detect`` per new event; then, alternating event by event, the query for the reports around it
    by square and by time (a box with more than ``squares.MAX_SQUARES`` squares goes by time)."""
    with Session(engine) as session:
        paths = _taxonomy(session)
        session.execute(insert(Event), [_row(r, paths) for r in history])
        session.commit()
        if engine.dialect.name == "postgresql":
            # What autovacuum does soon after a bulk load; without statistics the planner guesses.
            session.execute(text("ANALYZE events"))
            session.commit()
        dup.corpus.clear()
        times: list[float] = []
        events = []
        for report in fresh:
            clock.freeze(report.created_at)
            event = Event(**_row(report, paths))
            session.add(event)
            session.flush()
            events.append(event)
            started = time.perf_counter()
            dup.detect(session, event)
            times.append((time.perf_counter() - started) * 1000)
        clock.unfreeze()
        by_square: list[float] = []
        by_time: list[float] = []
        for event in events:
            if event.lon is None:
                continue
            for out, wide in ((by_square, False), (by_time, True)):
                with mock.patch.object(squares, "squares", return_value=None) if wide else nullcontext():
                    started = time.perf_counter()
                    dup._nearby(session, event, dup.RULES)
                    out.append((time.perf_counter() - started) * 1000)
        since = fresh[-1].created_at - dup.RULES.window
        window = session.scalar(select(func.count(Event.id)).where(Event.created_at >= since)) or 0
        session.rollback()
    return times[1:], window, by_square, by_time  # the first one builds the IDF corpus


def _taxonomy(session: Session) -> dict[str, int]:
    categories.import_rows(session, [path.split("/") for path in {r.category for r in texts.REPORTS}])
    return dict(session.execute(select(Category.path, Category.id)).all())


def _row(report: dup.Report, paths: dict[str, int]) -> dict[str, Any]:
    title, _, description = report.text.partition("。")
    return {
        "number": report.number,
        "title": title[:200],
        "description": description,
        "channel": Channel.HOTLINE,
        "category_id": paths.get(report.category or ""),
        "status": EventStatus.DISPATCHED,
        "lon": report.lon,
        "lat": report.lat,
        # A Core INSERT passes the ORM's hook by: the square goes in with the point.
        "square": squares.of_point(report.lon, report.lat),
        "address": report.address,
        "created_at": report.created_at,
        "updated_at": report.created_at,
        "deadline_state": DeadlineState.NORMAL,
    }


# ---------------------------------------------------------------- hot spots: which clustering


@dataclass(frozen=True)
class Planted:
    points: list[hotspots.Point]
    truth: dict[int, int]  # point id → planted hot spot (absent: background)


def planted(n_background: int, n_spots: int, seed: int) -> Planted:
    """A week of background reports over the square and ``n_spots`` hot spots of 4–12 reports each."""
    rng = random.Random(seed)
    district = District(random.Random(seed + 1))
    points: list[hotspots.Point] = []
    truth: dict[int, int] = {}
    for _ in range(n_background):
        report = _template(rng)
        problem = Problem(0, report, _slots(rng, report, district.code), START)
        x, y = rng.uniform(0, SIDE_M), rng.uniform(0, SIDE_M)
        points.append(_spot_point(rng, len(points), problem, x, y))
    for spot in range(n_spots):
        report = _template(rng)
        problem = Problem(spot, report, _slots(rng, report, district.code), START)
        x, y = rng.uniform(0, SIDE_M), rng.uniform(0, SIDE_M)
        for _ in range(rng.randint(4, 12)):
            truth[len(points)] = spot
            points.append(
                _spot_point(rng, len(points), problem, x + rng.gauss(0, 120), y + rng.gauss(0, 120))
            )
    return Planted(points, truth)


def _spot_point(rng: random.Random, i: int, problem: Problem, x: float, y: float) -> hotspots.Point:
    lon, lat = offset(*ORIGIN, x, y)
    at = START + timedelta(days=rng.uniform(0, 7))
    return hotspots.Point(i, lon, lat, at, problem.report.category, _write(rng, problem, _channel(rng)))


def space_time_text(points: Sequence[hotspots.Point], params: hotspots.Params) -> list[list[hotspots.Point]]:
    """The alternative: one DBSCAN over all reports, distance = the largest of space, time and text, each
    scaled to its own radius (300 m, 3 days, 0.6 text distance)."""
    xy = np.radians([[p.lat, p.lon] for p in points])

    space = haversine_distances(xy) * dup.EARTH_RADIUS_M / params.radius_m
    days = np.array([p.at.timestamp() / 86400 for p in points])
    when = np.abs(days[:, None] - days[None, :]) / 3.0
    vectors = dup.TextModel([p.text for p in points]).vectors([p.text for p in points])
    what = (1.0 - (vectors @ vectors.T).toarray()) / 0.6
    distance = np.maximum(np.maximum(space, when), what)
    labels = DBSCAN(eps=1.0, min_samples=params.min_reports, metric="precomputed").fit_predict(distance)
    return [
        [p for p, lab in zip(points, labels, strict=True) if lab == k] for k in sorted(set(labels) - {-1})
    ]


def hotspot_quality(args: argparse.Namespace) -> None:
    runs = [planted(args.background, args.spots, seed) for seed in range(args.seed, args.seed + 5)]
    print(
        f"\n## Hot spots: {args.spots} planted in {args.background} background reports "
        "(a week, 6 × 6 km), 5 runs\n"
    )
    print("| method | radius m | min reports | found whole | false hot spots a run | ARI | ms a run |")
    print("|---|---|---|---|---|---|---|")
    methods = [("per category, space", hotspots.clusters, r, m) for r in (200, 300) for m in (3, 4, 5)]
    methods += [("space+time+text", space_time_text, 300, m) for m in (3, 4)]
    for name, method, radius, min_reports in methods:
        params = hotspots.Params(radius_m=radius, min_reports=min_reports)
        found_whole = false = 0
        aris = []
        elapsed = 0.0
        for data in runs:
            started = time.perf_counter()
            clusters = method(data.points, params)
            elapsed += time.perf_counter() - started
            whole, wrong = _score_clusters(clusters, data.truth)
            found_whole, false = found_whole + whole, false + wrong
            aris.append(_ari(clusters, data))
        chosen = " ←" if params == hotspots.PARAMS and method is hotspots.clusters else ""
        print(
            f"| {name}{chosen} | {radius} | {min_reports} | {found_whole}/{args.spots * len(runs)} "
            f"| {false / len(runs):.1f} | {statistics.mean(aris):.3f} | {elapsed / len(runs) * 1000:.0f} |"
        )


def _ari(clusters: list[list[hotspots.Point]], data: Planted) -> float:
    label = {p.id: k for k, members in enumerate(clusters) for p in members}
    ids = [p.id for p in data.points]
    truth = [data.truth.get(i, -1 - i) for i in ids]  # every background report on its own
    return float(adjusted_rand_score(truth, [label.get(i, -1 - i) for i in ids]))


def _score_clusters(clusters: list[list[hotspots.Point]], truth: dict[int, int]) -> tuple[int, int]:
    """(planted hot spots found whole: ≥ 80 % of their reports in one cluster that is ≥ 80 % theirs,
    clusters that are mostly background)."""
    sizes: dict[int, int] = {}
    for spot in truth.values():
        sizes[spot] = sizes.get(spot, 0) + 1
    whole = set()
    wrong = 0
    for members in clusters:
        spots = [truth[p.id] for p in members if p.id in truth]
        if len(spots) * 2 < len(members):
            wrong += 1
            continue
        top = max(set(spots), key=spots.count)
        if spots.count(top) >= 0.8 * sizes[top] and spots.count(top) >= 0.8 * len(members):
            whole.add(top)
    return len(whole), wrong


# ---------------------------------------------------------------- gazetteer: addresses of the demo city


def gazetteer_quality(args: argparse.Namespace) -> None:
    """Address-only reports of the demo city (its road and landmark lists in the gazetteer): how often the
    address alone gives the right district, and how fast."""
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as workdir:
        engine = make_engine(f"sqlite:///{workdir}/g.db")
        upgrade(engine)
        with Session(engine) as session:
            geo.import_records(
                session, qingdao_demo_areas(0, communities_per_street=1, grids_per_community=1)
            )
            gazetteer.add_places(session, demo_places(), source="demo")
            districts = dict(
                session.execute(select(Area.code, Area.id).where(Area.level == "district")).all()
            )
            names = dict(session.execute(select(Area.code, Area.name).where(Area.level == "district")).all())
            gazetteer.index(session)  # builds the index and loads jieba once
            right = wrong = none = 0
            times = []
            for _ in range(args.addresses):
                code = rng.choice(sorted(texts.PLACES))
                report = _template(rng)
                composed = texts.compose(rng, report, _channel(rng), code, names[code])
                address = _drop_district(rng, composed.address, names[code])
                started = time.perf_counter()
                found = gazetteer.resolve(session, address).areas.get(AreaLevel.DISTRICT)
                times.append((time.perf_counter() - started) * 1000)
                right += found == districts[code]
                wrong += found is not None and found != districts[code]
                none += found is None
        engine.dispose()
    n = args.addresses
    print(
        f"\n## Gazetteer: {n} address-only reports of the demo city (a third without the district's name)\n"
    )
    print("| right district | wrong district | no district | ms per address: mean / p95 |")
    print("|---|---|---|---|")
    print(
        f"| {right / n:.1%} | {wrong / n:.1%} | {none / n:.1%} "
        f"| {statistics.mean(times):.2f} / {percentile(times, 95):.2f} |"
    )


def _drop_district(rng: random.Random, address: str, district: str) -> str:
    """People often leave out the city and the district: 香港中路12号 rather than 青岛市市南区香港中路12号."""
    return address.replace(f"青岛市{district}", "") if rng.random() < 1 / 3 else address


# ---------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=("duplicates", "latency", "hotspots", "gazetteer"))
    parser.add_argument("--reports", type=int, default=3000)
    parser.add_argument("--per-day", type=int, default=300)
    parser.add_argument("--dup", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--new", type=int, default=300, help="latency: new events timed")
    parser.add_argument("--spread", type=float, default=1.0, help="latency: the district × this, each way")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--background", type=int, default=2000, help="hot spots: background reports")
    parser.add_argument("--spots", type=int, default=8, help="hot spots: planted ones per run")
    parser.add_argument("--addresses", type=int, default=2000, help="gazetteer: addresses resolved")
    args = parser.parse_args(argv)
    if args.only in (None, "duplicates"):
        duplicates_quality(args)
    if args.only in (None, "latency"):
        latency(args)
    if args.only in (None, "hotspots"):
        hotspot_quality(args)
    if args.only in (None, "gazetteer"):
        gazetteer_quality(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
