"""Event intake, lists, the lifecycle actions, categories, SLAs and evaluation reports."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, UploadFile, status
from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import select

from cityhub.access import policy
from cityhub.access.deps import PrincipalDep, SessionDep
from cityhub.access.principal import Principal
from cityhub.access.reveal import RevealIn
from cityhub.audit.hooks import bind_principal
from cityhub.events import categories, deadlines, evaluation, service, views
from cityhub.events.calendar import Deadline
from cityhub.events.schemas import (
    AttachmentIn,
    DispatchIn,
    EventIn,
    EventOut,
    EventPage,
    ExtensionDecisionIn,
    ExtensionIn,
    GradeIn,
    MergeIn,
    NoteIn,
    OptionalNoteIn,
    RateIn,
    ReasonIn,
    ReporterOut,
    ResolveIn,
)
from cityhub.kit.errors import BadRequest
from cityhub.kit.text import Input
from cityhub.kit.timeutil import LocalInstant
from cityhub.models.category import Category
from cityhub.models.event import DeadlineState, Event, EventGrade, EventStatus, Urgency
from cityhub.models.routing import SlaPolicy

router = APIRouter(tags=["events"])
MAX_TAXONOMY_BYTES = 2_000_000


async def dispatch_policy(request: Request) -> service.DispatchPolicy:
    policy_: service.DispatchPolicy = request.app.state.dispatch_policy
    return policy_


EventId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the event's id")]
PolicyDep = Annotated[service.DispatchPolicy, Depends(dispatch_policy)]


def _detail(session: SessionDep, principal: Principal, event: Event) -> EventOut:
    return views.detail(session, principal, event)


@router.post("/events", response_model=EventOut, status_code=status.HTTP_201_CREATED)
def create_event(body: EventIn, principal: PrincipalDep, session: SessionDep, dp: PolicyDep) -> EventOut:
    """Receive a report (受理) from any channel; it is located, routed and, when sure, dispatched."""
    policy.authorize(principal, "events.create")
    event = service.create(session, principal, body, dp)
    return views.page(session, principal, [event])[0]


@router.post(
    "/events/{event_id}/reporter",
    response_model=ReporterOut,
    responses={
        403: {"description": "your role does not call this event's reporter back"},
        404: {"description": "no such event for this reader"},
        422: {"description": "no purpose (2 to 200 characters), or the event was reported anonymously"},
    },
)
def reveal_reporter(
    event_id: EventId, body: RevealIn, principal: PrincipalDep, session: SessionDep
) -> ReporterOut:
    """The reporter's name and phone in full, to call them back (回访) — for the operation centre and the
    lead department. Say why in ``purpose``: the read and its purpose go into the audit log."""
    return views.revealed_reporter(service.reveal_reporter(session, principal, event_id, body.purpose))


@router.get("/events", response_model=EventPage)
def list_events(
    principal: PrincipalDep,
    session: SessionDep,
    status_: Annotated[list[EventStatus] | None, Query(alias="status")] = None,
    category_id: int | None = None,
    district_id: int | None = None,
    street_id: int | None = None,
    department_id: int | None = None,
    deadline_state: DeadlineState | None = None,
    needs_review: bool | None = None,
    supervised: bool | None = None,
    grade: Annotated[
        list[EventGrade] | None, Query(description="突发事件分级; repeat for several (I, II, III, IV)")
    ] = None,
    since: LocalInstant | None = None,
    until: LocalInstant | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> EventPage:
    """Events this principal may see, newest first, with filters."""
    f = service.EventFilter(
        status=[s.value for s in status_] if status_ else None,
        category_id=category_id,
        district_id=district_id,
        street_id=street_id,
        department_id=department_id,
        deadline_state=deadline_state,
        needs_review=needs_review,
        supervised=supervised,
        grade=[g.value for g in grade] if grade else None,
        since=since,
        until=until,
        q=q,
    )
    rows, total = service.search(session, principal, f, limit=limit, offset=offset)
    return EventPage(items=views.page(session, principal, rows), total=total, limit=limit, offset=offset)


@router.get("/review-queue", response_model=EventPage)
def review_queue(
    principal: PrincipalDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> EventPage:
    """Events waiting for a dispatcher: no sure suggestion, returned or reopened."""
    policy.authorize(principal, "review_queue.read")
    f = service.EventFilter(
        needs_review=True, status=[EventStatus.RECEIVED, EventStatus.RETURNED, EventStatus.REOPENED]
    )
    rows, total = service.search(session, principal, f, limit=limit, offset=offset)
    return EventPage(items=views.page(session, principal, rows), total=total, limit=limit, offset=offset)


@router.get("/events/by-number/{number}", response_model=EventOut)
def get_event_by_number(number: str, principal: PrincipalDep, session: SessionDep) -> EventOut:
    """One event by its number (e.g. 20261121-000123)."""
    return _detail(session, principal, service.get_by_number(session, principal, number))


@router.get("/events/{event_id}", response_model=EventOut)
def get_event(event_id: EventId, principal: PrincipalDep, session: SessionDep) -> EventOut:
    """One event with its timeline, departments and deadlines."""
    return _detail(session, principal, service.get(session, principal, event_id))


@router.post("/events/{event_id}/dispatch", response_model=EventOut)
def dispatch(
    event_id: int, body: DispatchIn, principal: PrincipalDep, session: SessionDep, dp: PolicyDep
) -> EventOut:
    """派单: confirm or correct the suggestion and dispatch in one step."""
    event = service.dispatch(
        session,
        principal,
        event_id,
        dp,
        department_id=body.department,
        co_department_ids=body.co_departments,
        category=body.category,
        note=body.note,
    )
    return _detail(session, principal, event)


@router.post("/events/{event_id}/accept", response_model=EventOut)
def accept(event_id: EventId, body: OptionalNoteIn, principal: PrincipalDep, session: SessionDep) -> EventOut:
    """签收: the department signs for the event (a co-handler for its own part)."""
    return _detail(session, principal, service.accept(session, principal, event_id, note=body.note))


@router.post("/events/{event_id}/start", response_model=EventOut)
def start(event_id: EventId, body: OptionalNoteIn, principal: PrincipalDep, session: SessionDep) -> EventOut:
    """处置: the lead department starts working on it."""
    return _detail(session, principal, service.start(session, principal, event_id, note=body.note))


@router.post("/events/{event_id}/notes", response_model=EventOut)
def add_note(event_id: EventId, body: NoteIn, principal: PrincipalDep, session: SessionDep) -> EventOut:
    """A progress note on the timeline."""
    return _detail(session, principal, service.add_note(session, principal, event_id, body.note))


@router.post("/events/{event_id}/resolve", response_model=EventOut)
def resolve(event_id: EventId, body: ResolveIn, principal: PrincipalDep, session: SessionDep) -> EventOut:
    """办结: what was done. The lead can resolve once every co-handler has finished."""
    return _detail(session, principal, service.resolve(session, principal, event_id, body.resolution))


@router.post("/events/{event_id}/return", response_model=EventOut)
def return_event(event_id: EventId, body: ReasonIn, principal: PrincipalDep, session: SessionDep) -> EventOut:
    """退单: not this department's; back to the dispatcher with the reason."""
    return _detail(session, principal, service.return_(session, principal, event_id, body.reason))


@router.post("/events/{event_id}/extension", response_model=EventOut)
def request_extension(
    event_id: int, body: ExtensionIn, principal: PrincipalDep, session: SessionDep
) -> EventOut:
    """延期: ask for a later resolution deadline."""
    event = service.request_extension(session, principal, event_id, body.until, body.reason)
    return _detail(session, principal, event)


@router.post("/events/{event_id}/extension/decision", response_model=EventOut)
def decide_extension(
    event_id: int, body: ExtensionDecisionIn, principal: PrincipalDep, session: SessionDep
) -> EventOut:
    """Approve or reject a pending extension request."""
    event = service.decide_extension(session, principal, event_id, body.approve, body.note)
    return _detail(session, principal, event)


@router.post("/events/{event_id}/suspend", response_model=EventOut)
def suspend(event_id: EventId, body: ReasonIn, principal: PrincipalDep, session: SessionDep) -> EventOut:
    """挂起: stop the clock (e.g. waiting for a court ruling or the weather)."""
    return _detail(session, principal, service.suspend(session, principal, event_id, body.reason))


@router.post("/events/{event_id}/resume", response_model=EventOut)
def resume(event_id: EventId, body: OptionalNoteIn, principal: PrincipalDep, session: SessionDep) -> EventOut:
    """Resume a suspended event; its deadlines move by the working time spent suspended."""
    return _detail(session, principal, service.resume(session, principal, event_id, body.note))


@router.post("/events/{event_id}/supervise", response_model=EventOut)
def supervise(event_id: EventId, body: NoteIn, principal: PrincipalDep, session: SessionDep) -> EventOut:
    """督办: press the departments, with the supervisor's instruction."""
    return _detail(session, principal, service.supervise(session, principal, event_id, body.note))


@router.post("/events/{event_id}/grade", response_model=EventOut)
def grade(event_id: EventId, body: GradeIn, principal: PrincipalDep, session: SessionDep) -> EventOut:
    """定级: grade an emergency Ⅰ (特别重大) … Ⅳ (一般), change its grade, or take it back (null), saying
    why. Ⅲ (较大) and above are supervised (督办) from then on."""
    return _detail(session, principal, service.grade(session, principal, event_id, body.grade, body.reason))


@router.post("/events/{event_id}/merge", response_model=EventOut)
def merge(event_id: EventId, body: MergeIn, principal: PrincipalDep, session: SessionDep) -> EventOut:
    """合并: a duplicate of another open event (一事多诉)."""
    return _detail(session, principal, service.merge(session, principal, event_id, body.into, body.note))


@router.post("/events/{event_id}/cancel", response_model=EventOut)
def cancel(event_id: EventId, body: ReasonIn, principal: PrincipalDep, session: SessionDep) -> EventOut:
    """Withdraw an event that is not a case (a test call, a report withdrawn by the citizen)."""
    return _detail(session, principal, service.cancel(session, principal, event_id, body.reason))


@router.post("/events/{event_id}/rate", response_model=EventOut)
def rate(event_id: EventId, body: RateIn, principal: PrincipalDep, session: SessionDep) -> EventOut:
    """回访: the citizen's rating closes the event."""
    return _detail(session, principal, service.rate(session, principal, event_id, body.rating, body.comment))


@router.post("/events/{event_id}/reopen", response_model=EventOut)
def reopen(event_id: EventId, body: ReasonIn, principal: PrincipalDep, session: SessionDep) -> EventOut:
    """重开: not satisfied; back to the dispatcher."""
    return _detail(session, principal, service.reopen(session, principal, event_id, body.reason))


@router.post("/events/{event_id}/attachments", response_model=EventOut)
def attach(event_id: EventId, body: AttachmentIn, principal: PrincipalDep, session: SessionDep) -> EventOut:
    """Attach a file's metadata (photo, recording) to the event."""
    return _detail(session, principal, service.attach(session, principal, event_id, body))


# ---------------------------------------------------------------- categories and SLAs


class CategoryOut(BaseModel):
    id: int
    code: str
    name: str
    level: int
    parent_id: int | None
    path: str


class ImportOut(BaseModel):
    created: int


@router.get("/categories", response_model=list[CategoryOut])
def list_categories(
    _principal: PrincipalDep, session: SessionDep, level: Annotated[int | None, Query(ge=1, le=5)] = None
) -> list[CategoryOut]:
    """The category taxonomy."""
    stmt = select(Category).order_by(Category.code)
    if level is not None:
        stmt = stmt.where(Category.level == level)
    return [CategoryOut.model_validate(c, from_attributes=True) for c in session.scalars(stmt)]


@router.post("/categories/import", response_model=ImportOut)
async def import_categories(file: UploadFile, principal: PrincipalDep, session: SessionDep) -> ImportOut:
    """Import a taxonomy CSV (one column per level, e.g. 一级分类,二级分类,三级分类)."""
    policy.authorize(principal, "categories.manage")
    bind_principal(session, principal)
    raw = await file.read(MAX_TAXONOMY_BYTES + 1)
    if len(raw) > MAX_TAXONOMY_BYTES:
        raise BadRequest(f"the taxonomy file is larger than {MAX_TAXONOMY_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("the taxonomy file must be UTF-8 CSV") from exc
    return ImportOut(created=categories.import_csv(session, text))


class SlaIn(Input):
    category: str | None = Field(None, max_length=300)
    urgency: Urgency | None = None
    sign_within: str = Field(
        max_length=12, description="e.g. 2h (natural hours), 4wh (working hours); at most a year"
    )
    resolve_within: str = Field(
        max_length=12, description="e.g. 5wd (working days), 3d (natural days); at most a year"
    )

    @field_validator("sign_within", "resolve_within")
    @classmethod
    def _deadline(cls, value: str) -> str:
        Deadline.parse(value)  # its ValueError names what is wrong: the unit, the amount, the bound
        return value

    @model_validator(mode="after")
    def _resolve_after_signing(self) -> SlaIn:
        sign, resolve = Deadline.parse(self.sign_within), Deadline.parse(self.resolve_within)
        if resolve.always_before(sign, deadlines.calendar()):
            raise ValueError(
                f"resolve_within ({resolve}) comes before sign_within ({sign}): an event would be due "
                "to be resolved before it is due to be signed for"
            )
        return self


class SlaOut(BaseModel):
    id: int
    category_id: int | None
    urgency: str | None
    sign_within: str
    resolve_within: str


@router.get("/sla-policies", response_model=list[SlaOut])
def list_slas(_principal: PrincipalDep, session: SessionDep) -> list[SlaOut]:
    """Signing and resolution deadlines per category and urgency."""
    return [SlaOut.model_validate(s, from_attributes=True) for s in session.scalars(select(SlaPolicy))]


@router.post("/sla-policies", response_model=SlaOut, status_code=status.HTTP_201_CREATED)
def put_sla(body: SlaIn, principal: PrincipalDep, session: SessionDep) -> SlaOut:
    """Set the deadlines for a category and urgency (either may be empty = any)."""
    policy.authorize(principal, "sla.manage")
    bind_principal(session, principal)
    row = deadlines.set_sla(
        session,
        category_id=categories.find(session, body.category).id if body.category else None,
        urgency=body.urgency,
        sign_within=body.sign_within,
        resolve_within=body.resolve_within,
    )
    return SlaOut.model_validate(row, from_attributes=True)


# ---------------------------------------------------------------- evaluation


class ReportOut(BaseModel):
    group_by: str
    since: datetime | None
    until: datetime | None
    rows: list[dict[str, Any]]


@router.get("/reports/evaluation", response_model=ReportOut)
def evaluation_report(
    principal: PrincipalDep,
    session: SessionDep,
    group_by: evaluation.GroupBy = evaluation.GroupBy.DEPARTMENT,
    since: LocalInstant | None = None,
    until: LocalInstant | None = None,
) -> ReportOut:
    """考核: volume, on-time signing and resolution, returns, resolution, satisfaction, handling time."""
    policy.authorize(principal, "reports.read")
    rows = evaluation.report(session, principal, group_by, since, until)
    return ReportOut(group_by=group_by, since=since, until=until, rows=[r.as_dict() for r in rows])
