"""Reading and writing the time series: the batch insert of the hot path and the window queries.

Times are integer microseconds since the epoch (UTC) in the tables; these helpers take and give aware
datetimes. The query functions take no principal: they serve other domains (indicators, rules); the API's
access checks are in ``service``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from sqlalchemy import Connection, Table, and_, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from cityhub.models.telemetry import DirtyMinute, Reading, Resolution, Rollup

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)
MINUTE_US = Resolution.MINUTE.micros
READINGS: Table = Reading.__table__  # type: ignore[assignment]
DIRTY: Table = DirtyMinute.__table__  # type: ignore[assignment]
_EXISTING_CHUNK = 500


def to_us(value: datetime) -> int:
    """Exact integer microseconds since the epoch (no float rounding)."""
    return (value - EPOCH) // ONE_US


def from_us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


Key = tuple[int, str, int]


_COLUMNS = ("entity_id", "metric", "ts", "value", "quality")


def insert_readings(session: Session, rows: Sequence[tuple[int, str, int, float, str | None]]) -> set[Key]:
    """Insert rows (entity_id, metric, ts, value, quality); return the keys that were already stored.

    The fast path is a driver-level insert of plain tuples inside a savepoint (no per-row work in
    SQLAlchemy); only when it hits a duplicate are the batch's existing keys looked up and the rest inserted.
    The dirty minutes are written first: on SQLite that DML opens the transaction, so the savepoint nests
    inside it instead of committing on release (pysqlite starts no transaction for a SAVEPOINT).
    """
    if not rows:
        return set()
    mark_dirty(session, {r[2] // MINUTE_US * MINUTE_US for r in rows})
    connection = session.connection()
    savepoint = connection.begin_nested()
    try:
        _insert(connection, rows)
    except IntegrityError:
        savepoint.rollback()
        duplicates = existing_keys(session, rows)
    else:
        savepoint.commit()
        return set()
    fresh = [p for p in rows if (p[0], p[1], p[2]) not in duplicates]
    if fresh:
        _insert(connection, fresh)
    return duplicates


# Rows per multi-row statement on SQLite: a full chunk, then the rest in chunks of halving size. So a
# connection keeps at most ten statement texts prepared whatever the batch sizes (a statement of a
# thousand rows takes milliseconds to compile and hundreds of KiB to cache), and no statement nears the
# parameter limit (32 766 since SQLite 3.32).
_SQLITE_CHUNKS = (512, 256, 128, 64, 32, 16, 8, 4, 2, 1)


def _chunks(count: int) -> Iterator[tuple[int, int]]:
    """(start, size) of each statement for ``count`` rows."""
    start = 0
    for size in _SQLITE_CHUNKS:
        while count - start >= size:
            yield start, size
            start += size
            if size != _SQLITE_CHUNKS[0]:
                break


def _insert(connection: Connection, rows: Sequence[tuple[int, str, int, float, str | None]]) -> None:
    """The rows through the driver: multi-row VALUES statements on SQLite, ``executemany`` elsewhere.

    pysqlite's ``executemany`` releases the GIL while SQLite stores a row and takes it back for the next;
    when another thread of the hub is busy (the sensing stream, the next request's checks) each row then
    waits for the GIL. One statement of hundreds of rows gives the GIL up once for all of them.
    psycopg's ``executemany`` already sends a batch in one round trip (pipeline mode).
    """
    table = READINGS.name
    columns = ", ".join(_COLUMNS)
    if connection.dialect.name != "sqlite":
        markers = ", ".join(["%s"] * len(_COLUMNS))
        connection.exec_driver_sql(f"INSERT INTO {table} ({columns}) VALUES ({markers})", list(rows))
        return
    for start, size in _chunks(len(rows)):
        connection.exec_driver_sql(
            _values_sql(size), tuple(itertools.chain.from_iterable(rows[start : start + size]))
        )


@lru_cache(maxsize=len(_SQLITE_CHUNKS))
def _values_sql(size: int) -> str:
    one = "(" + ", ".join(["?"] * len(_COLUMNS)) + ")"
    return f"INSERT INTO {READINGS.name} ({', '.join(_COLUMNS)}) VALUES {', '.join([one] * size)}"


def existing_keys(session: Session, rows: Sequence[tuple[int, str, int, float, str | None]]) -> set[Key]:
    keys = [(r[0], r[1], r[2]) for r in rows]
    found: set[Key] = set()
    for i in range(0, len(keys), _EXISTING_CHUNK):
        chunk = keys[i : i + _EXISTING_CHUNK]
        stmt = select(Reading.entity_id, Reading.metric, Reading.ts).where(
            tuple_(Reading.entity_id, Reading.metric, Reading.ts).in_(chunk)
        )
        found.update((int(e), str(m), int(t)) for e, m, t in session.execute(stmt))
    return found


def insert_ignore(session: Session, table: Table) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING on SQLite and PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def mark_dirty(session: Session, buckets: Iterable[int]) -> None:
    rows = [{"bucket": b} for b in sorted(set(buckets))]
    if rows:
        session.execute(insert_ignore(session, DIRTY), rows)


# ---------------------------------------------------------------- queries for other domains


@dataclass(frozen=True)
class Point:
    ts: datetime
    value: float


@dataclass(frozen=True)
class Stats:
    """An aggregate of one metric of one entity over a window."""

    min: float
    max: float
    sum: float
    count: int
    last: float
    last_ts: datetime

    @property
    def avg(self) -> float:
        return self.sum / self.count if self.count else float("nan")


def window(
    session: Session, entity_id: int, metric: str, since: datetime, until: datetime, limit: int = 100_000
) -> list[Point]:
    """Raw readings of one metric of one entity, oldest first, ``since <= ts < until``."""
    stmt = (
        select(Reading.ts, Reading.value)
        .where(
            Reading.entity_id == entity_id,
            Reading.metric == metric,
            Reading.ts >= to_us(since),
            Reading.ts < to_us(until),
        )
        .order_by(Reading.ts)
        .limit(limit)
    )
    return [Point(from_us(ts), value) for ts, value in session.execute(stmt)]


def latest(session: Session, entity_ids: Sequence[int], metric: str) -> dict[int, Point]:
    """The newest reading of a metric for each of the entities that have one."""
    if not entity_ids:
        return {}
    newest = (
        select(Reading.entity_id, func.max(Reading.ts).label("ts"))
        .where(Reading.entity_id.in_(entity_ids), Reading.metric == metric)
        .group_by(Reading.entity_id)
        .subquery()
    )
    stmt = select(Reading.entity_id, Reading.ts, Reading.value).join(
        newest,
        and_(Reading.entity_id == newest.c.entity_id, Reading.ts == newest.c.ts, Reading.metric == metric),
    )
    return {e: Point(from_us(ts), v) for e, ts, v in session.execute(stmt)}


def aggregate(
    session: Session,
    metric: str,
    since: datetime,
    until: datetime,
    entity_ids: Sequence[int] | None = None,
) -> dict[int, Stats]:
    """min/max/sum/count/last per entity of one metric over ``since <= ts < until`` (raw readings)."""
    conditions = [Reading.metric == metric, Reading.ts >= to_us(since), Reading.ts < to_us(until)]
    if entity_ids is not None:
        if not entity_ids:
            return {}
        conditions.append(Reading.entity_id.in_(entity_ids))
    groups = (
        select(
            Reading.entity_id,
            func.min(Reading.value).label("mn"),
            func.max(Reading.value).label("mx"),
            func.sum(Reading.value).label("sm"),
            func.count().label("cnt"),
            func.max(Reading.ts).label("last_ts"),
        )
        .where(*conditions)
        .group_by(Reading.entity_id)
        .subquery()
    )
    last = Reading.__table__.alias("last_reading")
    stmt = select(groups, last.c.value).join(
        last,
        and_(
            last.c.entity_id == groups.c.entity_id,
            last.c.metric == metric,
            last.c.ts == groups.c.last_ts,
        ),
    )
    return {
        row.entity_id: Stats(row.mn, row.mx, row.sm, int(row.cnt), row.value, from_us(row.last_ts))
        for row in session.execute(stmt)
    }


def rollups(
    session: Session,
    entity_id: int,
    metric: str,
    resolution: Resolution,
    since: datetime,
    until: datetime,
    limit: int = 100_000,
) -> Sequence[Rollup]:
    """Minute or hour rollups of one metric of one entity, oldest first."""
    return session.scalars(
        select(Rollup)
        .where(
            Rollup.resolution == resolution,
            Rollup.entity_id == entity_id,
            Rollup.metric == metric,
            Rollup.bucket >= to_us(since) // resolution.micros * resolution.micros,
            Rollup.bucket < to_us(until),
        )
        .order_by(Rollup.bucket)
        .limit(limit)
    ).all()
