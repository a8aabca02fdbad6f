"""Request and response models of the alert API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cityhub.events.schemas import AreaRef, DepartmentRef
from cityhub.kit.text import Input
from cityhub.kit.timeutil import Instant


class AlertNoteIn(Input):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: str | None = Field(None, max_length=500)


class SubjectOut(BaseModel):
    """The registered person an alert is about: masked in every view; unmasked only in the answer to
    ``POST /alerts/{alert_id}/subject``, which a grid worker of their community sends with a purpose."""

    id: int
    kind: str
    name: str | None
    phone: str | None
    address: str | None
    masked: bool
    can_reveal: bool = Field(
        description="this reader may see who it is: POST /alerts/{alert_id}/subject with a purpose (audited)"
    )


class AlertOut(BaseModel):
    """An alert as the asking principal may see it."""

    id: int
    type: str
    source_kind: str
    source: str
    title: str
    level: str
    level_label: str
    colour: str
    status: str
    status_label: str
    value: float | None = Field(
        description="the value that raised it; about a registered person (a reading of their meter) only for "
        "those who may see who it is (`subject.can_reveal`), null for others"
    )
    count: int
    first_seen: datetime
    last_seen: datetime
    device: str | None
    metric: str | None
    indicator: str | None
    rule: str | None
    areas: dict[str, AreaRef]
    department: DepartmentRef | None
    event: dict[str, Any] | None
    subject: SubjectOut | None
    notify: list[str]
    escalation_step: int
    next_escalation_at: datetime | None
    acknowledged_at: datetime | None
    cleared_at: datetime | None
    clear_reason: str | None
    evidence: list[dict[str, Any]] = Field(
        description="the readings that raised it; about a registered person, empty unless "
        "`subject.can_reveal`"
    )
    timeline: list[dict[str, Any]] | None = None


class AlertPage(BaseModel):
    items: list[AlertOut]
    total: int
    limit: int
    offset: int


class SubjectIn(Input):
    """Register a person whose meters are watched (独居老人), with their consent."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: str = Field("elderly_alone", pattern=r"^[a-z_]{2,40}$")
    name: str = Field(min_length=1, max_length=50)
    phone: str | None = Field(None, pattern=r"^\+?[0-9][0-9\- ]{4,19}$")
    address: str | None = Field(None, max_length=300)
    area: str = Field(min_length=2, max_length=20, description="code of the grid or community they live in")
    devices: list[str] = Field(default_factory=list, max_length=10, description="city codes of their meters")
    consent_at: Instant = Field(description="when they consented, ISO-8601 with offset")
