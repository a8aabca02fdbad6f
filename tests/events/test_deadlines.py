"""Deadlines on the working calendar, the 临期/超期 scan and escalation, with a frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.access.principal import SYSTEM
from cityhub.dispatch import routing
from cityhub.events import categories, deadlines, service
from cityhub.events.schemas import EventIn, ExtensionIn
from cityhub.kit.errors import Conflict
from cityhub.kit.timeutil import clock
from cityhub.models.event import DeadlineState, EventAction, Urgency
from cityhub.org.service import principal_for
from tests.factories import City, build_city

ROAD = "城乡建设/市政设施/道路破损"
POLICY = service.DispatchPolicy()
# Friday 2026-11-20 16:00 in Shanghai.
FRIDAY_4PM = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def _city(session: Session) -> City:
    city = build_city(session)
    cat = categories.find(session, ROAD)
    routing.add_rule(session, category_id=cat.id, lead_department_id=city.departments["roads"].id)
    deadlines.set_sla(session, category_id=cat.id, urgency=None, sign_within="2wh", resolve_within="1wd")
    deadlines.set_sla(
        session, category_id=None, urgency=Urgency.URGENT, sign_within="1h", resolve_within="1d"
    )
    return city


def _new(session: Session, urgency: Urgency = Urgency.NORMAL) -> int:
    data = EventIn(title="路面破损", category=ROAD, urgency=urgency, location={"lon": 120.305, "lat": 36.005})
    return service.create(session, SYSTEM, data, POLICY).id


def test_sla_counts_working_hours_across_the_weekend(session: Session) -> None:
    _city(session)
    clock.freeze(FRIDAY_4PM)
    event = service.get(session, SYSTEM, _new(session))
    # 2 working hours from Friday 16:00: 1.5 h on Friday, 0.5 h on Monday → Monday 09:30 local.
    assert event.sign_deadline == datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
    # 1 working day (7 h) → Monday 16:00 local.
    assert event.resolve_deadline == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def test_category_sla_beats_urgency_and_urgency_beats_default(session: Session) -> None:
    _city(session)
    clock.freeze(FRIDAY_4PM)
    urgent = service.get(session, SYSTEM, _new(session, Urgency.URGENT))
    assert urgent.sign_deadline == datetime(2026, 11, 23, 1, 30, tzinfo=UTC)  # the category's SLA wins
    other = service.create(session, SYSTEM, EventIn(title="x", urgency=Urgency.URGENT), POLICY)
    assert deadlines.find_sla(session, None, Urgency.URGENT).sign_within.amount == 1
    assert other.sign_deadline is None  # not dispatched: no category, in review


def test_scan_marks_near_then_overdue_and_escalates_once(session: Session) -> None:
    _city(session)
    clock.freeze(FRIDAY_4PM)
    event_id = _new(session)
    near = deadlines.scan(session, datetime(2026, 11, 23, 1, 20, tzinfo=UTC), 0.2)
    assert near["near"] == 1
    assert service.get(session, SYSTEM, event_id).deadline_state is DeadlineState.NEAR
    late = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    assert deadlines.scan(session, late, 0.2)["escalated"] == 1
    assert deadlines.scan(session, late, 0.2)["escalated"] == 0
    event = service.get(session, SYSTEM, event_id)
    assert event.deadline_state is DeadlineState.OVERDUE and event.supervised and event.escalated
    actions = session.scalars(select(EventAction.action).where(EventAction.event_id == event_id)).all()
    assert actions.count("escalate") == 1


def test_extension_and_suspension_move_the_deadline(session: Session) -> None:
    city = _city(session)
    clock.freeze(FRIDAY_4PM)
    event_id = _new(session)
    handler = principal_for(session, city.users["roads_handler"])
    dispatcher = principal_for(session, city.users["dispatcher"])
    service.accept(session, handler, event_id)
    until = ExtensionIn(until=datetime(2026, 11, 27, 9, 0, tzinfo=UTC), reason="需协调管线单位").until
    service.request_extension(session, handler, event_id, until, "需协调管线单位")
    with pytest.raises(Conflict) as pending:  # one request at a time, named for programs
        service.request_extension(session, handler, event_id, until, "需协调管线单位")
    assert pending.value.code == "extension_pending"
    service.decide_extension(session, dispatcher, event_id, True)
    with pytest.raises(Conflict) as decided:
        service.decide_extension(session, dispatcher, event_id, True)
    assert decided.value.code == "no_extension_request"
    assert service.get(session, SYSTEM, event_id).resolve_deadline == until

    # Suspended for Monday 09:00–11:00 local: the deadline moves by 2 working hours.
    clock.freeze(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))
    service.suspend(session, dispatcher, event_id, "等待管线权属单位确认")
    clock.freeze(datetime(2026, 11, 23, 3, 0, tzinfo=UTC))
    resumed = service.resume(session, dispatcher, event_id)
    assert resumed.status == "accepted"
    # Friday 17:00 local + 2 working hours: 0.5 h on Friday, 1.5 h on Monday → Monday 10:30 local.
    assert resumed.resolve_deadline == datetime(2026, 11, 30, 2, 30, tzinfo=UTC)
