"""The readings behind an event: the sensor series of the alerts and linkage rules that raised it, for the
event page's chart (read from ``GET /api/v1/telemetry/series``, or with a purpose from
``POST /api/v1/telemetry/series/personal`` for a registered person's meter). Nothing here writes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.access import policy
from cityhub.access.principal import Principal
from cityhub.kit.errors import Forbidden
from cityhub.models.alert import Alert, RuleFiring
from cityhub.models.entity import Entity
from cityhub.models.event import Event
from cityhub.telemetry import catalog
from cityhub.telemetry.devices import device_of
from cityhub.web.schemas import SeriesRef

MAX_SERIES = 6
BEFORE = timedelta(hours=6)
AFTER = timedelta(hours=6)
MIN_WINDOW = timedelta(hours=24)
MAX_WINDOW = timedelta(days=7)
RAW_UP_TO = timedelta(days=2)


def series_refs(session: Session, principal: Principal, event: Event, now: datetime) -> list[SeriesRef]:
    """The sensor series behind an event raised from alerts or linkage rules: the devices and metrics of
    its readable alerts (the alert's own device and the readings in its evidence, one alert deep) and of
    the rule firings that created it, with a window around the alerts, to read from the telemetry series
    endpoints. Only series this principal may read; empty for roles that may not read telemetry."""
    try:
        policy.authorize(principal, "telemetry.read")
    except Forbidden:
        return []
    readable = policy.readable_alerts(principal)
    alerts = list(session.scalars(select(Alert).where(Alert.event_id == event.id, readable)))
    evidence: list[Any] = [item for a in alerts for item in (a.evidence or [])]
    for firing in session.scalars(select(RuleFiring).where(RuleFiring.event_id == event.id)):
        conditions = (firing.evidence or {}).get("conditions", [])
        evidence.extend(conditions if isinstance(conditions, list) else [])
    cited = {int(e["alert"]) for e in evidence if isinstance(e, dict) and isinstance(e.get("alert"), int)}
    cited -= {a.id for a in alerts}
    if cited:
        alerts += list(session.scalars(select(Alert).where(Alert.id.in_(sorted(cited)), readable)))
        evidence += [item for a in alerts if a.id in cited for item in (a.evidence or [])]
    wanted: dict[tuple[str, str | None], None] = {}
    for a in alerts:
        if a.device:
            wanted[(a.device, a.metric)] = None
    for item in evidence:
        if isinstance(item, dict) and isinstance(item.get("device"), str):
            metric = item.get("metric")
            wanted[(item["device"], metric if isinstance(metric, str) else None)] = None
    if not wanted:
        return []
    since, until = _window(alerts, event, now)
    resolution = "raw" if until - since <= RAW_UP_TO else "1h"
    return _refs(session, principal, wanted, since, until, resolution)


def _window(alerts: Sequence[Alert], event: Event, now: datetime) -> tuple[datetime, datetime]:
    first = min((a.first_seen for a in alerts), default=event.created_at)
    last = max((a.cleared_at or a.last_seen for a in alerts), default=event.created_at)
    until = min(now, last + AFTER)
    since = max(min(first - BEFORE, until - MIN_WINDOW), until - MAX_WINDOW)
    return since, until


def _refs(
    session: Session,
    principal: Principal,
    wanted: Iterable[tuple[str, str | None]],
    since: datetime,
    until: datetime,
    resolution: str,
) -> list[SeriesRef]:
    pairs = list(wanted)
    codes = sorted({device for device, _ in pairs})
    # Only devices whose readings this principal may read; a registered person's meter is marked, for it is
    # read with a purpose (POST /telemetry/series/personal).
    rows = session.execute(
        select(Entity, policy.serves_registered_person()).where(
            Entity.code.in_(codes), policy.readable_entities(principal), policy.readable_readings(principal)
        )
    )
    entities = {e.code: (e, bool(personal)) for e, personal in rows}
    out: list[SeriesRef] = []
    for device, metric in pairs:
        entity, personal = entities.get(device, (None, False))
        device_type = catalog.get(device_of(entity).kind) if entity is not None else None
        if entity is None or device_type is None:
            continue
        # An alert without a metric (a rule scoped to the device) shows every metric the device reports.
        metrics = [metric] if metric is not None else list(device_type.metrics)
        for m in metrics:
            spec = device_type.metrics.get(m)
            ref = SeriesRef(
                device=entity.code,
                name=entity.name,
                metric=m,
                unit=spec.unit if spec else "",
                since=since,
                until=until,
                resolution=resolution,
                personal=personal,
            )
            if spec is not None and ref not in out:
                out.append(ref)
    return out[:MAX_SERIES]
