"""What the dashboard reads: map payloads aggregated by zoom level, today's figures, an event's relatives.

Every event read goes through ``policy.readable_events``: a handler's map shows the events of its
department, a district dispatcher's its district. Areas themselves are not secret (any logged-in user
may read the area tree). Nothing here writes.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Integer, String, case, cast, func, select, true, type_coerce
from sqlalchemy.orm import InstrumentedAttribute, Session

from cityhub import __version__
from cityhub.access import policy
from cityhub.access.principal import Principal
from cityhub.events import service as events
from cityhub.events import states, views
from cityhub.events.schemas import EventPage
from cityhub.geo import service as geo
from cityhub.kit.errors import NotFound
from cityhub.kit.settings import Mode, Settings
from cityhub.models.area import Area, AreaLevel
from cityhub.models.event import Channel, DeadlineState, Event, EventStatus, Urgency
from cityhub.models.org import User
from cityhub.web import readings
from cityhub.web.schemas import (
    AreaBrief,
    AreaCount,
    DemoLogin,
    EventLayer,
    HeatLayer,
    MapOut,
    RelatedOut,
    SummaryOut,
    UiConfig,
)

OPEN_STATUSES = tuple(s for s in EventStatus if s.is_open)
# Citizens' own reports make the complaint heat map; sensors, video AI and grid patrols are not complaints.
COMPLAINT_CHANNELS = (Channel.HOTLINE, Channel.APP, Channel.OPEN311)
# Above this many open events in view the markers are counted per cell instead of sent one by one.
MAX_POINTS = 20_000
POINT_FIELDS = ["id", "lon", "lat", "status", "urgency", "deadline_state"]
POINT_CODES = {
    "status": [str(s) for s in OPEN_STATUSES],
    "urgency": [str(u) for u in Urgency],
    "deadline_state": [str(d) for d in DeadlineState],
}
CELL_FIELDS = ["lon", "lat", "count", "critical", "urgent", "overdue"]
HEAT_FIELDS = ["lon", "lat", "count"]

_EVENT_AREA_COLUMN = {
    AreaLevel.DISTRICT: Event.district_id,
    AreaLevel.STREET: Event.street_id,
    AreaLevel.COMMUNITY: Event.community_id,
    AreaLevel.GRID: Event.grid_id,
}
# Zoom levels: what the map of an area shows (district → street → grid; communities are skipped, since a
# street's grids are what its people manage), and the cell size of the aggregated layers, in degrees.
CHILD_LEVEL: dict[AreaLevel, AreaLevel | None] = {
    AreaLevel.CITY: AreaLevel.DISTRICT,
    AreaLevel.DISTRICT: AreaLevel.STREET,
    AreaLevel.STREET: AreaLevel.GRID,
    AreaLevel.COMMUNITY: AreaLevel.GRID,
    AreaLevel.GRID: None,
}
CELL_DEGREES: dict[AreaLevel, float] = {
    AreaLevel.CITY: 0.01,
    AreaLevel.DISTRICT: 0.004,
    AreaLevel.STREET: 0.001,
    AreaLevel.COMMUNITY: 0.001,
    AreaLevel.GRID: 0.0005,
}

# The optional APIs the screens plug into when another domain serves them.
FEATURE_PATHS = {
    "alerts": "/api/v1/alerts",
    "indicators": "/api/v1/indicators/summary",
    "hotspots": "/api/v1/hotspots",
    "sensors": "/api/v1/sensors",
}
# The operations of those APIs the screens offer: route template → (method, a concrete path to probe).
OPTIONAL_OPERATIONS = {
    "/api/v1/alerts": ("GET", "/api/v1/alerts"),
    "/api/v1/alerts/{alert_id}/acknowledge": ("POST", "/api/v1/alerts/1/acknowledge"),
    "/api/v1/alerts/{alert_id}/clear": ("POST", "/api/v1/alerts/1/clear"),
    "/api/v1/indicators/summary": ("GET", "/api/v1/indicators/summary"),
    "/api/v1/hotspots": ("GET", "/api/v1/hotspots"),
    "/api/v1/sensors": ("GET", "/api/v1/sensors"),
}


# ---------------------------------------------------------------- configuration


def served(serves: Callable[[str, str], bool]) -> list[str]:
    """The optional operations the running app serves (``serves(method, path)`` asks its router)."""
    return [template for template, (method, path) in OPTIONAL_OPERATIONS.items() if serves(method, path)]


def features(paths: Collection[str]) -> dict[str, bool]:
    """Which optional APIs the running app serves, from the routes it serves."""
    return {name: path in paths for name, path in FEATURE_PATHS.items()}


def config(session: Session, settings: Settings, paths: Collection[str]) -> UiConfig:
    city = session.scalar(select(Area).where(Area.level == AreaLevel.CITY).order_by(Area.code).limit(1))
    return UiConfig(
        version=__version__,
        mode=str(settings.mode),
        timezone=settings.timezone,
        city=_brief(city) if city else None,
        features=features(paths),
        optional_paths=sorted(paths),
        demo_users=_demo_logins(session) if settings.mode is Mode.DEMO else [],
    )


def city_code(session: Session) -> str | None:
    """The code of the hub's city (the first city-level area), if it has one."""
    return session.scalar(select(Area.code).where(Area.level == AreaLevel.CITY).order_by(Area.code).limit(1))


def _demo_logins(session: Session) -> list[DemoLogin]:
    from cityhub.sim.seed import DEMO_USERNAMES  # only a demo hub needs the demo city's account list

    users = session.scalars(
        select(User).where(User.username.in_(DEMO_USERNAMES), User.active.is_(True)).order_by(User.id)
    )
    return [
        DemoLogin(username=u.username, role=u.role, role_label=u.role.label, display_name=u.display_name)
        for u in users
        if u.password_hash
    ]


def _brief(area: Area) -> AreaBrief:
    return AreaBrief(code=area.code, name=area.name, level=area.level)


def centre(area: Area) -> tuple[float, float] | None:
    """Where a map puts an area's label and count: its stored centre, if it has one."""
    if area.center_lon is None or area.center_lat is None:
        return None
    return (area.center_lon, area.center_lat)


# ---------------------------------------------------------------- the map


@dataclass(frozen=True)
class Zoom:
    """What a map of one area shows: the area, the level and areas of the next zoom level, the cell size of
    the aggregated layers and the path from the city down. Every map layer (events, heat, sensors) uses it."""

    area: Area
    child_level: AreaLevel | None
    children: list[Area]
    cell: float
    path: list[AreaBrief]


def zoom(session: Session, code: str) -> Zoom:
    area = geo.get_area(session, code)
    child_level = CHILD_LEVEL[area.level]
    return Zoom(
        area=area,
        child_level=child_level,
        children=_descendants(session, area, child_level) if child_level else [],
        cell=CELL_DEGREES[area.level],
        path=[_brief(a) for a in reversed(geo.ancestors(session, area))],
    )


def map_view(session: Session, principal: Principal, code: str, *, heat_days: int, now: datetime) -> MapOut:
    """The map of area ``code``: its child areas (at the next zoom level) with open-event counts, the
    open events as markers (or cells when there are many) and the complaint heat map."""
    z = zoom(session, code)
    area = z.area
    readable = policy.readable_events(principal)
    scope = in_area(area)
    counts = _area_counts(session, [readable, scope], z.child_level, z.children)
    unlocated = 0
    if area.level is AreaLevel.CITY:
        unlocated = _count(session, readable, _open(), Event.district_id.is_(None))
    return MapOut(
        area=_brief(area),
        path=z.path,
        child_level=z.child_level,
        areas=counts,
        unlocated=unlocated,
        events=_event_layer(session, [readable, scope], z.cell),
        heat=_heat_layer(session, [readable, scope], z.cell, heat_days, now),
        generated_at=now,
    )


AreaColumns = Mapping[AreaLevel, InstrumentedAttribute[int | None]]


def in_area(area: Area, columns: AreaColumns = _EVENT_AREA_COLUMN) -> ColumnElement[bool]:
    """Rows within ``area``, through the area columns of their table (level → column; events by default)."""
    if area.level is AreaLevel.CITY:
        return true()
    return columns[area.level] == area.id


def _open() -> ColumnElement[bool]:
    return Event.status.in_(OPEN_STATUSES)


def _descendants(session: Session, area: Area, level: AreaLevel) -> list[Area]:
    """The areas of ``level`` below ``area`` (through the levels between), ordered by code."""
    frontier: list[Area] = [area]
    while frontier and frontier[0].level.depth < level.depth:
        parents = [a.id for a in frontier]
        frontier = list(session.scalars(select(Area).where(Area.parent_id.in_(parents)).order_by(Area.code)))
    return [a for a in frontier if a.level is level]


def _count(session: Session, *where: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count(Event.id)).where(*where)) or 0)


def _area_counts(
    session: Session,
    where: list[ColumnElement[bool]],
    level: AreaLevel | None,
    children: Sequence[Area],
) -> list[AreaCount]:
    if level is None:
        return []
    column = _EVENT_AREA_COLUMN[level]
    rows = session.execute(
        select(column, Event.status, Event.urgency, Event.deadline_state, func.count(Event.id))
        .where(*where, _open(), column.is_not(None))
        .group_by(column, Event.status, Event.urgency, Event.deadline_state)
    ).all()
    per_area: dict[int, list[tuple[Any, ...]]] = {}
    for row in rows:
        per_area.setdefault(int(row[0] or 0), []).append(tuple(row))
    return [_area_count(child, per_area.get(child.id, [])) for child in children]


def _area_count(area: Area, rows: Sequence[tuple[Any, ...]]) -> AreaCount:
    by_status: Counter[str] = Counter()
    by_urgency: Counter[str] = Counter()
    deadlines: Counter[str] = Counter()
    for _area_id, status, urgency, deadline_state, n in rows:
        by_status[str(status)] += n
        by_urgency[str(urgency)] += n
        deadlines[str(deadline_state)] += n
    return AreaCount(
        code=area.code,
        name=area.name,
        center=centre(area),
        open=sum(by_status.values()),
        overdue=deadlines[DeadlineState.OVERDUE],
        near=deadlines[DeadlineState.NEAR],
        by_status=dict(by_status),
        by_urgency=dict(by_urgency),
    )


def cells(
    session: Session, lon: Any, lat: Any, cell: float, values: Sequence[Any], where: Sequence[Any]
) -> list[list[Any]]:
    """The aggregated layers' rows: per grid cell of ``cell`` degrees, its centre (lon, lat) followed by
    ``values`` (aggregates such as counts) over the rows matching ``where``."""
    ix, iy = _cell_index(session, lon, 180.0, cell), _cell_index(session, lat, 90.0, cell)
    rows = session.execute(select(ix, iy, *values).where(*where).group_by(ix, iy)).all()
    return [[*_cell_centre(x, y, cell), *rest] for x, y, *rest in rows]


def _cell_index(session: Session, column: Any, offset: float, cell: float) -> ColumnElement[int]:
    """The grid cell of a coordinate (shifted to be positive). PostgreSQL rounds a cast to integer where
    SQLite truncates, so PostgreSQL takes floor() and SQLite the cast of a positive number."""
    shifted = (column + offset) / cell
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(shifted), Integer)
    return cast(shifted, Integer)


def _event_layer(session: Session, where: list[ColumnElement[bool]], cell: float) -> EventLayer:
    located = [*where, _open(), Event.lon.is_not(None), Event.lat.is_not(None)]
    total = _count(session, *located)
    if total <= MAX_POINTS:
        return _points(session, located, total)
    counts = [
        func.count(Event.id),
        func.sum(case((Event.urgency == "critical", 1), else_=0)),
        func.sum(case((Event.urgency == "urgent", 1), else_=0)),
        func.sum(case((Event.deadline_state == DeadlineState.OVERDUE, 1), else_=0)),
    ]
    rows = cells(session, Event.lon, Event.lat, cell, counts, located)
    out = [[lon, lat, *(int(n or 0) for n in rest)] for lon, lat, *rest in rows]
    return EventLayer(mode="cells", fields=CELL_FIELDS, rows=out, total=total, cell=cell)


def _points(session: Session, located: list[ColumnElement[bool]], total: int) -> EventLayer:
    """One row per event; status, urgency and deadline state as indexes into ``codes`` (half the bytes)."""
    # Plain strings from the table's columns: converting 10 000 rows to enums costs more than the query.
    c = Event.__table__.c
    rows = session.execute(
        select(
            c.id,
            c.lon,
            c.lat,
            type_coerce(c.status, String),
            type_coerce(c.urgency, String),
            type_coerce(c.deadline_state, String),
        )
        .where(*located)
        .order_by(c.id)
    ).all()
    index = {name: {code: i for i, code in enumerate(codes)} for name, codes in POINT_CODES.items()}
    status, urgency, deadline = index["status"], index["urgency"], index["deadline_state"]
    points = [
        [i, round(lon, 5), round(lat, 5), status[s], urgency[u], deadline[d]] for i, lon, lat, s, u, d in rows
    ]
    return EventLayer(mode="points", fields=POINT_FIELDS, rows=points, total=total, codes=POINT_CODES)


def _cell_centre(ix: int, iy: int, cell: float) -> tuple[float, float]:
    return round((ix + 0.5) * cell - 180.0, 5), round((iy + 0.5) * cell - 90.0, 5)


def _heat_layer(
    session: Session, where: list[ColumnElement[bool]], cell: float, days: int, now: datetime
) -> HeatLayer:
    recent = [
        *where,
        Event.channel.in_(COMPLAINT_CHANNELS),
        Event.created_at >= now - timedelta(days=days),
        Event.lon.is_not(None),
        Event.lat.is_not(None),
    ]
    rows = cells(session, Event.lon, Event.lat, cell, [func.count(Event.id)], recent)
    return HeatLayer(
        days=days, cell=cell, fields=HEAT_FIELDS, rows=[[lon, lat, float(n)] for lon, lat, n in rows]
    )


def grids_geojson(session: Session, code: str) -> dict[str, Any]:
    """The grid boundaries below an area (a street's grids lie under its communities)."""
    area = geo.get_area(session, code)
    if area.level is AreaLevel.GRID:
        return geo.feature_collection(geo.with_boundaries(session, Area.id == area.id))
    grids = [a.id for a in _descendants(session, area, AreaLevel.GRID)]
    return geo.feature_collection(geo.with_boundaries(session, Area.id.in_(grids)))


# ---------------------------------------------------------------- today's figures


def summary(
    session: Session, principal: Principal, area_code: str | None, *, now: datetime, tz: ZoneInfo
) -> SummaryOut:
    """Today's intake (local day) and the open events, within an area when one is given."""
    area = geo.get_area(session, area_code) if area_code else None
    where = [policy.readable_events(principal), in_area(area) if area else true()]
    local = now.astimezone(tz)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    is_open = _open()

    def since_start(column: Any) -> ColumnElement[int]:
        return func.sum(case((column >= start, 1), else_=0))

    def where_open(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.sum(case((is_open & condition, 1), else_=0))

    waiting = Event.status.in_(tuple(states.WAITING))
    figures = session.execute(
        select(
            since_start(Event.created_at),
            since_start(Event.dispatched_at),
            since_start(Event.resolved_at),
            since_start(Event.closed_at),
            func.sum(case((is_open, 1), else_=0)),
            where_open(Event.deadline_state == DeadlineState.OVERDUE),
            where_open(Event.deadline_state == DeadlineState.NEAR),
            func.sum(case((Event.needs_review & waiting, 1), else_=0)),
            where_open(Event.supervised.is_(True)),
        ).where(*where)
    ).one()
    intake, dispatched, resolved, closed, open_, overdue, near, review, supervised = (
        int(x or 0) for x in figures
    )
    by_status = session.execute(
        select(Event.status, func.count(Event.id)).where(*where, is_open).group_by(Event.status)
    ).all()
    by_channel = session.execute(
        select(Event.channel, func.count(Event.id))
        .where(*where, Event.created_at >= start)
        .group_by(Event.channel)
    ).all()
    return SummaryOut(
        day=local.date(),
        area=_brief(area) if area else None,
        intake_today=intake,
        dispatched_today=dispatched,
        resolved_today=resolved,
        closed_today=closed,
        open=open_,
        overdue=overdue,
        near=near,
        review_queue=review,
        supervised_open=supervised,
        by_status={str(s): int(n) for s, n in by_status},
        by_channel_today={str(c): int(n) for c, n in by_channel},
    )


# ---------------------------------------------------------------- worklists


def extension_requests(session: Session, principal: Principal, *, limit: int, offset: int) -> EventPage:
    """Open events whose department asked for more time (延期) and waits for a decision, oldest first."""
    where = [
        policy.readable_events(principal),
        Event.extension_requested_until.is_not(None),
        Event.status.in_(tuple(states.WORKING)),
    ]
    total = _count(session, *where)
    rows = session.scalars(
        select(Event).where(*where).order_by(Event.updated_at, Event.id).limit(limit).offset(offset)
    ).all()
    return EventPage(items=views.page(session, principal, rows), total=total, limit=limit, offset=offset)


# ---------------------------------------------------------------- an event's relatives


def related(session: Session, principal: Principal, event_id: int, *, now: datetime) -> RelatedOut:
    """The duplicates merged into the event and the event it was merged into, as far as readable."""
    event = events.get(session, principal, event_id)
    duplicates = list(
        session.scalars(
            select(Event)
            .where(Event.merged_into_id == event.id, policy.readable_events(principal))
            .order_by(Event.created_at)
        )
    )
    target = None
    if event.merged_into_id is not None:
        try:
            target = events.get(session, principal, event.merged_into_id)
        except NotFound:
            target = None  # merged into an event this principal may not see
    pages = views.page(session, principal, [*duplicates, *([target] if target else [])])
    return RelatedOut(
        duplicates=pages[: len(duplicates)],
        merged_into=pages[-1] if target else None,
        alerts=_alerts_of(session, principal, event.id),
        readings=readings.series_refs(session, principal, event, now),
    )


def _alerts_of(session: Session, principal: Principal, event_id: int) -> list[dict[str, Any]] | None:
    """Alerts linked to the event that the principal may read; None while the hub has no alerts domain.
    Looked up, not imported: the dashboard runs with or without the sensing domains."""
    readable_alerts = getattr(policy, "readable_alerts", None)
    try:
        alert = importlib.import_module("cityhub.models.alert").Alert
    except (ImportError, AttributeError):
        return None
    if readable_alerts is None:
        return None
    rows = session.scalars(
        select(alert).where(alert.event_id == event_id, readable_alerts(principal)).order_by(alert.first_seen)
    )
    return [
        {
            "id": a.id,
            "title": a.title,
            "level": str(a.level),
            "status": str(a.status),
            "first_seen": a.first_seen.isoformat(),
            "last_seen": a.last_seen.isoformat(),
        }
        for a in rows
    ]
