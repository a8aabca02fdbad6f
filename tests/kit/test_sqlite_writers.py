"""The SQLite writers of a process take turns on the engine's lock, given back once SQLite has committed."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from cityhub.kit import db
from cityhub.kit.db import make_engine, make_session_factory, write_from_the_start


@pytest.mark.parametrize("end", ["commit", "rollback"])
def test_the_writer_lock_is_held_until_the_driver_has_ended_the_transaction(tmp_path: Path, end: str) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'writers.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    seen: list[Any] = []
    event.listen(engine, end, lambda conn: seen.append(conn.info.get("cityhub.writer")))
    driver_end = getattr(engine.dialect, f"do_{end}")

    def spy(dbapi_connection: Any) -> None:
        lock = seen[-1]
        assert isinstance(lock, type(threading.Lock())) and lock.locked()  # still held while SQLite ends it
        driver_end(dbapi_connection)

    setattr(engine.dialect, f"do_{end}", spy)
    with engine.connect() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        getattr(conn, end)()
    assert seen and not seen[-1].locked()
    with engine.connect() as conn:  # and the next writer gets it
        conn.exec_driver_sql("INSERT INTO t VALUES (2)")
        conn.commit()
    engine.dispose()


def test_a_writer_held_up_names_the_transaction_holding_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A writer that waited ``WRITER_WAIT_S`` goes on to SQLite's busy handler and says who held it up."""
    monkeypatch.setattr(db, "WRITER_WAIT_S", 0.2)
    engine = make_engine(f"sqlite:///{tmp_path / 'writers.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    began, written = threading.Event(), threading.Event()

    def long_transaction() -> None:
        with engine.connect() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            began.set()
            written.wait(5)  # works on, holding the lock, until the other writer has given up waiting
            conn.commit()

    holder = threading.Thread(target=long_transaction, name="catalog-quality")
    holder.start()
    began.wait(5)
    with caplog.at_level(logging.WARNING, logger="cityhub.kit.db"):
        timer = threading.Timer(0.5, written.set)  # the holder commits while this writer meets busy_timeout
        timer.start()
        with engine.connect() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (2)")
            conn.commit()
    holder.join()
    timer.join()
    assert any(
        "held by thread 'catalog-quality'" in r.getMessage() and "INSERT INTO t" in r.getMessage()
        for r in caplog.records
    ), caplog.text
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 2
    engine.dispose()


def test_a_job_that_reads_then_writes_in_savepoints_is_not_refused(tmp_path: Path) -> None:
    """A savepoint outside a transaction opens a deferred one: once another connection commits between
    its read and its first write, that write fails at once ("database is locked", no busy wait helps).
    ``write_from_the_start`` makes it a writer from its first statement: the other writer waits instead."""
    engine = make_engine(f"sqlite:///{tmp_path / 'writers.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    factory = make_session_factory(engine)

    def another_writer(x: int) -> None:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"INSERT INTO t VALUES ({x})")
            conn.commit()

    with factory() as job:
        with job.begin_nested():
            job.execute(text("SELECT count(*) FROM t")).scalar()
            another_writer(1)
            with pytest.raises(OperationalError, match="locked"):
                job.execute(text("INSERT INTO t VALUES (2)"))
        job.rollback()

    with factory() as job:
        write_from_the_start(job)
        with job.begin_nested():
            job.execute(text("SELECT count(*) FROM t")).scalar()
            other = threading.Thread(target=another_writer, args=(3,))
            other.start()  # it waits for the job's commit
            other.join(0.2)
            job.execute(text("INSERT INTO t VALUES (4)"))
        job.commit()
    other.join(10)
    with engine.connect() as conn:
        assert sorted(conn.exec_driver_sql("SELECT x FROM t").scalars()) == [1, 3, 4]
    engine.dispose()
