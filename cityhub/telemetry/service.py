"""Telemetry for principals: ingest batches, read series, list and replay dead letters."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from cityhub.access import policy
from cityhub.access.principal import Principal
from cityhub.access.reveal import READ_PERSONAL_DATA
from cityhub.audit.hooks import record
from cityhub.entities import service as entities
from cityhub.entities import types as entity_types
from cityhub.kit.errors import Forbidden, NotFound, PayloadTooLarge, TooManyRequests, Unprocessable
from cityhub.kit.timeutil import clock
from cityhub.models.entity import Entity, EntityRelation
from cityhub.models.telemetry import DeadLetter, DeadLetterStatus, Resolution
from cityhub.telemetry import catalog, ingest, repository
from cityhub.telemetry.devices import device_of
from cityhub.telemetry.schemas import SeriesOut, SeriesPoint

NDJSON = "application/x-ndjson"


class InflightLimit:
    """A bound on the readings being processed at once in this process; beyond it callers get 429."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._used = 0
        self._lock = threading.Lock()

    def try_acquire(self, n: int) -> bool:
        with self._lock:
            if self._used + n > self.capacity:
                return False
            self._used += n
            return True

    def release(self, n: int) -> None:
        with self._lock:
            self._used -= n


def parse_body(body: bytes, content_type: str) -> list[Any]:
    """A JSON array (or one object), or NDJSON lines (a line that is not JSON stays, malformed)."""
    if content_type.split(";")[0].strip().lower() == NDJSON:
        return [ingest.parse_line(line) for line in body.splitlines() if line.strip()]
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Unprocessable(f"the body is not JSON: {exc}; send an array of readings or NDJSON") from exc
    if isinstance(doc, dict):
        return [doc]
    if not isinstance(doc, list):
        raise Unprocessable("the body must be a JSON array of readings (or one reading, or NDJSON lines)")
    return doc


def ingest_batch(
    session: Session,
    principal: Principal,
    items: list[Any],
    *,
    channel: ingest.Channel,
    limits: ingest.Limits,
    limiter: InflightLimit | None = None,
) -> ingest.Outcome:
    """Check and store a batch as ``principal`` (a gateway); 429 at the in-flight bound."""
    policy.authorize(principal, "telemetry.ingest")
    if limiter is not None:
        if len(items) > limiter.capacity:
            raise PayloadTooLarge(f"at most {limiter.capacity} readings per request; split the batch")
        if not limiter.try_acquire(len(items)):
            raise TooManyRequests("the hub is at its ingest limit; retry shortly", retry_after=1)
    try:
        return ingest.ingest(
            session, items, channel=channel, source=principal.username, now=clock.now(), limits=limits
        )
    finally:
        if limiter is not None:
            limiter.release(len(items))


# ---------------------------------------------------------------- series


@dataclass(frozen=True)
class SeriesQuery:
    device: str
    metric: str
    since: datetime
    until: datetime
    resolution: str = "raw"
    limit: int = 10_000


PERSONAL_SERIES = "POST /api/v1/telemetry/series/personal"


def series(session: Session, principal: Principal, q: SeriesQuery) -> SeriesOut:
    """Readings of one metric of one device in a window, raw or as 1-minute / 1-hour rollups. A meter that
    serves a registered person is read only with a purpose (:func:`personal_series`): 403 naming it."""
    entity, personal, unit = _target(session, principal, q)
    if personal:
        raise Forbidden(
            f"{entity.code} serves a registered person: its readings are read with a purpose, "
            f"{PERSONAL_SERIES} with these parameters and a purpose (e.g. 关爱探视); the read is audited",
            code="purpose_required",
            endpoint=PERSONAL_SERIES,
        )
    return _read(session, entity, unit, q)


def personal_series(session: Session, principal: Principal, q: SeriesQuery, purpose: str) -> SeriesOut:
    """The readings of a meter that serves a registered person, for a grid worker of the person's community
    (the policy's rule: 404 for everyone else), who says why: the read and its purpose are audited
    (PIPL Art. 28). A device that serves nobody holds no personal data: 422, read it as any series."""
    entity, personal, unit = _target(session, principal, q)
    if not personal:
        raise Unprocessable(
            f"{entity.code} serves no registered person: nothing to ask for, read it with "
            "GET /api/v1/telemetry/series",
            field="device",
        )
    out = _read(session, entity, unit, q)
    _audit_personal_read(session, principal, entity, q, purpose)
    return out


def _target(session: Session, principal: Principal, q: SeriesQuery) -> tuple[Entity, bool, str]:
    """The device this principal may read readings of, whether they are a person's, and the metric's unit."""
    policy.authorize(principal, "telemetry.read")
    entity = entities.get(session, principal, q.device)
    if q.until <= q.since:
        raise Unprocessable("until must be after since", field="until")
    personal = _readable(session, principal, entity)
    device_type = catalog.get(device_of(entity).kind)
    spec = device_type.metrics.get(q.metric) if device_type else None
    if spec is None:
        known = ", ".join(device_type.metrics) if device_type else "none"
        raise Unprocessable(
            f"{entity.code} does not report {q.metric!r} (it reports: {known})", field="metric"
        )
    return entity, personal, spec.unit


def _read(session: Session, entity: Entity, unit: str, q: SeriesQuery) -> SeriesOut:
    if q.resolution == "raw":
        raw = repository.window(session, entity.id, q.metric, q.since, q.until, q.limit + 1)
        points = [SeriesPoint(ts=p.ts, value=p.value) for p in raw]
    else:
        resolution = Resolution(q.resolution)
        rows = repository.rollups(session, entity.id, q.metric, resolution, q.since, q.until, q.limit + 1)
        points = [
            SeriesPoint(
                ts=repository.from_us(r.bucket),
                min=r.min,
                max=r.max,
                avg=r.sum / r.count if r.count else None,
                count=r.count,
                last=r.last,
            )
            for r in rows
        ]
    return SeriesOut(
        device=entity.code,
        metric=q.metric,
        unit=unit,
        resolution=q.resolution,
        points=points[: q.limit],
        truncated=len(points) > q.limit,
    )


def _readable(session: Session, principal: Principal, entity: Entity) -> bool:
    """Whether the device's readings are a registered person's (the policy decides who reads them: 404 for
    everyone else, as for anything hidden)."""
    personal = session.scalar(
        select(policy.serves_registered_person()).where(
            Entity.id == entity.id, policy.readable_readings(principal)
        )
    )
    if personal is None:
        raise NotFound(f"no readings of {entity.code}")
    return bool(personal)


def _audit_personal_read(
    session: Session, principal: Principal, entity: Entity, q: SeriesQuery, purpose: str
) -> None:
    """What was read (device, metric, window), whose, and the reader's purpose — not the values."""
    people = session.scalars(
        select(Entity.code)
        .join(EntityRelation, EntityRelation.target_id == Entity.id)
        .where(EntityRelation.source_id == entity.id, Entity.type.in_(entity_types.personal_types()))
        .order_by(Entity.code)
    ).all()
    record(
        session,
        principal,
        READ_PERSONAL_DATA,
        "telemetry_readings",
        str(entity.id),
        {
            "device": entity.code,
            "metric": q.metric,
            "resolution": q.resolution,
            "since": q.since.isoformat(),
            "until": q.until.isoformat(),
            "people": list(people),
        },
        purpose=purpose,
    )


# ---------------------------------------------------------------- dead letters


@dataclass(frozen=True)
class DeadLetterFilter:
    ids: Sequence[int] | None = None
    reason: str | None = None
    device: str | None = None
    channel: str | None = None
    status: DeadLetterStatus | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.ids is not None:
            out.append(DeadLetter.id.in_(list(self.ids)))
        if self.reason:
            out.append(DeadLetter.reason == self.reason)
        if self.device:
            out.append(DeadLetter.device == self.device.strip().upper())
        if self.channel:
            out.append(DeadLetter.channel == self.channel)
        if self.status:
            out.append(DeadLetter.status == self.status)
        if self.since:
            out.append(DeadLetter.received_at >= self.since)
        if self.until:
            out.append(DeadLetter.received_at < self.until)
        return out


def dead_letters(
    session: Session, principal: Principal, f: DeadLetterFilter, *, limit: int, offset: int
) -> tuple[Sequence[DeadLetter], int]:
    """Rejected readings, newest first, with filters."""
    policy.authorize(principal, "telemetry.dead_letters")
    query = select(DeadLetter).where(*f.where())
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(DeadLetter.id.desc()).limit(limit).offset(offset)).all()
    return rows, total


def replay(
    session: Session, principal: Principal, f: DeadLetterFilter, *, limits: ingest.Limits, limit: int = 10_000
) -> tuple[int, list[tuple[DeadLetter, ingest.Rejection]]]:
    """Run pending dead letters through the ingest checks again (after the device, metric or clock was fixed).

    Accepted ones are stored and marked replayed; the others keep their place with the new reason.
    """
    policy.authorize(principal, "telemetry.dead_letters")
    pending = DeadLetterFilter(**{**f.__dict__, "status": DeadLetterStatus.PENDING})
    letters = session.scalars(
        select(DeadLetter).where(*pending.where()).order_by(DeadLetter.id).limit(limit)
    ).all()
    items = [_raw_item(letter.raw) for letter in letters]
    now = clock.now()
    checked = ingest.check(session, items, now, limits)
    duplicates = repository.insert_readings(session, checked.rows)
    failed = {r.index: r for r in checked.rejections}
    for row, index in zip(checked.rows, checked.indexes, strict=True):
        if row[:3] in duplicates:
            failed[index] = ingest.Rejection(index, ingest.Reason.DUPLICATE, "already stored", items[index])
    ingest.publish(session, checked, duplicates)
    still: list[tuple[DeadLetter, ingest.Rejection]] = []
    for index, letter in enumerate(letters):
        letter.attempts += 1
        rejection = failed.get(index)
        if rejection is None:
            letter.status, letter.replayed_at = DeadLetterStatus.REPLAYED, now
        else:
            letter.reason, letter.detail = str(rejection.reason), rejection.detail
            still.append((letter, rejection))
    session.flush()
    return len(letters) - len(still), still


def _raw_item(raw: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


def window_bounds(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """Default window: the last 24 hours."""
    end = until or clock.now()
    start = since or end - timedelta(days=1)
    if start.tzinfo is None or end.tzinfo is None:
        raise Unprocessable("since and until need a UTC offset (e.g. 2026-11-21T08:00:00+08:00)")
    if not (math.isfinite(start.timestamp()) and math.isfinite(end.timestamp())):
        raise Unprocessable("since/until out of range")
    return start, end
