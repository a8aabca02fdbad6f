"""The event rules: intake from every channel, the lifecycle, co-handling and deadlines.

Every function takes the session and the acting principal first. Reads go through
``policy.readable_events`` (hidden events are 404); actions go through the transition table
(``states.check``, 409) and ``policy.authorize_event`` (403). Functions flush, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from cityhub.access import policy
from cityhub.access.principal import SYSTEM, Principal
from cityhub.access.reveal import revealed
from cityhub.audit.hooks import acting, bind_principal, hand_over
from cityhub.dispatch import gazetteer
from cityhub.dispatch.suggest import RoutingSuggester, Suggester, Suggestion
from cityhub.events import categories, deadlines, states
from cityhub.events.numbering import next_number
from cityhub.events.schemas import AttachmentIn, EventIn
from cityhub.geo import service as geo
from cityhub.kit.bus import publish_after_commit
from cityhub.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from cityhub.kit.timeutil import clock
from cityhub.models.area import AreaLevel
from cityhub.models.event import (
    SUPERVISED_FROM,
    AssignmentRole,
    AssignmentStatus,
    Attachment,
    Channel,
    DeadlineState,
    Event,
    EventAction,
    EventAssignment,
    EventGrade,
    EventStatus,
)
from cityhub.models.org import Department, Role
from cityhub.org import service as org

OPEN_ASSIGNMENT = (AssignmentStatus.PENDING, AssignmentStatus.ACCEPTED, AssignmentStatus.IN_PROGRESS)


@dataclass
class DispatchPolicy:
    """How intake treats a suggestion: dispatch at once above the threshold, else the review queue."""

    review_threshold: float = 0.8
    suggester: Suggester | None = None

    def get_suggester(self) -> Suggester:
        return self.suggester or RoutingSuggester()

    def after_intake(self, session: Session, event: Event) -> None:
        """Called once a new event is stored and suggested; the hub's policy merges duplicates here."""


# ---------------------------------------------------------------- reads


def readable(principal: Principal) -> ColumnElement[bool]:
    return policy.readable_events(principal)


def get(session: Session, principal: Principal, event_id: int) -> Event:
    event = session.scalar(select(Event).where(Event.id == event_id, readable(principal)))
    if event is None:
        raise NotFound(f"no event {event_id}")
    return event


def reveal_reporter(session: Session, principal: Principal, event_id: int, purpose: str) -> Event:
    """An event whose reporter is to be shown in full, for a principal whose role calls reporters back
    (``policy.sees_reporter``), who says why: the read and its purpose go to the audit log. An event the
    principal may not read is 404, as when reading it."""
    event = get(session, principal, event_id)
    if not policy.sees_reporter(principal, event):
        raise Forbidden(
            f"a {principal.role.label} ({principal.role}) does not call this event's reporter back: "
            "the operation centre or the lead department does"
        )
    if event.reporter_unknown:
        raise Unprocessable(
            f"event {event.number} was reported anonymously: there is no one to call back", code="anonymous"
        )
    revealed(session, principal, "events", str(event.id), ("reporter_name", "reporter_phone"), purpose)
    return event


def get_by_number(session: Session, principal: Principal, number: str) -> Event:
    event = session.scalar(select(Event).where(Event.number == number, readable(principal)))
    if event is None:
        raise NotFound(f"no event {number}")
    return event


@dataclass(frozen=True)
class EventFilter:
    status: list[str] | None = None
    category_id: int | None = None
    district_id: int | None = None
    street_id: int | None = None
    department_id: int | None = None
    deadline_state: DeadlineState | None = None
    needs_review: bool | None = None
    supervised: bool | None = None
    grade: list[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None


def _where(f: EventFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if f.status:
        clauses.append(Event.status.in_(f.status))
    if f.grade:
        clauses.append(Event.grade.in_(f.grade))
    for column, value in (
        (Event.category_id, f.category_id),
        (Event.district_id, f.district_id),
        (Event.street_id, f.street_id),
        (Event.lead_department_id, f.department_id),
        (Event.deadline_state, f.deadline_state),
        (Event.needs_review, f.needs_review),
        (Event.supervised, f.supervised),
    ):
        if value is not None:
            clauses.append(column == value)
    if f.since is not None:
        clauses.append(Event.created_at >= f.since)
    if f.until is not None:
        clauses.append(Event.created_at < f.until)
    if f.q:
        pattern = f"%{f.q}%"
        clauses.append(
            or_(Event.title.like(pattern), Event.number.like(pattern), Event.address.like(pattern))
        )
    return clauses


def search(
    session: Session, principal: Principal, f: EventFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[Event], int]:
    where = [readable(principal), *_where(f)]
    total = session.scalar(select(func.count(Event.id)).where(*where)) or 0
    rows = session.scalars(
        select(Event)
        .where(*where)
        .order_by(Event.created_at.desc(), Event.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), int(total)


def assignments(session: Session, event_id: int) -> list[EventAssignment]:
    return list(
        session.scalars(
            select(EventAssignment).where(EventAssignment.event_id == event_id).order_by(EventAssignment.id)
        )
    )


def timeline(session: Session, event_id: int) -> list[EventAction]:
    return list(
        session.scalars(select(EventAction).where(EventAction.event_id == event_id).order_by(EventAction.id))
    )


def open_departments(session: Session, event_id: int) -> set[int]:
    return {a.department_id for a in assignments(session, event_id) if a.status in OPEN_ASSIGNMENT}


def allowed_for(session: Session, principal: Principal, event: Event) -> list[str]:
    """The actions this principal may take on this event now (the UI offers exactly these)."""
    depts = open_departments(session, event.id)
    return [a for a in states.allowed_actions(event.status) if policy.may(principal, a, event, depts)]


# ---------------------------------------------------------------- intake


def create(session: Session, principal: Principal, data: EventIn, dispatch_policy: DispatchPolicy) -> Event:
    """Receive a report (受理), locate it, ask for a suggestion and dispatch it if the suggestion is sure.

    The report, its timeline, its departments and what the system decided go out in one flush: the
    suggestion is asked before the event is in the session (its reads do not store it early), and the
    audit still shows the reporter's creation apart from the system's part (``hand_over``).
    """
    bind_principal(session, principal)
    if data.grade is not None:
        policy.authorize_grading(principal)
    now = clock.now()
    category_id = categories.find(session, data.category).id if data.category else None
    event = Event(
        number=next_number(session, now),
        title=data.title,
        description=data.description,
        channel=data.channel,
        category_id=category_id,
        status=EventStatus.RECEIVED,
        urgency=data.urgency,
        grade=data.grade,
        supervised=_grave(data.grade),
        address=data.address,
        created_at=now,
        updated_at=now,
        created_by_id=principal.user_id,
        # A citizen reporting for themselves; an app filing for citizens (Open311) is not the reporter.
        reporter_user_id=principal.user_id
        if principal.role is Role.CITIZEN and data.channel is not Channel.OPEN311
        else None,
        deadline_state=DeadlineState.NORMAL,
    )
    _set_reporter(event, data, principal)
    _set_location(session, event, data)
    suggestion = dispatch_policy.get_suggester().suggest(session, event)
    # What dispatching reads is reference data (departments, SLAs, the calendar): a cold cache's query must
    # not flush the event before the system's part is on it.
    with session.no_autoflush:
        session.add(event)
        for attachment in data.attachments:
            session.add(Attachment(event=event, **attachment.model_dump()))
        _record(session, principal, event, "create", None, EventStatus.RECEIVED, note=None)
        _apply_suggestion(session, event, suggestion, dispatch_policy)
    dispatch_policy.after_intake(session, event)
    return event


def _set_reporter(event: Event, data: EventIn, principal: Principal) -> None:
    reporter = data.reporter
    if reporter is None:
        event.anonymous = principal.user_id is None
        return
    event.anonymous = reporter.anonymous
    if not reporter.anonymous:
        event.reporter_name = reporter.name
        event.reporter_phone = reporter.phone


def _set_location(session: Session, event: Event, data: EventIn) -> None:
    if data.location is not None:
        located = geo.place(session, data.location.lon, data.location.lat, data.location.crs)
        event.lon, event.lat = located.lon, located.lat
        event.input_crs = data.location.crs.value
        located = gazetteer.locate(session, located, data.address)  # the point wins; the address fills gaps
    elif data.address:
        located = gazetteer.locate(session, None, data.address)
    else:
        return
    apply_location(event, located)


def apply_location(event: Event, located: geo.Located) -> None:
    event.district_id = located.get(AreaLevel.DISTRICT)
    event.street_id = located.get(AreaLevel.STREET)
    event.community_id = located.get(AreaLevel.COMMUNITY)
    event.grid_id = located.get(AreaLevel.GRID)
    event.location_resolved = event.district_id is not None


def _apply_suggestion(
    session: Session, event: Event, suggestion: Suggestion, dispatch_policy: DispatchPolicy
) -> None:
    # The reporter's part is audited as theirs; the suggestion and the automatic dispatch as the
    # system's, in the flush that stores the event.
    reporter = acting(session)
    hand_over(session, event, SYSTEM)
    event.suggestion = suggestion.as_dict()
    event.suggested_category_id = suggestion.category_id
    event.suggested_department_id = suggestion.lead_department_id
    event.suggestion_confidence = suggestion.confidence
    event.model_version = suggestion.model_version
    sure = (
        suggestion.lead_department_id is not None
        and suggestion.confidence >= dispatch_policy.review_threshold
    )
    if not sure:
        event.needs_review = True
    else:
        if event.category_id is None:
            event.category_id = suggestion.category_id
        assert suggestion.lead_department_id is not None
        _dispatch(
            session,
            SYSTEM,
            event,
            suggestion.lead_department_id,
            suggestion.co_department_ids,
            note=f"自动派单 (auto-dispatch, {suggestion.reason})",
            dispatch_policy=dispatch_policy,
        )
    session.flush()
    bind_principal(session, reporter)


# ---------------------------------------------------------------- lifecycle


def _record(
    session: Session,
    principal: Principal,
    event: Event,
    action: str,
    from_status: EventStatus | None,
    to_status: EventStatus | None,
    *,
    note: str | None,
    department_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    session.add(
        EventAction(
            event=event,
            at=clock.now(),
            actor_id=principal.user_id,
            actor=principal.username,
            action=action,
            from_status=from_status.value if from_status else None,
            to_status=(to_status or from_status or EventStatus.RECEIVED).value,
            department_id=department_id,
            note=note,
            data=data or {},
        )
    )
    status = str(event.status)
    publish_after_commit(  # the payload at commit: a new event has its id only once stored
        session,
        f"events.{action}",
        lambda: {"id": event.id, "number": event.number, "action": action, "status": status},
    )


def _begin(
    session: Session, principal: Principal, event_id: int, action: str
) -> tuple[Event, states.Transition]:
    """Load a readable event, check the transition (409) and the principal's right (403)."""
    bind_principal(session, principal)
    event = get(session, principal, event_id)
    departments = open_departments(session, event.id)
    transition = states.check(action, event.status, lambda a: policy.may(principal, a, event, departments))
    policy.authorize_event(principal, action, event, departments)
    return event, transition


def _move(
    session: Session,
    principal: Principal,
    event: Event,
    action: str,
    to_status: EventStatus | None,
    *,
    note: str | None = None,
    department_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> Event:
    before = event.status
    if to_status is not None:
        event.status = to_status
    event.updated_at = clock.now()
    _record(
        session,
        principal,
        event,
        action,
        before,
        to_status,
        note=note,
        department_id=department_id,
        data=data,
    )
    session.flush()
    return event


def dispatch(
    session: Session,
    principal: Principal,
    event_id: int,
    dispatch_policy: DispatchPolicy,
    *,
    department_id: int | None = None,
    co_department_ids: list[int] | None = None,
    category: str | None = None,
    note: str | None = None,
) -> Event:
    """派单: to the given department, or to what the routing table says for the (corrected) category."""
    event, _ = _begin(session, principal, event_id, "dispatch")
    if category is not None:
        event.category_id = categories.find(session, category).id
    elif event.category_id is None:
        event.category_id = event.suggested_category_id  # accepting the classifier's category
    corrected = category is not None and event.category_id != event.suggested_category_id
    co = tuple(co_department_ids) if co_department_ids is not None else None
    if department_id is None:
        suggestion = RoutingSuggester().suggest(session, event)
        if suggestion.lead_department_id is None:
            raise Unprocessable(f"choose a department: {suggestion.reason}", code="department_needed")
        department_id = suggestion.lead_department_id
        co = suggestion.co_department_ids if co is None else co
    accepted_suggestion = not corrected and department_id == event.suggested_department_id
    _dispatch(
        session,
        principal,
        event,
        department_id,
        co or (),
        note=note,
        dispatch_policy=dispatch_policy,
        data={"accepted_suggestion": accepted_suggestion, "corrected_category": corrected},
    )
    return event


def _dispatch(
    session: Session,
    principal: Principal,
    event: Event,
    lead_id: int,
    co_ids: tuple[int, ...],
    *,
    note: str | None,
    dispatch_policy: DispatchPolicy,
    data: dict[str, Any] | None = None,
) -> None:
    known = org.departments(session)
    for dept_id in (lead_id, *co_ids):
        department = known.get(dept_id)
        if department is None or not department.active:
            raise Unprocessable(
                f"department {dept_id} does not exist or is inactive", code="unknown_department"
            )
    if lead_id in co_ids:
        raise Unprocessable("the lead department cannot also be a co-handling department", code="lead_is_co")
    now = clock.now()
    sla = deadlines.find_sla(session, event.category_id, event.urgency)
    cal = deadlines.calendar()
    event.sign_deadline = sla.sign_within.due(cal, now)
    event.resolve_deadline = sla.resolve_within.due(cal, now)
    event.lead_department_id = lead_id
    event.dispatched_at = now
    event.needs_review = False
    event.deadline_state = DeadlineState.NORMAL
    for dept_id, role in [(lead_id, AssignmentRole.LEAD)] + [(d, AssignmentRole.CO) for d in co_ids]:
        session.add(
            EventAssignment(
                event=event,
                department_id=dept_id,
                role=role,
                status=AssignmentStatus.PENDING,
                assigned_at=now,
                sign_deadline=event.sign_deadline,
                resolve_deadline=event.resolve_deadline,
            )
        )
    details = {"lead": lead_id, "co": list(co_ids), **(data or {})}
    _move(
        session,
        principal,
        event,
        "dispatch",
        EventStatus.DISPATCHED,
        note=note,
        department_id=lead_id,
        data=details,
    )


def _own_assignment(session: Session, principal: Principal, event: Event) -> EventAssignment:
    for assignment in assignments(session, event.id):
        if assignment.department_id == principal.department_id and assignment.status in OPEN_ASSIGNMENT:
            return assignment
    raise NotFound("your department has no open part in this event", code="no_open_part")


def accept(session: Session, principal: Principal, event_id: int, *, note: str | None = None) -> Event:
    """签收: the lead department signs for the event; a co-handler signs for its own part."""
    bind_principal(session, principal)
    event = get(session, principal, event_id)
    mine = _own_assignment(session, principal, event)
    if mine.role is AssignmentRole.CO:
        return _co_step(session, principal, event, mine, "accept", AssignmentStatus.ACCEPTED, note)
    event, transition = _begin(session, principal, event_id, "accept")
    now = clock.now()
    mine.status, mine.accepted_at = AssignmentStatus.ACCEPTED, now
    event.accepted_at = now
    if event.deadline_state is not DeadlineState.NORMAL:
        event.deadline_state = DeadlineState.NORMAL
        event.escalated = False
    return _move(
        session, principal, event, "accept", transition.target, note=note, department_id=mine.department_id
    )


def _co_step(
    session: Session,
    principal: Principal,
    event: Event,
    mine: EventAssignment,
    action: str,
    status: AssignmentStatus,
    note: str | None,
) -> Event:
    departments = open_departments(session, event.id)
    if event.status not in states.WORKING:
        raise states.refusal(action, event.status, lambda a: policy.may(principal, a, event, departments))
    policy.authorize_event(principal, action, event, departments)
    now = clock.now()
    if status is AssignmentStatus.ACCEPTED:
        mine.accepted_at = now
    if status is AssignmentStatus.RESOLVED:
        if mine.accepted_at is None:
            mine.accepted_at = now
        mine.resolved_at = now
    mine.status = status
    if note:
        mine.note = note
    return _move(session, principal, event, f"co_{action}", None, note=note, department_id=mine.department_id)


def start(session: Session, principal: Principal, event_id: int, *, note: str | None = None) -> Event:
    event, transition = _begin(session, principal, event_id, "start")
    mine = _own_assignment(session, principal, event)
    mine.status = AssignmentStatus.IN_PROGRESS
    return _move(
        session, principal, event, "start", transition.target, note=note, department_id=mine.department_id
    )


def add_note(session: Session, principal: Principal, event_id: int, note: str) -> Event:
    event, _ = _begin(session, principal, event_id, "note")
    return _move(session, principal, event, "note", None, note=note, department_id=principal.department_id)


def resolve(session: Session, principal: Principal, event_id: int, resolution: str) -> Event:
    """办结: the lead closes its handling once every co-handler has finished its part."""
    bind_principal(session, principal)
    event = get(session, principal, event_id)
    mine = _own_assignment(session, principal, event)
    if mine.role is AssignmentRole.CO:
        return _co_step(session, principal, event, mine, "resolve", AssignmentStatus.RESOLVED, resolution)
    event, transition = _begin(session, principal, event_id, "resolve")
    pending = [
        a
        for a in assignments(session, event.id)
        if a.role is AssignmentRole.CO and a.status in OPEN_ASSIGNMENT
    ]
    if pending:
        names = [_department_name(session, a.department_id) for a in pending]
        raise Conflict(
            f"co-handling departments have not finished yet: {', '.join(names)}",
            code="co_handlers_open",
            departments=names,
        )
    now = clock.now()
    mine.status, mine.resolved_at = AssignmentStatus.RESOLVED, now
    if mine.accepted_at is None:
        mine.accepted_at = now
    event.resolved_at, event.resolution = now, resolution
    event.deadline_state = DeadlineState.NORMAL
    return _move(
        session,
        principal,
        event,
        "resolve",
        transition.target,
        note=resolution,
        department_id=mine.department_id,
    )


def _department_name(session: Session, department_id: int) -> str:
    department = session.get(Department, department_id)
    return department.name if department else str(department_id)


def return_(session: Session, principal: Principal, event_id: int, reason: str) -> Event:
    """退单: the lead department says the event is not theirs; it goes back to the dispatcher."""
    event, transition = _begin(session, principal, event_id, "return")
    for assignment in assignments(session, event.id):
        if assignment.status in OPEN_ASSIGNMENT:
            is_lead = assignment.role is AssignmentRole.LEAD
            assignment.status = AssignmentStatus.RETURNED if is_lead else AssignmentStatus.WITHDRAWN
            if is_lead:
                assignment.note = reason
    department_id = event.lead_department_id
    event.lead_department_id = None
    event.return_count += 1
    event.needs_review = True
    event.deadline_state = DeadlineState.NORMAL
    event.sign_deadline = event.resolve_deadline = None
    return _move(
        session, principal, event, "return", transition.target, note=reason, department_id=department_id
    )


def request_extension(
    session: Session, principal: Principal, event_id: int, until: datetime, reason: str
) -> Event:
    event, _ = _begin(session, principal, event_id, "request_extension")
    if event.extension_requested_until is not None:
        raise Conflict("an extension request is already waiting for a decision", code="extension_pending")
    if event.resolve_deadline is not None and until <= event.resolve_deadline:
        raise Unprocessable(
            f"the new deadline must be after the current one ({event.resolve_deadline.isoformat()})",
            code="deadline_not_later",
            current_deadline=event.resolve_deadline.isoformat(),
        )
    if until <= clock.now():
        raise Unprocessable("the new deadline must be in the future", code="deadline_in_past")
    event.extension_requested_until, event.extension_reason = until, reason
    return _move(
        session, principal, event, "request_extension", None, note=reason, data={"until": until.isoformat()}
    )


def decide_extension(
    session: Session, principal: Principal, event_id: int, approve: bool, note: str | None = None
) -> Event:
    event, _ = _begin(session, principal, event_id, "decide_extension")
    until = event.extension_requested_until
    if until is None:
        raise Conflict("there is no extension request to decide", code="no_extension_request")
    if approve:
        event.resolve_deadline = until
        for assignment in assignments(session, event.id):
            if assignment.status in OPEN_ASSIGNMENT:
                assignment.resolve_deadline = until
        # The next scan marks 临期 again if the new deadline is close; it is not overdue any more.
        event.deadline_state = DeadlineState.NORMAL
        event.escalated = False
    event.extension_requested_until = None
    action = "approve_extension" if approve else "reject_extension"
    return _move(session, principal, event, action, None, note=note, data={"until": until.isoformat()})


def suspend(session: Session, principal: Principal, event_id: int, reason: str) -> Event:
    event, transition = _begin(session, principal, event_id, "suspend")
    event.status_before_suspend = event.status
    event.suspended_at = clock.now()
    return _move(session, principal, event, "suspend", transition.target, note=reason)


def resume(session: Session, principal: Principal, event_id: int, note: str | None = None) -> Event:
    """恢复: back to where it was; the deadlines move by the working time spent suspended."""
    event, _ = _begin(session, principal, event_id, "resume")
    now = clock.now()
    cal = deadlines.calendar()
    paused = cal.working_time_between(event.suspended_at, now) if event.suspended_at else timedelta(0)
    event.sign_deadline = deadlines.shift(event.sign_deadline, cal, paused)
    event.resolve_deadline = deadlines.shift(event.resolve_deadline, cal, paused)
    target = event.status_before_suspend or EventStatus.DISPATCHED
    event.status_before_suspend = event.suspended_at = None
    return _move(
        session, principal, event, "resume", target, note=note, data={"paused_s": paused.total_seconds()}
    )


def supervise(session: Session, principal: Principal, event_id: int, note: str) -> Event:
    """督办: the supervisor presses the departments; the event is flagged until it is closed."""
    event, _ = _begin(session, principal, event_id, "supervise")
    event.supervised = True
    return _move(session, principal, event, "supervise", None, note=note)


def grade(
    session: Session, principal: Principal, event_id: int, grade: EventGrade | None, reason: str
) -> Event:
    """定级: the operation centre grades an emergency Ⅰ–Ⅳ, changes the grade as the harm becomes known, or
    takes it back (``None``). 较大 (Ⅲ) and above are supervised from then on; a lower grade later does not
    end a supervision (督办 lasts until the event is closed)."""
    event, _ = _begin(session, principal, event_id, "grade")
    before = event.grade
    if grade == before:
        raise Conflict(
            f"the event is already graded {grade.label if grade else 'not at all'}", code="grade_unchanged"
        )
    event.grade = grade
    data: dict[str, Any] = {"from": before.value if before else None, "to": grade.value if grade else None}
    if _grave(grade) and not event.supervised:
        event.supervised = True
        data["supervised"] = True
    return _move(session, principal, event, "grade", None, note=reason, data=data)


def _grave(grade: EventGrade | None) -> bool:
    """Graded 较大 or above: reported up the line, so supervised (督办) from the start."""
    return grade is not None and grade.rank >= SUPERVISED_FROM.rank


def merge(session: Session, principal: Principal, event_id: int, into: int, note: str | None = None) -> Event:
    """合并: this event reports the same problem as ``into``; its reporter follows that event."""
    event, transition = _begin(session, principal, event_id, "merge")
    if into == event.id:
        raise Unprocessable("an event cannot be merged into itself", code="merge_into_itself")
    target = get(session, principal, into)
    if not target.status.is_open:
        raise Conflict(
            f"event {target.number} is {target.status.value}; merge into an open event",
            code="merge_target_closed",
            target_status=target.status.value,
        )
    for assignment in assignments(session, event.id):
        if assignment.status in OPEN_ASSIGNMENT:
            assignment.status = AssignmentStatus.WITHDRAWN
    event.merged_into_id = target.id
    event.needs_review = False
    _record(
        session, principal, target, "merged_in", target.status, None, note=note, data={"event": event.number}
    )
    return _move(
        session, principal, event, "merge", transition.target, note=note, data={"into": target.number}
    )


def cancel(session: Session, principal: Principal, event_id: int, reason: str) -> Event:
    event, transition = _begin(session, principal, event_id, "cancel")
    event.needs_review = False
    return _move(session, principal, event, "cancel", transition.target, note=reason)


def rate(
    session: Session, principal: Principal, event_id: int, rating: int, comment: str | None = None
) -> Event:
    """回访: the citizen's rating (1–5) closes the event."""
    event, transition = _begin(session, principal, event_id, "rate")
    event.rating, event.rating_comment = rating, comment
    event.closed_at = clock.now()
    return _move(session, principal, event, "rate", transition.target, note=comment, data={"rating": rating})


def reopen(session: Session, principal: Principal, event_id: int, reason: str) -> Event:
    """重开: the citizen is not satisfied; the event goes back to the dispatcher."""
    event, transition = _begin(session, principal, event_id, "reopen")
    event.reopen_count += 1
    event.needs_review = True
    event.lead_department_id = None
    event.deadline_state = DeadlineState.NORMAL
    event.closed_at = None
    return _move(session, principal, event, "reopen", transition.target, note=reason)


def attach(session: Session, principal: Principal, event_id: int, data: AttachmentIn) -> Event:
    event, _ = _begin(session, principal, event_id, "attach")
    session.add(Attachment(event_id=event.id, **data.model_dump()))
    return _move(session, principal, event, "attach", None, data={"filename": data.filename})


def relocate(session: Session, event: Event) -> bool:
    """Try again to place an event known only by address (new areas or gazetteer entries may help)."""
    if event.location_resolved or not event.address:
        return False
    apply_location(event, gazetteer.locate(session, None, event.address))
    return event.location_resolved
