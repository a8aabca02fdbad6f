"""A new row handed over before its first flush is audited as if stored first and changed after."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.access.principal import SYSTEM, Principal
from cityhub.audit.hooks import bind_principal, hand_over
from cityhub.models.audit import AuditLog
from cityhub.models.event import DeadlineState, Event, EventStatus
from cityhub.org.service import principal_for
from tests.factories import bare_event, build_city

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def _report(number: str) -> Event:
    return bare_event(number, NOW, title="路灯不亮", reporter_name="王小明")


def _system_part(event: Event, department_id: int) -> None:
    event.status = EventStatus.DISPATCHED
    event.needs_review = True  # from its column default
    event.lead_department_id = department_id  # from nothing
    event.reporter_phone = "13812345678"  # masked
    event.deadline_state = DeadlineState.NORMAL  # set to what it was: no change


def _audit(session: Session, event: Event) -> list[tuple[str, str, dict[str, Any]]]:
    rows = session.scalars(
        select(AuditLog)
        .where(AuditLog.object_type == "events", AuditLog.object_id == str(event.id))
        .order_by(AuditLog.id)
    )
    ignored = ("id", "number")  # the two rows' own
    return [(r.action, r.actor, {k: v for k, v in r.changes.items() if k not in ignored}) for r in rows]


def test_hand_over_audits_one_insert_as_the_two_flushes_would_have(session: Session) -> None:
    city = build_city(session)
    citizen: Principal = principal_for(session, city.users["citizen"])
    department_id = city.departments["roads"].id

    # Stored first, then changed by the system: two flushes, an INSERT and an UPDATE.
    bind_principal(session, citizen)
    two = _report("T-2")
    session.add(two)
    session.flush()
    bind_principal(session, SYSTEM)
    _system_part(two, department_id)
    session.flush()

    # Handed over before the first flush: one INSERT.
    bind_principal(session, citizen)
    one = _report("T-1")
    session.add(one)
    hand_over(session, one, SYSTEM)
    _system_part(one, department_id)
    session.flush()

    expected = _audit(session, two)
    assert [(action, actor) for action, actor, _ in expected] == [("create", "citizen"), ("update", "system")]
    assert expected[1][2] == {
        "status": ["received", "dispatched"],
        "needs_review": [False, True],
        "lead_department_id": [None, department_id],
        "reporter_phone": "***",
    }
    assert expected[0][2]["reporter_name"] == "***"
    assert _audit(session, one) == expected


def test_a_hand_over_without_changes_leaves_only_the_creation(session: Session) -> None:
    city = build_city(session)
    bind_principal(session, principal_for(session, city.users["citizen"]))
    event = _report("T-3")
    session.add(event)
    hand_over(session, event, SYSTEM)
    session.flush()
    [(action, actor, changes)] = _audit(session, event)
    assert (action, actor, changes["status"]) == ("create", "citizen", "received")
