"""The audit log refuses UPDATE and DELETE at the database."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from cityhub.models.audit import AuditLog
from tests.factories import build_city


def test_changes_are_audited_and_the_log_cannot_be_rewritten(session: Session) -> None:
    build_city(session)
    rows = session.scalars(select(AuditLog).where(AuditLog.object_type == "users")).all()
    assert len(rows) >= 10
    assert all(r.changes.get("password_hash") == "***" for r in rows)
    for statement in (update(AuditLog).values(actor="forged"), delete(AuditLog)):
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(statement)


def test_each_audit_row_names_the_row_it_is_about_created_ones_included(session: Session) -> None:
    city = build_city(session)
    user = city.users["dispatcher"]
    created = session.scalars(
        select(AuditLog).where(AuditLog.object_type == "users", AuditLog.action == "create")
    ).all()
    assert "?" not in {r.object_id for r in created}
    assert str(user.id) in {r.object_id for r in created}
    user.display_name = "新的名字"
    session.flush()
    [changed] = session.scalars(
        select(AuditLog).where(AuditLog.object_type == "users", AuditLog.action == "update")
    ).all()
    assert changed.object_id == str(user.id) and changed.changes["display_name"][1] == "新的名字"
