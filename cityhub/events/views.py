"""How an event is shown to a principal: lookups in bulk (no N+1), the reporter masked unless asked for."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BindParameter, bindparam, select
from sqlalchemy.orm import Session

from cityhub.access import policy
from cityhub.access.masking import mask_name, mask_phone
from cityhub.access.principal import Principal
from cityhub.events import categories, deadlines, service, states
from cityhub.events.schemas import (
    ActionOut,
    AreaRef,
    AssignmentOut,
    AttachmentIn,
    DepartmentRef,
    EventOut,
    ReporterOut,
)
from cityhub.geo import service as geo
from cityhub.models.event import Attachment, Event, EventAssignment
from cityhub.org import service as org

_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
# Built once (every answer about events runs it; building a statement costs more than running it).
_ASSIGNMENTS = select(EventAssignment).where(EventAssignment.event_id.in_(_IDS)).order_by(EventAssignment.id)


# Who acted, as a citizen sees the staff's steps on their report.
STAFF = "staff"


class _Lookups:
    """Assignments for a page of events in one query; areas, categories and departments from memory."""

    def __init__(self, session: Session, events: Sequence[Event]) -> None:
        ids = [e.id for e in events]
        self.assignments: dict[int, list[EventAssignment]] = {i: [] for i in ids}
        for a in session.scalars(_ASSIGNMENTS, {"ids": ids}):
            self.assignments[a.event_id].append(a)
        self.areas = geo.area_rows(session)
        self.categories = categories.taxonomy(session).by_id
        self.departments = org.departments(session)

    def department(self, dept_id: int | None) -> DepartmentRef | None:
        d = self.departments.get(dept_id) if dept_id else None
        return DepartmentRef(id=d.id, code=d.code, name=d.name) if d else None

    def category(self, cat_id: int | None) -> dict[str, Any] | None:
        c = self.categories.get(cat_id) if cat_id else None
        return {"id": c.id, "code": c.code, "name": c.name, "path": c.path} if c else None


def _reporter(principal: Principal, event: Event) -> ReporterOut:
    """Masked for everyone; ``can_reveal`` tells whether this principal may ask for it in full
    (``POST /events/{id}/reporter`` with a purpose, audited)."""
    if event.reporter_unknown:
        return ReporterOut(anonymous=True)
    return ReporterOut(
        name=mask_name(event.reporter_name),
        phone=mask_phone(event.reporter_phone),
        anonymous=event.anonymous,
        can_reveal=policy.sees_reporter(principal, event),
    )


def revealed_reporter(event: Event) -> ReporterOut:
    """The reporter in full: only the answer to ``service.reveal_reporter``, which checked the policy and
    audited the read with its purpose."""
    return ReporterOut(
        name=event.reporter_name, phone=event.reporter_phone, anonymous=event.anonymous, can_reveal=True
    )


def _one(session: Session, principal: Principal, event: Event, lk: _Lookups, *, detail: bool) -> EventOut:
    mine = lk.assignments.get(event.id, [])
    open_depts = {a.department_id for a in mine if a.status in service.OPEN_ASSIGNMENT}
    allowed = [a for a in states.allowed_actions(event.status) if policy.may(principal, a, event, open_depts)]
    areas = {
        str(level): AreaRef(id=a.id, code=a.code, name=a.name)
        for level, area_id in (
            ("district", event.district_id),
            ("street", event.street_id),
            ("community", event.community_id),
            ("grid", event.grid_id),
        )
        if area_id and (a := lk.areas.get(area_id)) is not None
    }
    internal = policy.allows(principal, "events.read_internals")
    suggestion = dict(event.suggestion) if event.suggestion and internal else None
    if suggestion is not None:
        suggestion["category"] = lk.category(event.suggested_category_id)
        dept = lk.department(event.suggested_department_id)
        suggestion["department"] = dept.model_dump() if dept else None
    out = EventOut(
        id=event.id,
        number=event.number,
        title=event.title,
        description=event.description,
        channel=event.channel,
        status=event.status,
        status_label=event.status.label,
        urgency=event.urgency,
        grade=event.grade,
        grade_label=event.grade.label if event.grade is not None else None,
        category=lk.category(event.category_id),
        location={"lon": event.lon, "lat": event.lat}
        if event.lon is not None and event.lat is not None
        else None,
        address=event.address,
        areas=areas,
        reporter=_reporter(principal, event),
        lead_department=lk.department(event.lead_department_id),
        assignments=[
            AssignmentOut(
                department=lk.department(a.department_id)
                or DepartmentRef(id=a.department_id, code="?", name="?"),
                role=a.role,
                status=a.status,
                assigned_at=a.assigned_at,
                accepted_at=a.accepted_at,
                resolved_at=a.resolved_at,
                note=a.note,
            )
            for a in mine
        ],
        suggestion=suggestion,
        needs_review=event.needs_review,
        created_at=event.created_at,
        dispatched_at=event.dispatched_at,
        accepted_at=event.accepted_at,
        resolved_at=event.resolved_at,
        closed_at=event.closed_at,
        sign_deadline=event.sign_deadline,
        resolve_deadline=event.resolve_deadline,
        deadline_state=event.deadline_state,
        current_deadline=deadlines.current_kind(event),
        supervised=event.supervised,
        escalated=event.escalated,
        extension_requested_until=event.extension_requested_until,
        merged_into=event.merged_into_id,
        rating=event.rating,
        resolution=event.resolution,
        allowed_actions=allowed,
    )
    if detail:
        out.timeline = [
            ActionOut(
                at=a.at,
                actor=a.actor if internal or a.actor == principal.username else STAFF,
                action=a.action,
                from_status=a.from_status,
                to_status=a.to_status,
                department_id=a.department_id,
                note=a.note,
                data=a.data if internal else {},
            )
            for a in service.timeline(session, event.id)
        ]
        out.attachments = [
            AttachmentIn.model_validate(x, from_attributes=True)
            for x in session.scalars(select(Attachment).where(Attachment.event_id == event.id))
        ]
    return out


def detail(session: Session, principal: Principal, event: Event) -> EventOut:
    """One event with its timeline (the reporter masked, as everywhere)."""
    return _one(session, principal, event, _Lookups(session, [event]), detail=True)


def page(session: Session, principal: Principal, events: Sequence[Event]) -> list[EventOut]:
    """A list page."""
    lk = _Lookups(session, events)
    return [_one(session, principal, e, lk, detail=False) for e in events]
