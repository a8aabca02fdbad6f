"""Rollups (raw → 1 min → 1 h) and retention, run as scheduler jobs.

Ingest marks every minute it wrote into (``telemetry_dirty_minutes``, late data included). The rollup job
claims dirty minutes and recomputes them completely from the raw readings — delete and insert, so a rerun
gives the same answer — then recomputes the hours that contain them from the minute rollups. Claiming and
recomputing happen in one transaction: a reading committed meanwhile marks its minute dirty again.
Retention deletes raw readings after N days, minute rollups after M days and dead letters (rejected
readings, pending or replayed) after K days, in hour-sized steps along the ``ts`` and ``received_at``
indexes; hour rollups are kept forever.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

from cityhub.kit.settings import Settings
from cityhub.models.telemetry import DeadLetter, DirtyMinute, Reading, Resolution, Rollup
from cityhub.telemetry.repository import to_us

MINUTE = Resolution.MINUTE.micros
HOUR = Resolution.HOUR.micros
MAX_MINUTES_PER_RUN = 20_000
MAX_RETENTION_STEPS = 24 * 30

# Bucket sizes are literals, not parameters: PostgreSQL must see the same GROUP BY expression in the SELECT.
_MINUTES_SQL = text(
    f"""
    INSERT INTO telemetry_rollups (resolution, entity_id, metric, bucket, min, max, sum, count, last, last_ts)
    SELECT '1m', g.entity_id, g.metric, g.bucket, g.mn, g.mx, g.sm, g.cnt, r.value, g.last_ts
    FROM (
        SELECT entity_id, metric, (ts / {MINUTE}) * {MINUTE} AS bucket, MIN(value) AS mn, MAX(value) AS mx,
               SUM(value) AS sm, COUNT(*) AS cnt, MAX(ts) AS last_ts
        FROM telemetry_readings
        WHERE ts >= :lo AND ts < :hi
        GROUP BY entity_id, metric, (ts / {MINUTE}) * {MINUTE}
    ) g
    JOIN telemetry_readings r ON r.entity_id = g.entity_id AND r.metric = g.metric AND r.ts = g.last_ts
    """
)

_HOURS_SQL = text(
    f"""
    INSERT INTO telemetry_rollups (resolution, entity_id, metric, bucket, min, max, sum, count, last, last_ts)
    SELECT '1h', g.entity_id, g.metric, g.bucket, g.mn, g.mx, g.sm, g.cnt, r.last, g.last_ts
    FROM (
        SELECT entity_id, metric, (bucket / {HOUR}) * {HOUR} AS bucket, MIN(min) AS mn, MAX(max) AS mx,
               SUM(sum) AS sm, SUM(count) AS cnt, MAX(last_ts) AS last_ts
        FROM telemetry_rollups
        WHERE resolution = '1m' AND bucket >= :lo AND bucket < :hi
        GROUP BY entity_id, metric, (bucket / {HOUR}) * {HOUR}
    ) g
    JOIN telemetry_rollups r ON r.resolution = '1m' AND r.entity_id = g.entity_id AND r.metric = g.metric
        AND r.bucket = (g.last_ts / {MINUTE}) * {MINUTE}
    """
)


@dataclass(frozen=True)
class RollupReport:
    minutes: int
    hours: int


def rollup(session: Session, *, now: datetime, raw_retention: timedelta) -> RollupReport:
    """Recompute the dirty minutes (and their hours); minutes whose raw data has expired are dropped."""
    claimed = list(
        session.scalars(select(DirtyMinute.bucket).order_by(DirtyMinute.bucket).limit(MAX_MINUTES_PER_RUN))
    )
    if not claimed:
        return RollupReport(0, 0)
    session.execute(delete(DirtyMinute).where(DirtyMinute.bucket.in_(claimed)))
    cutoff = to_us(now - raw_retention)
    minutes = [m for m in claimed if m >= cutoff]
    for lo, hi in _runs(minutes, MINUTE):
        _replace(session, Resolution.MINUTE, lo, hi)
        session.execute(_MINUTES_SQL, {"lo": lo, "hi": hi})
    hours = sorted({m // HOUR * HOUR for m in minutes})
    for lo, hi in _runs(hours, HOUR):
        _replace(session, Resolution.HOUR, lo, hi)
        session.execute(_HOURS_SQL, {"lo": lo, "hi": hi})
    session.flush()
    return RollupReport(len(minutes), len(hours))


def _replace(session: Session, resolution: Resolution, lo: int, hi: int) -> None:
    session.execute(
        delete(Rollup).where(Rollup.resolution == resolution, Rollup.bucket >= lo, Rollup.bucket < hi)
    )


def _runs(buckets: list[int], step: int) -> Iterator[tuple[int, int]]:
    """Consecutive buckets merged into [lo, hi) ranges, so a backfill costs one statement per run."""
    start = prev = None
    for b in buckets:
        if start is None:
            start = prev = b
        elif b == prev + step:  # type: ignore[operator]
            prev = b
        else:
            yield start, prev + step  # type: ignore[operator]
            start = prev = b
    if start is not None:
        yield start, prev + step  # type: ignore[operator]


@dataclass(frozen=True)
class RetentionReport:
    raw_deleted: int
    minutes_deleted: int
    dead_letters_deleted: int = 0


def retention(
    session: Session, *, now: datetime, raw_days: int, minute_days: int, dead_letter_days: int
) -> RetentionReport:
    """Delete raw readings older than ``raw_days``, minute rollups older than ``minute_days`` and dead letters
    received more than ``dead_letter_days`` ago."""
    raw_deleted = _delete_before(
        session,
        Reading,
        Reading.ts,
        to_us(now - timedelta(days=raw_days)),
        lambda us: us // HOUR * HOUR + HOUR,
    )
    minute_cut = to_us(now - timedelta(days=minute_days))
    minutes_deleted = (
        session.execute(  # type: ignore[attr-defined]
            delete(Rollup).where(Rollup.resolution == Resolution.MINUTE, Rollup.bucket < minute_cut)
        ).rowcount
        or 0
    )
    dead_deleted = _delete_before(
        session,
        DeadLetter,
        DeadLetter.received_at,
        now - timedelta(days=dead_letter_days),
        lambda at: at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1),
    )
    session.flush()
    return RetentionReport(raw_deleted, minutes_deleted, dead_deleted)


def _delete_before(
    session: Session,
    model: type[Any],
    column: InstrumentedAttribute[Any],
    cut: Any,
    next_hour: Callable[[Any], Any],
) -> int:
    """Delete the rows whose ``column`` (an indexed time) is before ``cut``, oldest hour first."""
    oldest = session.scalar(select(func.min(column)))
    deleted = 0
    steps = 0
    # Hour-sized deletes keep each statement (and the SQLite write lock) short.
    while oldest is not None and oldest < cut and steps < MAX_RETENTION_STEPS:
        upper = min(next_hour(oldest), cut)
        deleted += session.execute(delete(model).where(column < upper)).rowcount or 0  # type: ignore[attr-defined]
        oldest = session.scalar(select(func.min(column)))
        steps += 1
    return deleted


def maintain(session: Session, settings: Settings, now: datetime) -> tuple[RollupReport, RetentionReport]:
    """The scheduler job: roll up first, so nothing expires before it is summarised."""
    raw = timedelta(days=settings.telemetry_raw_retention_days)
    report = rollup(session, now=now, raw_retention=raw)
    kept = retention(
        session,
        now=now,
        raw_days=settings.telemetry_raw_retention_days,
        minute_days=settings.telemetry_1m_retention_days,
        dead_letter_days=settings.telemetry_dead_letter_retention_days,
    )
    return report, kept
