"""Request and response models of the event API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cityhub.geo.crs import CRS
from cityhub.kit.text import Input
from cityhub.kit.timeutil import Instant
from cityhub.models.event import Channel, EventGrade, Urgency

PHONE_PATTERN = r"^\+?[0-9][0-9\- ]{4,19}$"


class Strict(Input):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LocationIn(Strict):
    lon: float = Field(ge=-180, le=180, description="longitude in the declared coordinate system")
    lat: float = Field(ge=-90, le=90)
    crs: CRS = Field(CRS.WGS84, description="wgs84 (GPS) or gcj02 (Chinese base maps)")


class ReporterIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=50)] | None = None
    phone: Annotated[str, Field(pattern=PHONE_PATTERN)] | None = None
    anonymous: bool = False


class AttachmentIn(Strict):
    filename: str = Field(min_length=1, max_length=200)
    content_type: str = Field(min_length=3, max_length=100, pattern=r"^[\w.+-]+/[\w.+-]+$")
    size: int = Field(ge=0, le=1_073_741_824)
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    url: str | None = Field(None, max_length=500)


class EventIn(Strict):
    """A report about the city from any channel."""

    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    channel: Channel = Channel.APP
    category: str | None = Field(None, max_length=300, description="code, full path or unique name")
    urgency: Urgency = Urgency.NORMAL
    grade: EventGrade | None = Field(
        None,
        description="突发事件分级 Ⅰ (特别重大) … Ⅳ (一般), for an emergency; only those who may grade events "
        "(operation centres, administrators) may set it. Ⅲ and above are supervised (督办) at once.",
    )
    location: LocationIn | None = None
    address: str | None = Field(None, max_length=300)
    reporter: ReporterIn | None = None
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)

    @field_validator("title")
    @classmethod
    def _title_has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title must not be blank")
        return value


class DispatchIn(Strict):
    department: int | None = Field(None, description="lead department id; default: the routing table")
    co_departments: list[int] | None = Field(None, max_length=20)
    category: str | None = Field(None, max_length=300, description="correct the category before dispatching")
    note: str | None = Field(None, max_length=2000)


class NoteIn(Strict):
    note: str = Field(min_length=1, max_length=2000)


class OptionalNoteIn(Strict):
    note: str | None = Field(None, max_length=2000)


class ResolveIn(Strict):
    resolution: str = Field(min_length=1, max_length=5000, description="what was done (办理结果)")


class ReasonIn(Strict):
    reason: str = Field(min_length=2, max_length=2000)


class ExtensionIn(Strict):
    until: Instant = Field(description="new resolution deadline, ISO-8601 with offset")
    reason: str = Field(min_length=2, max_length=2000)


class ExtensionDecisionIn(Strict):
    approve: bool
    note: str | None = Field(None, max_length=2000)


class GradeIn(Strict):
    grade: EventGrade | None = Field(description="Ⅰ (特别重大) … Ⅳ (一般); null: not an emergency after all")
    reason: str = Field(min_length=2, max_length=2000, description="why: the harm done or threatened")


class MergeIn(Strict):
    into: int = Field(description="id of the event this one duplicates")
    note: str | None = Field(None, max_length=2000)


class RateIn(Strict):
    rating: int = Field(ge=1, le=5, description="1 very dissatisfied … 5 very satisfied")
    comment: str | None = Field(None, max_length=500)


class AreaRef(BaseModel):
    id: int
    code: str
    name: str


class DepartmentRef(BaseModel):
    id: int
    code: str
    name: str


class AssignmentOut(BaseModel):
    department: DepartmentRef
    role: str
    status: str
    assigned_at: datetime
    accepted_at: datetime | None
    resolved_at: datetime | None
    note: str | None


class ActionOut(BaseModel):
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    department_id: int | None
    note: str | None
    data: dict[str, Any]


class ReporterOut(BaseModel):
    """Who reported, masked (张*, 138****5678) unless asked for with a purpose."""

    name: str | None = None
    phone: str | None = None
    anonymous: bool = False
    can_reveal: bool = Field(
        False,
        description="whether you may ask for the name and phone in full: POST /api/v1/events/{id}/reporter "
        "with a purpose (audited)",
    )


class EventOut(BaseModel):
    """An event as the asking principal may see it (the reporter masked)."""

    id: int
    number: str
    title: str
    description: str
    channel: str
    status: str
    status_label: str
    urgency: str
    grade: str | None = Field(description="突发事件分级 I/II/III/IV, or null: not graded as an emergency")
    grade_label: str | None = Field(description="Ⅰ级 特别重大 … Ⅳ级 一般")
    category: dict[str, Any] | None
    location: dict[str, float] | None
    address: str | None
    areas: dict[str, AreaRef]
    reporter: ReporterOut | None
    lead_department: DepartmentRef | None
    assignments: list[AssignmentOut]
    suggestion: dict[str, Any] | None
    needs_review: bool
    created_at: datetime
    dispatched_at: datetime | None
    accepted_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    sign_deadline: datetime | None
    resolve_deadline: datetime | None
    deadline_state: str
    current_deadline: Literal["sign", "resolve"] | None = Field(
        None,
        description="the deadline deadline_state is about: sign_deadline until signed, then resolve_deadline",
    )
    supervised: bool
    escalated: bool
    extension_requested_until: datetime | None
    merged_into: int | None
    rating: int | None
    resolution: str | None
    allowed_actions: list[str]
    timeline: list[ActionOut] | None = None
    attachments: list[AttachmentIn] | None = None


class EventPage(BaseModel):
    items: list[EventOut]
    total: int
    limit: int
    offset: int
