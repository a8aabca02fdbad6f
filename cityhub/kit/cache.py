"""Reference data built from a database's tables and kept in the process until those tables change.

Intake reads the area tree, the gazetteer, the taxonomy, departments, routing rules, SLAs and the active
model on every report; reading them from the database each time cost about a third of a creation. Each
is kept per database (by URL) with the *reference revision* it was built at: one row whose value
database triggers replace with a random one on every write to those tables (``REFERENCE_TABLES``,
migration 0008), whoever writes — another process, the CLI, plain SQL. A session reads the revision
once per transaction, not once per lookup, and again after one of its flushes has written to those
tables, so the session that edits a routing rule sees it at once and another process sees it from its
next request.

Random rather than counted: a write that is rolled back leaves the revision as it was, and a value
seen inside that transaction is never given to a later one (docs/decisions/0014).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy import ScalarSelect, event, select
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction

from cityhub.models.revision import REFERENCE_TABLES, ReferenceRevision

T = TypeVar("T")

_MEMO = "cityhub.cache.revision"
_REVISIONS = ReferenceRevision.__table__  # a plain statement: it is part of every request's first one
_READ = select(_REVISIONS.c.value).where(_REVISIONS.c.id == 1)


class PerDatabase(Generic[T]):
    """``build(session)`` kept per database until the reference revision changes."""

    def __init__(self, build: Callable[[Session], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[int, T]] = {}

    def get(self, session: Session) -> T:
        key = str(session.get_bind().engine.url)
        current = revision(session)
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry[0] == current:
            return entry[1]
        value = self._build(session)
        with self._lock:
            self._entries[key] = (current, value)
        return value


def revision(session: Session) -> int:
    """The reference revision, remembered by the session until it writes to a reference table."""
    known: int | None = session.info.get(_MEMO)
    if known is None:
        known = int(session.scalar(_READ) or 0)
        session.info[_MEMO] = known
    return known


def revision_column() -> ScalarSelect[int]:
    """The revision as a column of another statement: a request's first statement reads it along (the
    principal's), and ``remember`` keeps it for the transaction: one round trip fewer per request."""
    return _READ.scalar_subquery()


def remember(session: Session, value: int | None) -> None:
    """Keep a revision read by ``revision_column`` in this transaction's first statement."""
    if value is not None and _MEMO not in session.info:
        session.info[_MEMO] = int(value)


@event.listens_for(Session, "after_flush")
def _forget_after_writing(session: Session, _flush: UOWTransaction) -> None:
    if _MEMO not in session.info:
        return
    for instance in (*session.new, *session.dirty, *session.deleted):
        if getattr(instance, "__tablename__", None) in REFERENCE_TABLES:
            del session.info[_MEMO]
            return


@event.listens_for(Session, "after_transaction_end")
def _forget_at_the_end(session: Session, transaction: SessionTransaction) -> None:
    """A long-lived session (a job, the CLI) reads it afresh in its next transaction; after a rolled-back
    savepoint the value read inside it is gone from the database too. (A flush's own inner
    transaction is neither.)"""
    if transaction.parent is None or transaction.nested:
        session.info.pop(_MEMO, None)
