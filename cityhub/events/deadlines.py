"""Deadlines: SLAs per category and urgency, counted on the working calendar; the 临期/超期 scan."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.events.calendar import Deadline, WorkCalendar
from cityhub.events.categories import along_lineage, lineage
from cityhub.kit.cache import PerDatabase
from cityhub.kit.errors import Unprocessable
from cityhub.models.event import (
    AssignmentRole,
    DeadlineState,
    Event,
    EventAction,
    EventAssignment,
    EventStatus,
    Urgency,
)
from cityhub.models.routing import SlaPolicy

log = logging.getLogger(__name__)

# Used when no SLA row matches: sign within 2 working hours, resolve within 5 working days.
DEFAULT_SLA = ("2wh", "5wd")


@dataclass(frozen=True)
class Sla:
    sign_within: Deadline
    resolve_within: Deadline


@lru_cache(maxsize=8)
def calendar(path: Path | None = None) -> WorkCalendar:
    return WorkCalendar.load(path)


def parse_deadline(text: str) -> Deadline:
    try:
        return Deadline.parse(text)
    except ValueError as exc:
        raise Unprocessable(str(exc)) from exc


def _slas(session: Session) -> dict[int | None, list[tuple[str | None, Sla]]]:
    """The SLA table by category (``None``: any category) as (urgency or ``None``, SLA), parsed once."""
    columns = (SlaPolicy.category_id, SlaPolicy.urgency, SlaPolicy.sign_within, SlaPolicy.resolve_within)
    by_category: dict[int | None, list[tuple[str | None, Sla]]] = {}
    for r in session.execute(select(*columns).order_by(SlaPolicy.id)):
        try:
            sla = Sla(Deadline.parse(r.sign_within), Deadline.parse(r.resolve_within))
        except ValueError as exc:
            # A row stored before today's bounds (a deadline over a year): its category falls back to the
            # next SLA up rather than every report failing; the row is there to be corrected.
            log.warning("SLA for category %s skipped: %s", r.category_id, exc)
            continue
        by_category.setdefault(r.category_id, []).append((r.urgency, sla))
    return by_category


_cache = PerDatabase(_slas)  # every dispatch looks its SLA up
_DEFAULT = Sla(Deadline.parse(DEFAULT_SLA[0]), Deadline.parse(DEFAULT_SLA[1]))


def find_sla(session: Session, category_id: int | None, urgency: Urgency) -> Sla:
    """The most specific SLA: category (deepest first) beats urgency beats the catch-all."""
    candidates = [
        (category, 1 if for_urgency else 0, sla)
        for category, (for_urgency, sla) in along_lineage(_cache.get(session), lineage(session, category_id))
        if for_urgency is None or for_urgency == urgency.value
    ]
    if not candidates:
        return _DEFAULT
    return max(candidates, key=lambda c: c[:2])[2]


def set_sla(
    session: Session,
    *,
    category_id: int | None,
    urgency: Urgency | None,
    sign_within: str,
    resolve_within: str,
) -> SlaPolicy:
    parse_deadline(sign_within)
    parse_deadline(resolve_within)
    same_cat = (
        SlaPolicy.category_id.is_(None) if category_id is None else SlaPolicy.category_id == category_id
    )
    same_urg = SlaPolicy.urgency.is_(None) if urgency is None else SlaPolicy.urgency == urgency.value
    row = session.scalar(select(SlaPolicy).where(same_cat, same_urg))
    if row is None:
        row = SlaPolicy(category_id=category_id, urgency=urgency.value if urgency else None)
        session.add(row)
    row.sign_within, row.resolve_within = sign_within, resolve_within
    session.flush()
    return row


def deadline_state(
    start: datetime | None, deadline: datetime | None, now: datetime, near: float
) -> DeadlineState:
    """Overdue past the deadline; near (临期) once less than ``near`` of the allowed time is left."""
    if deadline is None:
        return DeadlineState.NORMAL
    if now > deadline:
        return DeadlineState.OVERDUE
    if start is not None and now >= deadline - (deadline - start) * near:
        return DeadlineState.NEAR
    return DeadlineState.NORMAL


def current_kind(event: Event) -> Literal["sign", "resolve"] | None:
    """The deadline that matters now, which 临期/超期 is about: signing until signed, then resolution;
    none before dispatch or once resolved."""
    if event.status is EventStatus.DISPATCHED:
        return "sign"
    if event.status in (EventStatus.ACCEPTED, EventStatus.IN_PROGRESS):
        return "resolve"
    return None


def current_deadline(event: Event) -> tuple[datetime | None, datetime | None]:
    """(clock start, deadline) that matters now (``current_kind``)."""
    kind = current_kind(event)
    if kind is None:
        return None, None
    return event.dispatched_at, event.sign_deadline if kind == "sign" else event.resolve_deadline


def scan(session: Session, now: datetime, near: float) -> dict[str, int]:
    """Update 临期/超期 on every working event and escalate the newly overdue to supervision."""
    counts = {"near": 0, "overdue": 0, "escalated": 0}
    working = (EventStatus.DISPATCHED, EventStatus.ACCEPTED, EventStatus.IN_PROGRESS)
    for event in session.scalars(select(Event).where(Event.status.in_(working))):
        start, deadline = current_deadline(event)
        state = deadline_state(start, deadline, now, near)
        if state is not event.deadline_state:
            event.deadline_state = state
            event.updated_at = now
        if state is DeadlineState.NEAR:
            counts["near"] += 1
        elif state is DeadlineState.OVERDUE:
            counts["overdue"] += 1
            if not event.escalated:
                _escalate(session, event, now)
                counts["escalated"] += 1
    session.flush()
    return counts


def _escalate(session: Session, event: Event, now: datetime) -> None:
    event.escalated = True
    event.supervised = True
    lead = session.scalar(
        select(EventAssignment).where(
            EventAssignment.event_id == event.id, EventAssignment.role == AssignmentRole.LEAD
        )
    )
    session.add(
        EventAction(
            event_id=event.id,
            at=now,
            actor="system",
            action="escalate",
            from_status=event.status.value,
            to_status=event.status.value,
            department_id=lead.department_id if lead else None,
            note="超期未办，已升级督办 (overdue: escalated to supervision)",
            data={"level": "district" if event.district_id else "city"},
        )
    )


def shift(deadline: datetime | None, cal: WorkCalendar, paused: timedelta) -> datetime | None:
    """Move a deadline by working time spent suspended (挂起 stops the clock)."""
    return None if deadline is None else cal.add_working_time(deadline, paused)
