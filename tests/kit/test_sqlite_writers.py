"""The SQLite writers of a process take turns on the engine's lock, given back once SQLite has committed."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from cityhub.kit.db import make_engine


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
