"""One flush hook writes an audit row for every change to an audited table, in the same transaction.

Models opt in with ``__audited__ = True``; fields in ``__audit_masked__`` are recorded as changed
without their values (the audit log must not become a second copy of personal data), and fields in
``__audit_ignored__`` are bookkeeping not worth a line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session, UOWTransaction

from cityhub.access.principal import SYSTEM, Principal
from cityhub.kit.timeutil import clock
from cityhub.models.audit import AuditLog

PRINCIPAL_KEY = "principal"
_HANDED_OVER = "audit.handed_over"


def bind_principal(session: Session, principal: Principal) -> None:
    """Tell the audit hook who is acting in this session's transaction."""
    session.info[PRINCIPAL_KEY] = principal


def acting(session: Session) -> Principal:
    principal = session.info.get(PRINCIPAL_KEY)
    return principal if isinstance(principal, Principal) else SYSTEM


def hand_over(session: Session, obj: Any, principal: Principal) -> None:
    """What is set on the new, not yet stored ``obj`` from here on is ``principal``'s doing; binds them.

    Intake stores a report in one INSERT with what the system decided about it (the suggestion, the
    automatic dispatch). The audit still tells the two apart, as if the row had been stored first and
    updated after: a ``create`` row by whoever was acting, with the values the object held here, and an
    ``update`` row by ``principal`` with what changed since.
    """
    handed: dict[Any, tuple[Principal, Principal, dict[str, Any]]] = session.info.setdefault(_HANDED_OVER, {})
    handed[obj] = (acting(session), principal, dict(inspect(obj).dict))
    bind_principal(session, principal)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, dict)):
        return value
    return str(value)


@dataclass(frozen=True)
class _Column:
    """What the hook needs of an audited column, read from the mapper once per class."""

    key: str
    masked: bool
    given: bool  # by the INSERT itself: the primary key, a server default
    default: Any  # the scalar default an INSERT without it would use, else None


_AUDITED: dict[type, tuple[tuple[_Column, ...], tuple[str, ...]]] = {}


def _audited(obj: Any) -> tuple[tuple[_Column, ...], tuple[str, ...]]:
    """The class's audited columns (not ``__audit_ignored__``) and its primary key's attributes."""
    cls = type(obj)
    found = _AUDITED.get(cls)
    if found is None:
        masked: frozenset[str] = getattr(cls, "__audit_masked__", frozenset())
        ignored: frozenset[str] = getattr(cls, "__audit_ignored__", frozenset())
        mapper = inspect(cls)
        columns = []
        for attr in mapper.column_attrs:
            column = attr.columns[0]
            if attr.key in ignored:
                continue
            default = column.default.arg if column.default is not None and column.default.is_scalar else None
            given = column.primary_key or column.server_default is not None
            columns.append(_Column(attr.key, attr.key in masked, given, default))
        keys = tuple(mapper.get_property_by_column(c).key for c in mapper.primary_key)
        found = _AUDITED[cls] = (tuple(columns), keys)
    return found


def _value(obj: Any, values: dict[str, Any], key: str) -> Any:
    """An attribute's value: from the instance's dict, or through the attribute when not loaded."""
    return values[key] if key in values else getattr(obj, key)


def _changes(obj: Any, *, new: bool) -> dict[str, Any]:
    state = inspect(obj)
    values = state.dict
    touched = state.committed_state  # the attributes set since the last flush (a row's few, not its fifty)
    out: dict[str, Any] = {}
    for column in _audited(obj)[0]:
        key = column.key
        if new:
            value = _value(obj, values, key)
            if value is not None:
                out[key] = "***" if column.masked else _plain(value)
            continue
        if key not in touched:
            continue
        history = state.attrs[key].history
        if history.has_changes():
            before = history.deleted[0] if history.deleted else None
            after = history.added[0] if history.added else None
            out[key] = "***" if column.masked else [_plain(before), _plain(after)]
    return out


def _handed_over_rows(
    obj: Any, creator: Principal, principal: Principal, held: dict[str, Any]
) -> list[dict[str, Any]]:
    """The ``create`` row of what ``obj`` held when handed over and the ``update`` row of the rest."""
    values = inspect(obj).dict
    created: dict[str, Any] = {}
    changed: dict[str, Any] = {}
    for column in _audited(obj)[0]:
        key = column.key
        after = _value(obj, values, key)
        if key in held:
            before = held[key]
        elif column.given:
            before = after
        else:  # unset then: the column's default, which the INSERT of the row as it was would have used
            before = column.default
        if before is not None:
            created[key] = "***" if column.masked else _plain(before)
        if before != after:
            changed[key] = "***" if column.masked else [_plain(before), _plain(after)]
    rows = [_row(creator, "create", obj, created)]
    if changed:
        rows.append(_row(principal, "update", obj, changed))
    return rows


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
        "address": principal.address,
    }


def _object_id(obj: Any) -> str:
    """The row's primary key: known after the flush even for a new row (its identity key is set later)."""
    values = inspect(obj).dict
    key = [_value(obj, values, k) for k in _audited(obj)[1]]
    return ",".join(str(part) for part in key) if all(part is not None for part in key) else "?"


def _collect(session: Session) -> list[dict[str, Any]]:
    principal = acting(session)
    handed = session.info.get(_HANDED_OVER, {})
    rows: list[dict[str, Any]] = []
    for obj in session.new:
        if not getattr(obj, "__audited__", False):
            continue
        if obj in handed:
            rows += _handed_over_rows(obj, *handed.pop(obj))
        else:
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
            address=principal.address,
        )
    )
