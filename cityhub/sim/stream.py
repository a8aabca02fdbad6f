"""The living demo city: reports arrive and move through the loop as the right people would move them.

``DemoStream.step`` is one unit of simulated life, run every few seconds by the hub's scheduler, in one
transaction: 1–3 new reports, then each role takes the actions that are due — the dispatcher merges
duplicates and works the review queue, departments sign, handle and resolve (co-handlers first), the
supervisor presses overdue events and decides extensions, the 12345 call-back rates resolved events.
Every action goes through the event service as a real principal, so the policy, the state machine and
the audit log judge it exactly as they judge people. The stream acts as staff who cannot log in (the demo
users' colleagues, ``seed.colleague_of``), never as a person trying the demo, and leaves alone every event
a person has acted on; it does not rate a person's report for them.

Each event has a temperament fixed by its id (``_bucket``): a few sign or resolve late (so the 临期/超期
scan and supervision have work), some are handed back (退单), ask for more time or are suspended. The
rest is drawn from ``random.Random(seed)``, so a seeded stream on a fresh database is reproducible.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import shapely
from shapely.geometry import shape
from sqlalchemy import ColumnElement, and_, exists, not_, or_, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from cityhub.access.principal import ANONYMOUS_CITIZEN, SYSTEM, Principal
from cityhub.events import deadlines
from cityhub.events import service as events
from cityhub.events.schemas import EventIn, LocationIn, ReporterIn
from cityhub.geo import service as geo
from cityhub.geo.crs import CRS, wgs84_to_gcj02
from cityhub.kit.db import unit_of_work, write_from_the_start
from cityhub.kit.errors import CityHubError
from cityhub.kit.settings import Settings
from cityhub.kit.timeutil import SHANGHAI, clock
from cityhub.models.area import Area, AreaLevel
from cityhub.models.category import Category
from cityhub.models.event import (
    AssignmentRole,
    AssignmentStatus,
    Channel,
    Event,
    EventAction,
    EventAssignment,
    EventGrade,
    EventStatus,
    Urgency,
)
from cityhub.models.org import Department, Role, User
from cityhub.org.service import principal_for
from cityhub.sim import seed as demo
from cityhub.sim import texts

log = logging.getLogger(__name__)

T = TypeVar("T")

# Where reports come from: the 12345 hotline most, sensors and video AI least.
CHANNEL_WEIGHTS: Mapping[Channel, float] = {
    Channel.HOTLINE: 55,
    Channel.APP: 20,
    Channel.GRID: 15,
    Channel.SENSOR: 5,
    Channel.VIDEO: 5,
}
PEOPLE = (Channel.HOTLINE, Channel.APP, Channel.GRID)
UNCATEGORISED = 0.2  # people who give no category: the dispatcher classifies them (review queue)
DUPLICATE = 0.06  # a second report of a recent problem (一事多诉)
HOT_SPOT = 0.08  # a report about one of the week's ongoing local problems (民生诉求热点)
HOT_SPOT_SPREAD_M = 150.0  # how far from the problem's spot its reporters stand (standard deviation)
ANONYMOUS = 0.12
ADDRESS_ONLY = 0.15  # a hotline or app report with an address and no point
GCJ02 = 0.2  # points picked on a Chinese base map rather than from GPS
CITIZEN_ACCOUNT = 0.35  # app reports made with the demo citizen's own account
RATINGS: Mapping[int, float] = {5: 46, 4: 30, 3: 12, 2: 7, 1: 5}
APPROVE_EXTENSION = 0.8

# Per step, each role looks at up to BATCH items of a kind and acts on each with probability ACT, so
# an event waits a few steps at each stage and the capacity (≈3.6 a stage) beats the arrivals (≈2).
BATCH = 6
ACT = 0.6
REVIEW = 0.4  # the review queue waits a little for a dispatcher
RESUME = 0.35
SUPERVISE = 0.8
GRADE = 0.5  # of the urgent hazards in hand, the share the centre grades as emergencies (Ⅳ mostly, some Ⅲ)
GRADES: Mapping[EventGrade, float] = {EventGrade.IV: 80, EventGrade.III: 20}

# Temperaments by bucket (0–99, from the event id): [low, high).
SLOW_SIGN = (0, 4)  # signs only well after the sign deadline
SLOW_RESOLVE = (4, 9)  # resolves only well after the resolution deadline
EXTENSION = (9, 13)  # asks for more time before resolving
RETURNER = (13, 27)  # hands the event back when a return story fits its category (≈5 % of all)
SUSPENDER = (27, 30)  # suspended for a while
SLOW_GRACE = timedelta(days=1)  # how long past the deadline the slow ones wait
RECENT = timedelta(days=2)  # how far back duplicates are looked for and reopening happens
# How long a new event of a department where a person can log in waits for them before a colleague signs it.
LEFT_FOR_PEOPLE = timedelta(minutes=15)

WORKING = (EventStatus.DISPATCHED, EventStatus.ACCEPTED, EventStatus.IN_PROGRESS)
WAITING = (EventStatus.RECEIVED, EventStatus.RETURNED, EventStatus.REOPENED)
MERGEABLE = (EventStatus.RECEIVED, EventStatus.DISPATCHED, EventStatus.RETURNED)
MERGE_TARGETS = (*WAITING, *WORKING, EventStatus.SUSPENDED)
OPEN_PART = (AssignmentStatus.PENDING, AssignmentStatus.ACCEPTED, AssignmentStatus.IN_PROGRESS)

ACTIONS = (
    "created",
    "merged",
    "dispatched",
    "accepted",
    "returned",
    "co_accepted",
    "co_resolved",
    "started",
    "noted",
    "extension_requested",
    "extension_approved",
    "extension_rejected",
    "resolved",
    "suspended",
    "resumed",
    "supervised",
    "graded",
    "rated",
    "reopened",
    "errors",
)

# The history: a step per two reports on average, the deadline scan every third step (≈ 2.4 h at 60 a day),
# and reports per hour of the day (local time): quiet at night, busy in office hours.
REPORTS_PER_TICK = 2
SCAN_EVERY = 3
HOURLY = (1, 1, 1, 1, 1, 2, 4, 7, 9, 9, 9, 8, 7, 8, 9, 9, 8, 7, 6, 5, 4, 3, 2, 1)


class DemoNotSeeded(RuntimeError):
    """The stream needs the demo city (``seed.seed_demo``) in the database."""


# ---------------------------------------------------------------- who and where


@dataclass(frozen=True)
class Cast:
    """The people the stream acts as, as principals (department id → that department's handler)."""

    operator: Principal
    dispatcher: Principal
    district_dispatchers: Mapping[int, Principal]
    supervisor: Principal
    citizen: Principal
    handlers: Mapping[int, Principal]
    grid_workers: Mapping[int, tuple[Principal, int]]  # district id → (worker, their grid's area id)

    def dispatcher_for(self, district_id: int | None) -> Principal:
        return self.district_dispatchers.get(district_id or 0, self.dispatcher)


@dataclass(frozen=True)
class District:
    id: int
    code: str
    name: str
    weight: float
    boundary: Any  # a prepared shapely (Multi)Polygon, WGS-84


@dataclass(frozen=True)
class World:
    """What the stream needs to know about the seeded city, loaded once (no ORM objects)."""

    cast: Cast
    districts: tuple[District, ...]
    grids: Mapping[int, Any]  # area id → prepared boundary of a grid worker's grid
    category_paths: Mapping[int, str]
    departments: Mapping[str, int]

    def district(self, district_id: int | None) -> District | None:
        return next((d for d in self.districts if d.id == district_id), None)

    def redirect(self, code: str, district_id: int | None) -> int | None:
        """A return story's redirect as a department id (``@district``: the district's 城市管理局)."""
        if code == texts.DISTRICT_REDIRECT:
            district = self.district(district_id)
            return self.departments.get(demo.district_bureau_code(district.code)) if district else None
        return self.departments.get(code)


def load_world(session: Session) -> World:
    districts = _load_districts(session)
    if not districts:
        raise DemoNotSeeded("no districts in the database: seed the demo city first (seed.seed_demo)")
    cast = _load_cast(session, {d.id for d in districts})
    return World(
        cast=cast,
        districts=districts,
        grids={grid: _prepared(session, grid) for _worker, grid in cast.grid_workers.values()},
        category_paths={cid: path for cid, path in session.execute(select(Category.id, Category.path))},
        departments={code: did for code, did in session.execute(select(Department.code, Department.id))},
    )


def _load_districts(session: Session) -> tuple[District, ...]:
    rows = geo.with_boundaries(session, Area.level == AreaLevel.DISTRICT)
    return tuple(
        District(a.id, a.code, a.name, float(a.population or 1), _prepare(a.geometry))
        for a in rows
        if a.geometry
    )


def _prepared(session: Session, area_id: int) -> Any:
    area = session.get(Area, area_id)
    return _prepare(area.geometry if area else None)


def _prepare(geometry: str | None) -> Any:
    if geometry is None:
        return None
    geom = shape(json.loads(geometry))
    shapely.prepare(geom)
    return geom


def _load_cast(session: Session, district_ids: set[int]) -> Cast:
    """The staff the stream acts as: users without a password (a demo user's colleague), else — in a
    database seeded before colleagues existed — whoever holds the role."""
    users = list(session.scalars(select(User).where(User.active.is_(True)).order_by(User.id)))
    users.sort(key=lambda user: user.password_hash is not None)  # staff first
    principals = [(user, principal_for(session, user)) for user in users]

    def named(username: str, role: Role) -> Principal:
        names = (demo.colleague_of(username), username)
        by_name = next((p for name in names for u, p in principals if u.username == name), None)
        found = by_name or next((p for _u, p in principals if p.role is role), None)
        if found is None:
            raise DemoNotSeeded(f"no {role.value} user: seed the demo city first (seed.seed_demo)")
        return found

    handlers: dict[int, Principal] = {}
    district_dispatchers: dict[int, Principal] = {}
    for _user, p in principals:  # staff first: the first of each department or district
        if p.role is Role.HANDLER and p.department_id is not None:
            handlers.setdefault(p.department_id, p)
        elif p.role is Role.DISPATCHER and p.area_level is AreaLevel.DISTRICT and p.area_id in district_ids:
            district_dispatchers.setdefault(p.area_id, p)
    return Cast(
        operator=named("operator_12345", Role.DISPATCHER),
        dispatcher=named("dispatcher", Role.DISPATCHER),
        district_dispatchers=district_dispatchers,
        supervisor=named("supervisor", Role.SUPERVISOR),
        citizen=named("citizen", Role.CITIZEN),
        handlers=handlers,
        grid_workers=_grid_workers(
            session, [p for _u, p in principals if p.role is Role.GRID_WORKER], district_ids
        ),
    )


def _grid_workers(
    session: Session, workers: Sequence[Principal], district_ids: set[int]
) -> dict[int, tuple[Principal, int]]:
    found: dict[int, tuple[Principal, int]] = {}
    for worker in workers:
        area = session.get(Area, worker.area_id) if worker.area_id else None
        if area is None or area.level != AreaLevel.GRID:
            continue
        district = next((a for a in geo.ancestors(session, area) if a.level == AreaLevel.DISTRICT), None)
        if district is not None and district.id in district_ids:
            found.setdefault(district.id, (worker, area.id))
    return found


# ---------------------------------------------------------------- one step


@contextmanager
def _clock_at(now: datetime | None) -> Iterator[None]:
    """Run with the hub's clock frozen at ``now`` (simulated time), then put the clock back as it was."""
    if now is None:
        yield
        return
    previous = clock.frozen_at
    clock.freeze(now)
    try:
        yield
    finally:
        if previous is None:
            clock.unfreeze()
        else:
            clock.freeze(previous)


class DemoStream:
    """Simulated life in the demo city, one ``step`` at a time (see the module docstring).

    Pass ``now`` to ``step`` to simulate a past or future instant: the hub's clock is frozen there for
    the step and restored afterwards. Business errors (``CityHubError``) never stop a step: each action
    runs in a savepoint, a refused one is rolled back and counted as ``errors``.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        seed: int | None = None,
        dispatch_policy: events.DispatchPolicy | None = None,
    ) -> None:
        self._factory = session_factory
        self._rng = random.Random(seed)
        self._policy = dispatch_policy or events.DispatchPolicy()
        self._world: World | None = None

    def step(self, now: datetime | None = None) -> dict[str, int]:
        """One unit of life: 1–3 new reports, then every role's due actions. Returns counts per action."""
        with _clock_at(now):
            return self._step(self._rng.randint(1, 3))

    def _step(self, new_reports: int) -> dict[str, int]:
        with unit_of_work(self._factory) as session:
            write_from_the_start(session)  # its actions' savepoints then nest in one SQLite write transaction
            if self._world is None:
                self._world = load_world(session)
            life = _Step(session, self._world, self._rng, self._policy, clock.now())
            life.run(new_reports)
        return {action: life.counts[action] for action in ACTIONS}


class _Step:
    """The state of one step: the session, the time, what was touched and what was done."""

    def __init__(
        self,
        session: Session,
        world: World,
        rng: random.Random,
        policy: events.DispatchPolicy,
        now: datetime,
    ) -> None:
        self.session, self.world, self.rng, self.policy, self.now = session, world, rng, policy, now
        self.cast = world.cast
        self.counts: Counter[str] = Counter()
        self.touched: set[int] = set()  # one action per event per step

    def run(self, new_reports: int) -> None:
        for _ in range(new_reports):
            _report(self)
        for stage in STAGES:
            stage(self)

    def attempt(
        self, action: str, event_id: int | None, act: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T | None:
        """Take one action in a savepoint; a business error rolls it back and is counted, not raised."""
        if event_id is not None:
            self.touched.add(event_id)
        try:
            with self.session.begin_nested():
                done = act(*args, **kwargs)
        except CityHubError as exc:
            self.counts["errors"] += 1
            log.info("demo stream: %s (event %s) refused: %s", action, event_id, exc.message)
            return None
        self.counts[action] += 1
        return done

    def due(self, rows: Sequence[Event], share: float = ACT) -> Iterator[Event]:
        """The events whose turn it is this step: not touched yet, and the dice agree."""
        for event in rows:
            if event.id not in self.touched and self.rng.random() < share:
                yield event

    def pick(self, items: Sequence[T]) -> T:
        return self.rng.choice(items)


def _bucket() -> ColumnElement[int]:
    # A cheap, stable scramble of the id, so temperaments do not follow arrival order.
    return (Event.id * 37) % 100


def bucket_of(event_id: int) -> int:
    return event_id * 37 % 100


def _in(span: tuple[int, int]) -> ColumnElement[bool]:
    return _bucket().between(span[0], span[1] - 1)


def _has(span: tuple[int, int], event: Event) -> bool:
    return span[0] <= bucket_of(event.id) < span[1]


# Who can log in: a person trying the demo, whose events the stream leaves to them.
_PEOPLE = select(User.username).where(User.password_hash.is_not(None)).scalar_subquery()
# Departments with a handler who can log in: their new events wait a while for that person (LEFT_FOR_PEOPLE).
_PEOPLES_DEPARTMENTS = (
    select(User.department_id)
    .where(User.password_hash.is_not(None), User.role == Role.HANDLER, User.department_id.is_not(None))
    .scalar_subquery()
)


def _left_to_staff(*, reported: bool = False) -> ColumnElement[bool]:
    """No one who can log in has acted on the event since reporting it (with ``reported``, nor reported it):
    once a person takes an event in hand, the stream stops acting on it, and it never rates a person's
    report for them."""
    acted = [EventAction.event_id == Event.id, EventAction.actor.in_(_PEOPLE)]
    if not reported:
        acted.append(EventAction.action != "create")
    return not_(exists(select(EventAction.id).where(*acted)))


def _free(s: _Step, event: Event) -> bool:
    """No one who can log in has acted on the event since reporting it (``_left_to_staff``)."""
    return s.session.scalar(select(Event.id).where(Event.id == event.id, _left_to_staff())) is not None


def _took(action: str) -> ColumnElement[bool]:
    """The event's timeline already holds this action."""
    return exists(
        select(EventAction.id).where(EventAction.event_id == Event.id, EventAction.action == action)
    )


# ---------------------------------------------------------------- intake


def _report(s: _Step) -> None:
    if s.rng.random() < DUPLICATE and _report_again(s):
        return
    if s.rng.random() < HOT_SPOT and _report_hot_spot(s):
        return
    channel = s.rng.choices(list(CHANNEL_WEIGHTS), weights=list(CHANNEL_WEIGHTS.values()))[0]
    if channel is Channel.GRID and not s.cast.grid_workers:
        channel = Channel.HOTLINE
    report = _template(s, channel)
    principal, district, point = _source(s, channel)
    composed = texts.compose(s.rng, report, channel.value, district.code, district.name)
    data = EventIn(
        title=composed.title,
        description=composed.description,
        channel=channel,
        category=None if channel in PEOPLE and s.rng.random() < UNCATEGORISED else report.category,
        urgency=_urgency(s, report),
        location=point,
        address=composed.address,
        reporter=_reporter(s, channel, principal),
    )
    _create(s, principal, data)


def _create(s: _Step, principal: Principal, data: EventIn) -> bool:
    event = s.attempt("created", None, events.create, s.session, principal, data, s.policy)
    if event is not None:
        s.touched.add(event.id)
    return event is not None


def _template(s: _Step, channel: Channel) -> texts.Report:
    if channel is Channel.SENSOR:
        candidates = [r for r in texts.REPORTS if r.sensor]
    elif channel is Channel.VIDEO:
        candidates = [r for r in texts.REPORTS if r.video]
    elif channel is Channel.GRID:
        candidates = [r for r in texts.REPORTS if r.grid]
    else:
        candidates = list(texts.REPORTS)
    return s.rng.choices(candidates, weights=[r.weight for r in candidates])[0]


def _urgency(s: _Step, report: texts.Report) -> Urgency:
    roll = s.rng.random()
    if roll < report.critical:
        return Urgency.CRITICAL
    if roll < report.critical + report.urgent:
        return Urgency.URGENT
    return Urgency.NORMAL


def _source(s: _Step, channel: Channel) -> tuple[Principal, District, LocationIn | None]:
    """Who files the report, in which district, at which point (None: an address only)."""
    if channel is Channel.GRID:
        return _grid_source(s)
    district = s.rng.choices(s.world.districts, weights=[d.weight for d in s.world.districts])[0]
    if channel in (Channel.SENSOR, Channel.VIDEO):
        # Device reports arrive through the hub's own integrations, hence the system principal.
        return SYSTEM, district, _point(s, district.boundary, CRS.WGS84)
    principal = s.cast.operator if channel is Channel.HOTLINE else _app_user(s)
    if s.rng.random() < ADDRESS_ONLY:
        return principal, district, None
    crs = CRS.GCJ02 if s.rng.random() < GCJ02 else CRS.WGS84
    return principal, district, _point(s, district.boundary, crs)


def _grid_source(s: _Step) -> tuple[Principal, District, LocationIn]:
    """A grid worker reports from their own grid, with the phone's GPS fix."""
    district_id = s.pick(sorted(s.cast.grid_workers))
    worker, grid = s.cast.grid_workers[district_id]
    district = s.world.district(district_id)
    assert district is not None  # grid workers are only kept for the districts of the world
    boundary = s.world.grids.get(grid)
    return worker, district, _point(s, district.boundary if boundary is None else boundary, CRS.WGS84)


def _app_user(s: _Step) -> Principal:
    return s.cast.citizen if s.rng.random() < CITIZEN_ACCOUNT else ANONYMOUS_CITIZEN


def _point(s: _Step | random.Random, boundary: Any, crs: CRS) -> LocationIn:
    """A uniformly random point inside the boundary (rejection sampling in its bounding box)."""
    rng = s if isinstance(s, random.Random) else s.rng
    minx, miny, maxx, maxy = boundary.bounds
    for _ in range(500):
        lon, lat = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if shapely.contains_xy(boundary, lon, lat):
            break
    else:
        point = boundary.representative_point()
        lon, lat = point.x, point.y
    if crs is CRS.GCJ02:
        lon, lat = wgs84_to_gcj02(lon, lat)
    return LocationIn(lon=round(lon, 6), lat=round(lat, 6), crs=crs)


def _reporter(s: _Step, channel: Channel, principal: Principal) -> ReporterIn | None:
    """Callers and app users without an account give a name and phone, or ask to stay anonymous."""
    if not (channel is Channel.HOTLINE or (channel is Channel.APP and principal.user_id is None)):
        return None
    if s.rng.random() < ANONYMOUS:
        return ReporterIn(anonymous=True)
    return ReporterIn(name=texts.person_name(s.rng), phone=texts.phone_number(s.rng))


def _report_again(s: _Step) -> bool:
    """Another caller reports a recent open problem at the same place (一事多诉)."""
    original = s.session.scalar(
        select(Event)
        .where(
            Event.created_at >= s.now - RECENT,
            Event.status.in_(WORKING),
            Event.category_id.is_not(None),
            Event.address.is_not(None),
        )
        .order_by(Event.created_at.desc(), Event.id.desc())
        .limit(1)
        .offset(s.rng.randrange(10))
    )
    if original is None or original.category_id is None:
        return False
    located = original.lon is not None and original.lat is not None
    opening, closing = s.pick(texts.DUPLICATE_OPENINGS), s.pick(texts.DUPLICATE_CLOSINGS)
    data = EventIn(
        title=original.title,
        description=f"{opening}{original.title}，{closing}",
        channel=Channel.HOTLINE,
        category=s.world.category_paths[original.category_id],
        urgency=original.urgency,
        location=LocationIn(lon=original.lon, lat=original.lat) if located else None,
        address=original.address,
        reporter=ReporterIn(name=texts.person_name(s.rng), phone=texts.phone_number(s.rng)),
    )
    return _create(s, s.cast.operator, data)


# Ongoing local problems that many people report within days (district, the report's keyword, its
# place): the hot spots a reader should find in the demo city. Their reporters stand around one spot.
HOT_SPOTS: tuple[tuple[str, str, Mapping[str, str]], ...] = (
    ("370202", "施工噪声", {"road": "香港中路", "site": "地铁施工工地"}),
    ("370203", "占道经营", {"place": "台东步行街", "address": "台东步行街"}),
    ("370213", "暖气", {"road": "京口路", "n": "88", "estate": "金水花园"}),
    ("370211", "油烟", {"road": "长江中路", "n": "120", "shop": "聚福烧烤店"}),
)


def _report_hot_spot(s: _Step) -> bool:
    """Another neighbour reports one of the ongoing local problems, from near its spot."""
    code, keyword, fixed = s.pick(HOT_SPOTS)
    district = next((d for d in s.world.districts if d.code == code), None)
    report = next((r for r in texts.REPORTS if r.keyword == keyword), None)
    if district is None or report is None:
        return False
    channel = s.rng.choices(PEOPLE[:2], weights=[CHANNEL_WEIGHTS[c] for c in PEOPLE[:2]])[0]
    principal = s.cast.operator if channel is Channel.HOTLINE else _app_user(s)
    composed = texts.compose(s.rng, report, channel.value, district.code, district.name, fixed)
    spot = _point(random.Random(f"{code}{keyword}"), district.boundary, CRS.WGS84)
    lon, lat = _offset(
        spot.lon, spot.lat, s.rng.gauss(0, HOT_SPOT_SPREAD_M), s.rng.gauss(0, HOT_SPOT_SPREAD_M)
    )
    data = EventIn(
        title=composed.title,
        description=composed.description,
        channel=channel,
        category=None if s.rng.random() < UNCATEGORISED else report.category,
        urgency=_urgency(s, report),
        location=LocationIn(lon=round(lon, 6), lat=round(lat, 6)),
        address=composed.address,
        reporter=_reporter(s, channel, principal),
    )
    return _create(s, principal, data)


def _offset(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    return lon + east_m / (111_320 * math.cos(math.radians(lat))), lat + north_m / 111_320


# ---------------------------------------------------------------- the dispatcher


def _same_problem(older: Any, category_id: Any, address: Any, created_at: Any, since: datetime) -> Any:
    """``older`` is an open event of the same category at the same address, reported before."""
    return and_(
        older.category_id == category_id,
        older.address == address,
        older.created_at >= since,
        older.created_at < created_at,
        older.status.in_(MERGE_TARGETS),
    )


# One alias for good: SQLAlchemy memoises an alias's column adaptations, a fresh alias per step costs ~20 ms.
_OLDER = aliased(Event)


def _merge_duplicates(s: _Step) -> None:
    """Merge a newer report into the oldest open one of the same category at the same address."""
    since = s.now - RECENT
    older = _OLDER
    has_original = exists(
        select(older.id).where(
            _same_problem(older, Event.category_id, Event.address, Event.created_at, since)
        )
    )
    duplicates = s.session.scalars(
        select(Event)
        .where(Event.created_at >= since, Event.status.in_(MERGEABLE), has_original, _left_to_staff())
        .order_by(Event.created_at, Event.id)
        .limit(BATCH)
    ).all()
    for event in s.due(duplicates, SUPERVISE):
        same = _same_problem(Event, event.category_id, event.address, event.created_at, since)
        target = s.session.scalar(select(Event).where(same).order_by(Event.created_at, Event.id).limit(1))
        if target is None or target.id in s.touched or not _free(s, target):
            continue  # an original a person has in hand is theirs to merge into
        principal = s.cast.dispatcher_for(event.district_id)
        note = s.pick(texts.MERGE_NOTES)
        s.attempt("merged", event.id, events.merge, s.session, principal, event.id, target.id, note)


def _dispatch_review_queue(s: _Step) -> None:
    queue = s.session.scalars(
        select(Event)
        .where(Event.needs_review.is_(True), Event.status.in_(WAITING), _left_to_staff())
        .order_by(Event.created_at, Event.id)
        .limit(BATCH)
    ).all()
    for event in s.due(queue, REVIEW):
        _dispatch_one(s, event)


def _dispatch_one(s: _Step, event: Event) -> None:
    """Classify from the title when needed; a returned event goes where its return story points."""
    category = None
    if event.category_id is None:
        report = texts.classify(event.title)
        if report is None:
            return
        category = report.category
    department, note = None, s.pick(texts.DISPATCH_NOTES)
    if event.status is EventStatus.RETURNED:
        department, note = _redirect(s, event), s.pick(texts.REDISPATCH_NOTES)
    elif event.status is EventStatus.REOPENED:
        note = s.pick(texts.REOPEN_DISPATCH_NOTES)
    principal = s.cast.dispatcher_for(event.district_id)
    s.attempt(
        "dispatched",
        event.id,
        events.dispatch,
        s.session,
        principal,
        event.id,
        s.policy,
        department_id=department,
        category=category,
        note=note,
    )


def _redirect(s: _Step, event: Event) -> int | None:
    returned_by = s.session.scalar(
        select(EventAssignment.department_id)
        .where(EventAssignment.event_id == event.id, EventAssignment.status == AssignmentStatus.RETURNED)
        .order_by(EventAssignment.id.desc())
        .limit(1)
    )
    story = _story(s, event, returned_by)
    return story[1] if story else None


def _story(s: _Step, event: Event, current: int | None) -> tuple[texts.ReturnStory, int] | None:
    """The first return story of the event's category that points elsewhere, to a staffed department."""
    path = s.world.category_paths.get(event.category_id or 0, "")
    for story in texts.RETURN_STORIES:
        if not path.startswith(story.category_prefix):
            continue
        target = s.world.redirect(story.redirect, event.district_id)
        if target is not None and target != current and target in s.cast.handlers:
            return story, target
    return None


# ---------------------------------------------------------------- the departments


def _lead_handler(s: _Step, event: Event) -> Principal | None:
    return s.cast.handlers.get(event.lead_department_id or 0)


def _sign(s: _Step) -> None:
    """The lead department signs (签收) — or hands the event back (退单) when it is not theirs."""
    waiting = s.session.scalars(
        select(Event)
        .where(
            Event.status == EventStatus.DISPATCHED,
            or_(not_(_in(SLOW_SIGN)), Event.sign_deadline < s.now - SLOW_GRACE),
            _left_to_staff(),
            or_(
                Event.lead_department_id.not_in(_PEOPLES_DEPARTMENTS),
                Event.dispatched_at < s.now - LEFT_FOR_PEOPLE,
            ),
        )
        .order_by(Event.dispatched_at, Event.id)
        .limit(BATCH)
    ).all()
    for event in s.due(waiting):
        handler = _lead_handler(s, event)
        if handler is None:
            continue
        story = _story(s, event, event.lead_department_id) if _has(RETURNER, event) else None
        if story is not None and event.return_count == 0:
            s.attempt("returned", event.id, events.return_, s.session, handler, event.id, story[0].reason)
        else:
            note = s.pick(texts.ACCEPT_NOTES)
            s.attempt("accepted", event.id, events.accept, s.session, handler, event.id, note=note)


def _co_handle(s: _Step) -> None:
    """Co-handling departments (协办) sign for their part, then finish it once the lead is at work."""
    parts = s.session.execute(
        select(Event, EventAssignment)
        .join(EventAssignment, EventAssignment.event_id == Event.id)
        .where(
            EventAssignment.role == AssignmentRole.CO,
            EventAssignment.status.in_((AssignmentStatus.PENDING, AssignmentStatus.ACCEPTED)),
            Event.status.in_(WORKING),
            _left_to_staff(),
        )
        .order_by(EventAssignment.assigned_at, EventAssignment.id)
        .limit(BATCH)
    ).all()
    for event, part in parts:
        handler = s.cast.handlers.get(part.department_id)
        if handler is None or event.id in s.touched or s.rng.random() >= ACT:
            continue
        if part.status is AssignmentStatus.PENDING:
            note = s.pick(texts.CO_ACCEPT_NOTES)
            s.attempt("co_accepted", event.id, events.accept, s.session, handler, event.id, note=note)
        elif event.status is EventStatus.IN_PROGRESS:
            text = s.pick(texts.CO_RESOLUTIONS)
            s.attempt("co_resolved", event.id, events.resolve, s.session, handler, event.id, text)


def _start(s: _Step) -> None:
    for event in s.due(_with_status(s, EventStatus.ACCEPTED)):
        handler = _lead_handler(s, event)
        if handler is not None:
            note = s.pick(texts.START_NOTES)
            s.attempt("started", event.id, events.start, s.session, handler, event.id, note=note)


def _progress(s: _Step) -> None:
    for event in s.due(_with_status(s, EventStatus.IN_PROGRESS, not_(_took("note")))):
        handler = _lead_handler(s, event)
        if handler is not None:
            note = s.pick(texts.PROGRESS_NOTES)
            s.attempt("noted", event.id, events.add_note, s.session, handler, event.id, note)


def _finish(s: _Step) -> None:
    """Resolve (办结) once the co-handlers are done — or first ask for more time, or wait (the slow)."""
    co_open = exists(
        select(EventAssignment.id).where(
            EventAssignment.event_id == Event.id,
            EventAssignment.role == AssignmentRole.CO,
            EventAssignment.status.in_(OPEN_PART),
        )
    )
    ready = _with_status(
        s,
        EventStatus.IN_PROGRESS,
        _took("note"),
        not_(co_open),
        Event.extension_requested_until.is_(None),
        or_(not_(_in(SLOW_RESOLVE)), Event.resolve_deadline < s.now - SLOW_GRACE),
    )
    for event in s.due(ready):
        handler = _lead_handler(s, event)
        if handler is None:
            continue
        if _has(EXTENSION, event) and not _asked_extension(s, event):
            _ask_extension(s, event, handler)
        else:
            text = _resolution(s, event)
            s.attempt("resolved", event.id, events.resolve, s.session, handler, event.id, text)


def _asked_extension(s: _Step, event: Event) -> bool:
    asked = select(EventAction.id).where(
        EventAction.event_id == event.id, EventAction.action == "request_extension"
    )
    return s.session.scalar(asked.limit(1)) is not None


def _ask_extension(s: _Step, event: Event, handler: Principal) -> None:
    base = max(event.resolve_deadline or s.now, s.now)
    until = deadlines.calendar().add_working_days(base, s.pick((3, 5, 10)))
    reason = s.pick(texts.EXTENSION_REASONS)
    s.attempt(
        "extension_requested", event.id, events.request_extension, s.session, handler, event.id, until, reason
    )


def _resolution(s: _Step, event: Event) -> str:
    path = s.world.category_paths.get(event.category_id or 0, "")
    report = next((r for r in texts.REPORTS if r.category == path), None)
    return s.pick(report.resolutions) if report else "已按职责办理完毕，并向市民反馈。"


def _with_status(
    s: _Step, status: EventStatus, *where: ColumnElement[bool], reported: bool = False
) -> Sequence[Event]:
    return s.session.scalars(
        select(Event)
        .where(Event.status == status, _left_to_staff(reported=reported), *where)
        .order_by(Event.updated_at, Event.id)
        .limit(BATCH)
    ).all()


# ---------------------------------------------------------------- supervision


def _decide_extensions(s: _Step) -> None:
    asking = s.session.scalars(
        select(Event)
        .where(Event.extension_requested_until.is_not(None), Event.status.in_(WORKING), _left_to_staff())
        .order_by(Event.updated_at, Event.id)
        .limit(BATCH)
    ).all()
    for event in s.due(asking):
        approve = s.rng.random() < APPROVE_EXTENSION
        note = s.pick(texts.EXTENSION_APPROVALS if approve else texts.EXTENSION_REJECTIONS)
        action = "extension_approved" if approve else "extension_rejected"
        s.attempt(
            action, event.id, events.decide_extension, s.session, s.cast.supervisor, event.id, approve, note
        )


def _suspend(s: _Step) -> None:
    for event in s.due(_with_status(s, EventStatus.IN_PROGRESS, _in(SUSPENDER), not_(_took("suspend")))):
        principal = s.cast.dispatcher_for(event.district_id)
        reason = s.pick(texts.SUSPEND_REASONS)
        s.attempt("suspended", event.id, events.suspend, s.session, principal, event.id, reason)


def _resume(s: _Step) -> None:
    for event in s.due(_with_status(s, EventStatus.SUSPENDED), RESUME):
        principal = s.cast.dispatcher_for(event.district_id)
        note = s.pick(texts.RESUME_NOTES)
        s.attempt("resumed", event.id, events.resume, s.session, principal, event.id, note)


def _supervise(s: _Step) -> None:
    """督办: press the departments on events past their deadline that nobody pressed yet."""
    overdue = s.session.scalars(
        select(Event)
        .where(
            Event.supervised.is_(False),
            _left_to_staff(),
            or_(
                and_(Event.status == EventStatus.DISPATCHED, Event.sign_deadline < s.now),
                and_(
                    Event.status.in_((EventStatus.ACCEPTED, EventStatus.IN_PROGRESS)),
                    Event.resolve_deadline < s.now,
                ),
            ),
        )
        .order_by(Event.created_at, Event.id)
        .limit(BATCH)
    ).all()
    for event in s.due(overdue, SUPERVISE):
        note = s.pick(texts.SUPERVISE_NOTES)
        s.attempt("supervised", event.id, events.supervise, s.session, s.cast.supervisor, event.id, note)


# The kinds of problem that may be an emergency (a gas leak, a burst main, a fallen tree), by category path.
_HAZARDS = select(Category.id).where(Category.path.in_([r.category for r in texts.REPORTS if r.hazard]))


def _grade(s: _Step) -> None:
    """定级: the centre grades some urgent reports of a kind that may be an emergency; 较大 (Ⅲ) ones are
    supervised from then on."""
    critical = s.session.scalars(
        select(Event)
        .where(
            Event.urgency.in_((Urgency.URGENT, Urgency.CRITICAL)),
            Event.category_id.in_(_HAZARDS),
            Event.grade.is_(None),
            Event.status.in_(WORKING),
            not_(_took("grade")),
            _left_to_staff(),
        )
        .order_by(Event.created_at, Event.id)
        .limit(BATCH)
    ).all()
    for event in s.due(critical, GRADE):
        grade = s.rng.choices(list(GRADES), weights=list(GRADES.values()))[0]
        reason = s.pick(texts.GRADE_REASONS[grade.value])
        principal = s.cast.dispatcher_for(event.district_id)
        s.attempt("graded", event.id, events.grade, s.session, principal, event.id, grade, reason)


# ---------------------------------------------------------------- the call-back


def _caller(s: _Step, event: Event) -> Principal:
    """Who speaks for the reporter: the citizen's own account, else the 12345 call-back, else the centre."""
    if event.reporter_user_id is not None and event.reporter_user_id == s.cast.citizen.user_id:
        return s.cast.citizen
    if event.channel is Channel.HOTLINE:
        return s.cast.operator
    return s.cast.dispatcher_for(event.district_id)


def _rate(s: _Step) -> None:
    for event in s.due(_with_status(s, EventStatus.RESOLVED, reported=True)):
        rating = s.rng.choices(list(RATINGS), weights=list(RATINGS.values()))[0]
        if event.reopen_count:
            rating = max(rating, 3)  # the second time round it was fixed
        comment = s.pick(texts.RATING_COMMENTS[rating])
        s.attempt("rated", event.id, events.rate, s.session, _caller(s, event), event.id, rating, comment)


def _reopen(s: _Step) -> None:
    """Some of the unhappy callers (every other one, by temperament) get their event reopened."""
    unhappy = _with_status(
        s,
        EventStatus.CLOSED,
        Event.created_at >= s.now - RECENT * 5,
        Event.closed_at >= s.now - RECENT,
        Event.rating <= 2,
        Event.reopen_count == 0,
        _bucket() % 2 == 0,
        reported=True,
    )
    for event in s.due(unhappy):
        reason = s.pick(texts.REOPEN_REASONS)
        s.attempt("reopened", event.id, events.reopen, s.session, _caller(s, event), event.id, reason)


STAGES: tuple[Callable[[_Step], None], ...] = (
    _merge_duplicates,
    _dispatch_review_queue,
    _sign,
    _co_handle,
    _start,
    _progress,
    _finish,
    _decide_extensions,
    _suspend,
    _resume,
    _supervise,
    _grade,
    _rate,
    _reopen,
)


# ---------------------------------------------------------------- history


def backfill(
    session_factory: sessionmaker[Session],
    days: int = 7,
    per_day: int = 60,
    *,
    seed: int | None = None,
    until: datetime | None = None,
    dispatch_policy: events.DispatchPolicy | None = None,
) -> dict[str, int]:
    """Simulate the past ``days`` up to ``until`` (default now), about ``per_day`` reports a day.

    Runs one step per two expected reports (about every 48 minutes at 60 a day) with the hub's clock
    frozen at each step, plus the 临期/超期 scan every few hours as the scheduler would have run it. The
    clock is global: run this before the hub's scheduler and API start. Returns the total counts.
    """
    end = until or clock.now()
    start = end - timedelta(days=days)
    ticks = max(days * per_day // REPORTS_PER_TICK, 1)
    interval = (end - start) / ticks
    stream = DemoStream(session_factory, seed=seed, dispatch_policy=dispatch_policy)
    arrivals = random.Random(seed)
    totals: Counter[str] = Counter()
    near = float(Settings.model_fields["near_deadline_fraction"].default)
    for i in range(1, ticks + 1):
        at = start + interval * i
        with _clock_at(at):
            totals.update(stream._step(_arrivals(arrivals, at, per_day, ticks / days)))
            if i % SCAN_EVERY == 0 or i == ticks:
                with unit_of_work(session_factory) as session:
                    deadlines.scan(session, at, near)
    return {action: totals[action] for action in ACTIONS}


def _arrivals(rng: random.Random, at: datetime, per_day: int, ticks_per_day: float) -> int:
    """How many reports arrive at this tick: ``per_day`` a day, spread by hour of day."""
    share = HOURLY[at.astimezone(SHANGHAI).hour] / sum(HOURLY)
    expected = per_day * share * 24 / ticks_per_day
    whole = int(expected)
    return whole + (1 if rng.random() < expected - whole else 0)
