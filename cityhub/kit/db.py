"""Engine, sessions and the unit of work: one request or job is one transaction."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import BigInteger, DateTime, Engine, Enum, Integer, MetaData, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from cityhub.kit.timeutil import ensure_aware

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT primary keys on PostgreSQL, INTEGER (the rowid alias) on SQLite so autoincrement works.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python on every backend (SQLite keeps no offset, so store naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        aware = ensure_aware(value)
        return aware.replace(tzinfo=None) if dialect.name == "sqlite" else aware

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else ensure_aware(value)


def str_enum(enum_cls: type[StrEnum], length: int) -> Enum:
    """A StrEnum stored as its plain string value (VARCHAR, no database enum type to migrate)."""
    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Settings for telemetry's write pattern: a batch of readings from a thousand devices lands on the right edge
# of a thousand devices' runs of the readings' primary key, a page each. Measured one by one on that insert
# (docs/benchmarks.md, "Telemetry ingest"), each helps; together they take it from about 45 000 to 73 000
# rows/s.
# Page cache per connection, KiB (SQLite's default is 2 000, fewer pages than a batch touches); taken as used.
SQLITE_CACHE_KIB = 65_536
# Pages in the WAL before a commit copies them back into the database (SQLite's default is 1 000). A
# checkpoint writes each page once however many commits changed it: the same right-edge pages are written
# back once per ten batches instead of once per batch.
SQLITE_WAL_PAGES = 10_000
# What the WAL file is cut back to after a checkpoint has reset it.
SQLITE_WAL_KEEP_BYTES = 64 * 1024 * 1024


def sqlite_pragmas(dbapi_connection: Any, _record: Any = None) -> None:
    """Settings of every SQLite connection of the hub: WAL, page cache, foreign keys, busy wait."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_PAGES}")
    cursor.execute(f"PRAGMA journal_size_limit={SQLITE_WAL_KEEP_BYTES}")
    # The statement journal of a savepoint or a multi-row INSERT (and temporary tables) in memory, not a file.
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


# Connections a process may hold at once (pool size + overflow), on either backend. The API admits fewer
# requests than this at a time (``Settings.max_concurrent_requests``; see ``kit.http.Admission``).
POOL_SIZE, POOL_OVERFLOW = 10, 20
POOL_CONNECTIONS = POOL_SIZE + POOL_OVERFLOW


def json_text(value: Any) -> str:
    """JSON columns as text: orjson (several times faster than the standard library on every intake's
    suggestion and audit changes), the standard library for what orjson refuses (integers over 64 bits)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False)


def make_engine(url: str, **kwargs: Any) -> Engine:
    kwargs.setdefault("pool_size", POOL_SIZE)
    kwargs.setdefault("max_overflow", POOL_OVERFLOW)
    kwargs.setdefault("json_serializer", json_text)
    if url.startswith("sqlite"):
        if ":memory:" in url or url.rstrip("/").endswith("sqlite:"):
            kwargs.pop("pool_size"), kwargs.pop("max_overflow")  # one shared in-memory connection
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", sqlite_pragmas)
        _one_writer_at_a_time(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "BEGIN IMMEDIATE")
_WRITER = "cityhub.writer"
WRITER_WAIT_S = 30.0


def _one_writer_at_a_time(engine: Engine) -> None:
    """Queue a process's SQLite writers on a lock instead of in SQLite's busy handler.

    SQLite lets one transaction write at a time; the others retry with sleeps that grow to 100 ms, so under
    concurrent requests an unlucky writer waits seconds while others pass it (p95 1.4 s at a p50 of 40 ms
    with 16 event creations in flight). Here a transaction takes the engine's lock at its first write and
    gives it back at commit or rollback, so writers go in turn as soon as the one before is done. Other
    processes (the CLI) still meet SQLite's busy handler; a writer that cannot get the lock within
    ``WRITER_WAIT_S`` goes ahead and meets it too (503 if the database stays busy), never a hang.
    """
    lock = threading.Lock()
    holder: list[tuple[str, float, str]] = []  # who holds the lock: thread, since (monotonic), statement

    def before(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        info = conn.info
        if info.get(_WRITER) or not statement.lstrip()[:15].upper().startswith(_WRITES):
            return
        if lock.acquire(timeout=WRITER_WAIT_S):
            info[_WRITER] = lock
            holder[:] = [(threading.current_thread().name, time.monotonic(), statement)]  # told if it waits
            return
        if holder:  # a transaction that writes and then works for half a minute holds every writer up
            name, since, first = holder[0]
            log.warning(
                "waited %.0f s for the SQLite writer lock, held by thread %r for %.0f s (%s …): going on",
                WRITER_WAIT_S,
                name,
                time.monotonic() - since,
                " ".join(first.split()[:6]),
            )

    def release(info: dict[str, Any]) -> None:
        held = info.pop(_WRITER, None)
        if held is not None:
            held.release()

    event.listen(engine, "before_cursor_execute", before)

    # The lock goes back once the driver's COMMIT or ROLLBACK has returned. The engine's "commit" and
    # "rollback" events come before that call: a writer let in there meets SQLite's busy handler and sleeps
    # (two threads of 1 000-row inserts: 40 000 -> 57 000 rows/s once it no longer does).
    ending: dict[int, dict[str, Any]] = {}

    def ends(conn: Any) -> None:
        key = id(conn.connection.dbapi_connection)
        if conn.info.get(_WRITER) is not None:
            ending[key] = conn.info
        else:
            ending.pop(key, None)

    def ended(dbapi_connection: Any) -> None:
        info = ending.pop(id(dbapi_connection), None)
        if info is not None:
            release(info)

    dialect = engine.dialect
    driver_commit, driver_rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection: Any) -> None:
        try:
            driver_commit(dbapi_connection)
        finally:
            ended(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        try:
            driver_rollback(dbapi_connection)
        finally:
            ended(dbapi_connection)

    # This engine's dialect only (each engine has its own).
    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]
    event.listen(engine, "commit", ends)
    event.listen(engine, "rollback", ends)

    # A connection going back to the pool, or thrown away, ends whatever it had begun.
    def reset(_dbapi: Any, record: Any, _state: Any) -> None:
        release(record.info)

    def invalidate(_dbapi: Any, record: Any, _exception: Any) -> None:
        release(record.info)

    event.listen(engine.pool, "reset", reset)
    event.listen(engine.pool, "invalidate", invalidate)


def write_from_the_start(session: Session) -> None:
    """On SQLite, open this session's transaction as a writer (``BEGIN IMMEDIATE``, queued on the process's
    writer lock), so that what it reads and what it writes share one snapshot.

    For jobs that read and then write inside savepoints (the demo stream): a ``SAVEPOINT`` outside a
    transaction opens a deferred one, and its first write fails at once with "database is locked" when
    another connection has committed since its first read (decision 0004). No-op on PostgreSQL, or when the
    session's transaction has already begun.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite" and not connection.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Commit when the block ends, roll back on any error. Application code only flushes."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
