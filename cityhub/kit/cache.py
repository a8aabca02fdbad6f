"""Values built from a database's tables and kept in the process until those tables change.

The spatial index of the areas and the gazetteer are expensive to build and read on every intake. Each
is kept per database (by URL) with a *generation*: the row count and highest id of the tables it was
built from. The generation is read once per session — not once per lookup — and read again after a
flush of that session has written to those tables, so the session that imports areas sees them at
once and another process sees them from its next request. Changes that keep count and highest id
(an edited boundary) clear the cache explicitly where they are made (``clear``).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, event, func, select
from sqlalchemy.orm import Session, UOWTransaction

from cityhub.kit.db import Base

T = TypeVar("T")

Generation = tuple[int, ...]
_MEMO = "cityhub.cache.generations"


class PerDatabase(Generic[T]):
    """``build(session)`` kept per database until the generation of ``tables`` changes."""

    def __init__(self, tables: Sequence[type[Base]], build: Callable[[Session], T]) -> None:
        self.tables = tuple(tables)
        self._build = build
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[Generation, T]] = {}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def get(self, session: Session) -> T:
        key = str(session.get_bind().engine.url)
        current = generation(session, self.tables)
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry[0] == current:
            return entry[1]
        value = self._build(session)
        with self._lock:
            self._entries[key] = (current, value)
        return value


def generation(session: Session, tables: Sequence[type[Base]]) -> Generation:
    """Row count and highest id of each table, remembered by the session until it writes to them."""
    memo: dict[type[Base], Generation] = session.info.setdefault(_MEMO, {})
    unknown = tuple(table for table in tables if table not in memo)
    if unknown:  # one round trip for all of them
        values = session.execute(_counting(unknown)).one()
        for i, table in enumerate(unknown):
            memo[table] = (int(values[2 * i] or 0), int(values[2 * i + 1] or 0))
    return tuple(part for table in tables for part in memo[table])


@functools.cache
def _counting(tables: tuple[type[Base], ...]) -> Select[*tuple[Any, ...]]:
    """The count and highest id of each table in one statement, built once per set of tables."""
    columns = []
    for table in tables:
        columns += [select(func.count()).select_from(table).scalar_subquery()]
        columns += [select(func.max(table.id)).scalar_subquery()]  # type: ignore[attr-defined]
    return select(*columns)


@event.listens_for(Session, "after_flush")
def _forget_written_tables(session: Session, _flush: UOWTransaction) -> None:
    memo: dict[type[Base], Generation] | None = session.info.get(_MEMO)
    if not memo:
        return
    for instance in (*session.new, *session.dirty, *session.deleted):
        memo.pop(type(instance), None)
