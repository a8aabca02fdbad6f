"""One flush hook writes an audit row for every change to an audited table, in the same transaction.

Models opt in with ``__audited__ = True``; fields in ``__audit_masked__`` are recorded as changed
without their values (the audit log must not become a second copy of personal data), and fields in
``__audit_ignored__`` are bookkeeping not worth a line.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session, UOWTransaction

from cityhub.access.principal import SYSTEM, Principal
from cityhub.kit.timeutil import clock
from cityhub.models.audit import AuditLog

PRINCIPAL_KEY = "principal"


def bind_principal(session: Session, principal: Principal) -> None:
    """Tell the audit hook who is acting in this session's transaction."""
    session.info[PRINCIPAL_KEY] = principal


def acting(session: Session) -> Principal:
    principal = session.info.get(PRINCIPAL_KEY)
    return principal if isinstance(principal, Principal) else SYSTEM


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, dict)):
        return value
    return str(value)


def _changes(obj: Any, *, new: bool) -> dict[str, Any]:
    masked: frozenset[str] = getattr(obj, "__audit_masked__", frozenset())
    ignored: frozenset[str] = getattr(obj, "__audit_ignored__", frozenset())
    state = inspect(obj)
    touched = state.committed_state  # the attributes set since the last flush (a row's few, not its fifty)
    out: dict[str, Any] = {}
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key in ignored or (not new and key not in touched):
            continue
        if new:
            value = getattr(obj, key)
            if value is None:
                continue
            out[key] = "***" if key in masked else _plain(value)
            continue
        history = state.attrs[key].history
        if history.has_changes():
            before = history.deleted[0] if history.deleted else None
            after = history.added[0] if history.added else None
            out[key] = "***" if key in masked else [_plain(before), _plain(after)]
    return out


def _row(principal: Principal, action: str, obj: Any, changes: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": clock.now(),
        "actor_id": principal.user_id,
        "actor": principal.username,
        "action": action,
        "object_type": obj.__tablename__,
        "object_id": _object_id(obj),
        "changes": changes,
        "purpose": None,
    }


def _object_id(obj: Any) -> str:
    """The row's primary key: known after the flush even for a new row (its identity key is set later)."""
    key = inspect(obj).mapper.primary_key_from_instance(obj)
    return ",".join(str(part) for part in key) if all(part is not None for part in key) else "?"


def _collect(session: Session) -> list[dict[str, Any]]:
    principal = acting(session)
    rows: list[dict[str, Any]] = []
    for obj in session.new:
        if getattr(obj, "__audited__", False):
            rows.append(_row(principal, "create", obj, _changes(obj, new=True)))
    for obj in session.dirty:
        if getattr(obj, "__audited__", False) and session.is_modified(obj, include_collections=False):
            changes = _changes(obj, new=False)
            if changes:
                rows.append(_row(principal, "update", obj, changes))
    for obj in session.deleted:
        if getattr(obj, "__audited__", False):
            rows.append(_row(principal, "delete", obj, {}))
    return rows


_INSERT = insert(AuditLog)  # built once: every flush of an audited change runs it


def _after_flush(session: Session, _flush_context: UOWTransaction) -> None:
    rows = _collect(session)
    if rows:
        session.connection().execute(_INSERT, rows)


def install() -> None:
    """Register the flush hook on every Session (idempotent)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)


def record(
    session: Session,
    principal: Principal,
    action: str,
    object_type: str,
    object_id: str,
    changes: dict[str, Any] | None = None,
    purpose: str | None = None,
) -> None:
    """Record something that is not a row change, e.g. a read of a reporter's personal data."""
    session.add(
        AuditLog(
            at=clock.now(),
            actor_id=principal.user_id,
            actor=principal.username,
            action=action,
            object_type=object_type,
            object_id=object_id,
            changes=changes or {},
            purpose=purpose,
        )
    )
