"""The map's sensor layer (``GET /api/v1/sensors``) and the readings behind an event.

Sensors are the registry's reporting entities (types with a ``device_type`` attribute — DV sensors, MT
meters — and entity types that report in their own right, such as pump stations and streetlights), with
their location and health, judged on the hub's clock:

- ``alarming``: an open (active or acknowledged) alert on the device that the principal may read, other
  than the hub's own "device silent" alert;
- ``offline``: never reported (within raw retention), nothing for ``OFFLINE_FACTOR`` × its expected
  interval, or an open "device silent" alert (the sensing stream's own verdict);
- ``stale``: no reading within its expected interval — the shortest ``silent_after`` of the metric
  watches of its device type (``metric_watches``), else ``DEFAULT_EXPECTED_S``;
- ``online``: otherwise.

Health is a SQL expression (the newest reading per metric is an index lookup on the readings' primary
key), so the layer is aggregated by zoom level in the database with the same code as the event layer
(``cityhub.web.service``: zoom levels, cells, the points/cells switch). Nothing here writes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ValidationError
from sqlalchemy import BigInteger, ColumnElement, String, case, exists, func, literal, null, select, true
from sqlalchemy.orm import Session

from cityhub.access import policy
from cityhub.access.principal import Principal
from cityhub.alerts.health import SILENT
from cityhub.entities import types as entity_types
from cityhub.indicators.spec import WatchSpec, seconds
from cityhub.kit.errors import NotFound, Unprocessable
from cityhub.models.alert import OPEN_STATUSES as OPEN_ALERTS
from cityhub.models.alert import Alert
from cityhub.models.area import AreaLevel
from cityhub.models.entity import Entity, EntityStatus
from cityhub.models.indicator import MetricWatch
from cityhub.models.telemetry import Reading
from cityhub.telemetry import catalog
from cityhub.telemetry.repository import to_us
from cityhub.web import service as maps
from cityhub.web.schemas import AreaBrief, SensorAreaCount, SensorLayer, SensorMapOut


class Health(StrEnum):
    ONLINE = "online"
    STALE = "stale"
    ALARMING = "alarming"
    OFFLINE = "offline"


HEALTH_CODES = [str(h) for h in Health]
DEFAULT_EXPECTED_S = 2 * 3600.0
OFFLINE_FACTOR = 4
POINT_FIELDS = ["code", "lon", "lat", "health", "kind", "name", "last"]
CELL_FIELDS = ["lon", "lat", "count", *HEALTH_CODES]

ENTITY_AREA_COLUMN: maps.AreaColumns = {
    AreaLevel.DISTRICT: Entity.district_id,
    AreaLevel.STREET: Entity.street_id,
    AreaLevel.COMMUNITY: Entity.community_id,
    AreaLevel.GRID: Entity.grid_id,
}


@dataclass(frozen=True)
class Kind:
    """A device type of the metric catalogue: its metrics and how often it is expected to report."""

    key: str
    name: str
    metrics: tuple[str, ...]
    expected_s: float


def sensor_types() -> list[str]:
    """Entity type codes that report readings: types with a ``device_type`` attribute, and types that are
    device types of the metric catalogue themselves."""
    types = entity_types.catalogue().types
    with_device_type = {
        code for code, t in types.items() if any(a.name == "device_type" for a in t.attributes)
    }
    return sorted(with_device_type | (set(catalog.device_types()) & set(types)))


def kinds(session: Session) -> dict[str, Kind]:
    """The device types with their expected reporting interval (from the enabled metric watches)."""
    silent_after: dict[str, float] = {}
    for watch in session.scalars(select(MetricWatch).where(MetricWatch.enabled.is_(True))):
        try:
            spec = WatchSpec.model_validate(watch.spec)
        except ValidationError:
            continue  # stored specs were validated on the way in; a bad one must not break the map
        if spec.health is not None and spec.health.silent_after is not None:
            silent_after[spec.metric] = seconds(spec.health.silent_after)
    out: dict[str, Kind] = {}
    for key, device_type in catalog.device_types().items():
        metrics = tuple(device_type.metrics)
        watched = [silent_after[m] for m in metrics if m in silent_after]
        out[key] = Kind(key, device_type.name, metrics, min(watched) if watched else DEFAULT_EXPECTED_S)
    return out


# ---------------------------------------------------------------- health as SQL


def _kind_expr() -> ColumnElement[str]:
    """The device type: the ``device_type`` attribute, else the entity type (as ``devices.device_of``)."""
    return func.coalesce(Entity.attributes["device_type"].as_string(), Entity.type)


def _greatest(session: Session, values: Sequence[ColumnElement[int]]) -> ColumnElement[int]:
    if len(values) == 1:
        return values[0]
    # SQLite's max() of several arguments is the scalar maximum; PostgreSQL calls it greatest().
    name = "greatest" if session.get_bind().dialect.name == "postgresql" else "max"
    return getattr(func, name)(*values)  # type: ignore[no-any-return]


def _newest(metric: str) -> ColumnElement[int]:
    """The newest reading of one metric of the device: one descent of the readings' primary key."""
    newest = (
        select(func.max(Reading.ts))
        .where(Reading.entity_id == Entity.id, Reading.metric == metric)
        .scalar_subquery()
    )
    return func.coalesce(newest, 0)


def _last_reading(session: Session, kinds_: dict[str, Kind], kind: ColumnElement[str]) -> ColumnElement[int]:
    """Microseconds of the device's newest reading of any of its metrics; 0 when it never reported."""
    branches = [
        (kind == key, _greatest(session, [_newest(m) for m in k.metrics]))
        for key, k in kinds_.items()
        if k.metrics
    ]
    if not branches:
        return literal(0, BigInteger)
    return case(*branches, else_=literal(0, BigInteger))


def _cutoff(
    kinds_: dict[str, Kind], kind: ColumnElement[str], now_us: int, factor: float
) -> ColumnElement[int]:
    """Per device type: the time before which its newest reading is too old (``factor`` × expected)."""
    default = now_us - int(DEFAULT_EXPECTED_S * factor * 1e6)
    branches = [
        (kind == key, literal(now_us - int(k.expected_s * factor * 1e6), BigInteger))
        for key, k in kinds_.items()
        if k.expected_s != DEFAULT_EXPECTED_S
    ]
    return case(*branches, else_=literal(default, BigInteger)) if branches else literal(default, BigInteger)


def _open_alert(principal: Principal, silent: bool) -> ColumnElement[bool]:
    kind = Alert.type == SILENT if silent else Alert.type != SILENT
    return exists(
        select(Alert.id).where(
            Alert.device == Entity.code,
            Alert.status.in_(OPEN_ALERTS),
            kind,
            policy.readable_alerts(principal),
        )
    )


def health_expr(
    session: Session, principal: Principal, kinds_: dict[str, Kind], now: datetime
) -> tuple[ColumnElement[str], ColumnElement[int]]:
    """The health of each device (SQL, over ``entities``) and the microseconds of its newest reading."""
    kind = _kind_expr()
    last = _last_reading(session, kinds_, kind)
    now_us = to_us(now)
    health = case(
        (_open_alert(principal, silent=False), literal(str(Health.ALARMING), String)),
        (_open_alert(principal, silent=True), literal(str(Health.OFFLINE), String)),
        (last < _cutoff(kinds_, kind, now_us, OFFLINE_FACTOR), literal(str(Health.OFFLINE), String)),
        (last < _cutoff(kinds_, kind, now_us, 1), literal(str(Health.STALE), String)),
        else_=literal(str(Health.ONLINE), String),
    )
    return health, last


# ---------------------------------------------------------------- the layer


@dataclass(frozen=True)
class SensorFilter:
    area: str | None = None
    health: Collection[Health] = ()
    kind: str | None = None


def sensor_map(
    session: Session, principal: Principal, f: SensorFilter, *, city_code: str | None, now: datetime
) -> SensorMapOut:
    """The sensors within an area at its zoom level: counts per child area by health, the devices as
    points (or per cell above ``service.MAX_POINTS``), and the expected interval per device type."""
    readable = policy.readable_sensors(principal)
    code = f.area or city_code
    if code is None:
        raise Unprocessable("the hub has no city yet: give an area", field="area")
    try:
        z = maps.zoom(session, code)
    except NotFound as exc:
        raise Unprocessable(f"no area with code {code!r}", field="area") from exc
    kinds_ = kinds(session)
    if f.kind is not None and f.kind not in kinds_:
        raise Unprocessable(
            f"unknown device type {f.kind!r} (known: {', '.join(sorted(kinds_))})", field="kind"
        )
    health, last = health_expr(session, principal, kinds_, now)
    kind = _kind_expr()
    where = [
        readable,
        Entity.type.in_(sensor_types()),
        Entity.status == EntityStatus.ACTIVE,
        maps.in_area(z.area, ENTITY_AREA_COLUMN),
    ]
    if f.kind is not None:
        where.append(kind == f.kind)
    child = ENTITY_AREA_COLUMN[z.child_level] if z.child_level else null()
    sensors = (
        select(
            Entity.code.label("code"),
            Entity.name.label("name"),
            Entity.lon.label("lon"),
            Entity.lat.label("lat"),
            kind.label("kind"),
            health.label("health"),
            last.label("last"),
            child.label("child"),
        )
        .where(*where)
        .subquery("sensors")
    )
    c = sensors.c
    wanted = c.health.in_([str(h) for h in f.health]) if f.health else true()
    located = c.lon.is_not(None) & c.lat.is_not(None)
    groups = session.execute(
        select(c.child, located.label("located"), c.health, func.count())
        .where(wanted)
        .group_by(c.child, located, c.health)
    ).all()
    by_health: Counter[str] = Counter()
    per_child: dict[int, Counter[str]] = {}
    total = unlocated = 0
    for child_id, is_located, h, n in groups:
        by_health[str(h)] += n
        if child_id is not None:
            per_child.setdefault(int(child_id), Counter())[str(h)] += n
        if is_located:
            total += n
        else:
            unlocated += n
    layer = _layer(session, sensors, [wanted, located], total, z.cell)
    return SensorMapOut(
        area=AreaBrief(code=z.area.code, name=z.area.name, level=z.area.level),
        path=z.path,
        child_level=z.child_level,
        areas=[_area_count(a, per_child.get(a.id, Counter())) for a in z.children],
        unlocated=unlocated,
        by_health={h: by_health[h] for h in HEALTH_CODES},
        sensors=layer,
        kinds={k.key: k.name for k in kinds_.values()},
        expected_s={k.key: k.expected_s for k in kinds_.values()},
        generated_at=now,
    )


def _area_count(area: Any, counts: Counter[str]) -> SensorAreaCount:
    return SensorAreaCount(
        code=area.code,
        name=area.name,
        center=maps.centre(area),
        total=sum(counts.values()),
        by_health={h: counts[h] for h in HEALTH_CODES},
    )


def _layer(
    session: Session, sensors: Any, where: list[ColumnElement[bool]], total: int, cell: float
) -> SensorLayer:
    c = sensors.c
    if total > maps.MAX_POINTS:
        counts = [func.count(), *(func.sum(case((c.health == h, 1), else_=0)) for h in HEALTH_CODES)]
        grouped = maps.cells(session, c.lon, c.lat, cell, counts, where)
        out = [[lon, lat, *(int(n or 0) for n in rest)] for lon, lat, *rest in grouped]
        return SensorLayer(mode="cells", fields=CELL_FIELDS, rows=out, total=total, cell=cell)
    rows = session.execute(
        select(c.code, c.lon, c.lat, c.health, c.kind, c.name, c.last).where(*where).order_by(c.code)
    ).all()
    health_index = {h: i for i, h in enumerate(HEALTH_CODES)}
    kind_codes = sorted({str(r.kind) for r in rows})
    kind_index = {k: i for i, k in enumerate(kind_codes)}
    points = [
        [
            r.code,
            round(r.lon, 5),
            round(r.lat, 5),
            health_index[str(r.health)],
            kind_index[str(r.kind)],
            r.name,
            int(r.last) // 1_000_000 if r.last else None,
        ]
        for r in rows
    ]
    return SensorLayer(
        mode="points",
        fields=POINT_FIELDS,
        rows=points,
        total=total,
        codes={"health": HEALTH_CODES, "kind": kind_codes},
    )
