"""Events (事件): one reported problem, its departments, its timeline and its attachments."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cityhub.geo import squares
from cityhub.kit.db import Base, BigId, UTCDateTime, str_enum


class EventStatus(StrEnum):
    RECEIVED = "received"
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    RETURNED = "returned"
    SUSPENDED = "suspended"
    REOPENED = "reopened"
    MERGED = "merged"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]

    @property
    def is_open(self) -> bool:
        return self not in {EventStatus.CLOSED, EventStatus.MERGED, EventStatus.CANCELLED}


STATUS_LABELS = {
    EventStatus.RECEIVED: "受理",
    EventStatus.DISPATCHED: "已派单",
    EventStatus.ACCEPTED: "已签收",
    EventStatus.IN_PROGRESS: "处置中",
    EventStatus.RESOLVED: "已办结",
    EventStatus.CLOSED: "已回访",
    EventStatus.RETURNED: "退单",
    EventStatus.SUSPENDED: "挂起",
    EventStatus.REOPENED: "重开",
    EventStatus.MERGED: "合并",
    EventStatus.CANCELLED: "已撤销",
}


class Channel(StrEnum):
    HOTLINE = "hotline_12345"
    APP = "app"
    GRID = "grid"
    SENSOR = "sensor"
    VIDEO = "video_ai"
    OPEN311 = "open311"
    OTHER = "other"


class Urgency(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"
    CRITICAL = "critical"


class EventGrade(StrEnum):
    """突发事件分级 (Emergency Response Law, art. 3): Ⅰ 特别重大 … Ⅳ 一般, by the harm done or threatened.

    A different scale from the warning levels of alerts (红/橙/黄/蓝, what may happen) and from urgency
    (how fast a report needs an answer): most reports to the hub are not emergencies and have no grade.
    """

    I = "I"  # noqa: E741  (the grade's own name)
    II = "II"
    III = "III"
    IV = "IV"

    @property
    def label(self) -> str:
        return GRADE_LABELS[self]

    @property
    def rank(self) -> int:
        """4 for Ⅰ (the gravest) … 1 for Ⅳ."""
        return 4 - list(EventGrade).index(self)


GRADE_LABELS = {
    EventGrade.I: "Ⅰ级 特别重大",
    EventGrade.II: "Ⅱ级 重大",
    EventGrade.III: "Ⅲ级 较大",
    EventGrade.IV: "Ⅳ级 一般",
}
# 较大 and above are supervised (督办) from the moment they are graded: they are reported up the line.
SUPERVISED_FROM = EventGrade.III


class DeadlineState(StrEnum):
    NORMAL = "normal"
    NEAR = "near"  # 临期
    OVERDUE = "overdue"  # 超期


class AssignmentRole(StrEnum):
    LEAD = "lead"  # 主办
    CO = "co"  # 协办


class AssignmentStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    RETURNED = "returned"
    WITHDRAWN = "withdrawn"


class Event(Base):
    """A report about the city, from any channel, followed to a rated closure."""

    __tablename__ = "events"
    __audited__ = True
    __audit_masked__ = frozenset({"reporter_name", "reporter_phone"})
    __audit_ignored__ = frozenset({"updated_at", "square"})
    __table_args__ = (
        Index("ix_events_status_created", "status", "created_at"),
        # "Open reports around this point" (duplicate detection at every intake): the box's grid
        # squares in the window, whatever the number of reports elsewhere; the point is in the index
        # too, so that PostgreSQL fetches only the rows inside the box (docs/benchmarks.md).
        Index("ix_events_square_created", "square", "created_at", "lat", "lon"),
        Index("ix_events_district_status", "district_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, 16))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    status: Mapped[EventStatus] = mapped_column(str_enum(EventStatus, 16))
    status_before_suspend: Mapped[EventStatus | None] = mapped_column(str_enum(EventStatus, 16))
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    urgency: Mapped[Urgency] = mapped_column(str_enum(Urgency, 12), default=Urgency.NORMAL)
    grade: Mapped[EventGrade | None] = mapped_column(str_enum(EventGrade, 4))  # 突发事件分级, if one
    # Location: stored WGS-84; the input's coordinate system is recorded.
    lon: Mapped[float | None]
    lat: Mapped[float | None]
    square: Mapped[int | None]  # the grid square of (lon, lat) (geo.squares), kept by _keep_square
    input_crs: Mapped[str | None] = mapped_column(String(8))
    address: Mapped[str | None] = mapped_column(String(300))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    street_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    location_resolved: Mapped[bool] = mapped_column(default=False)
    # Reporter: personal information, masked for every role that does not need it.
    reporter_name: Mapped[str | None] = mapped_column(String(100))
    reporter_phone: Mapped[str | None] = mapped_column(String(20))
    reporter_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    anonymous: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    lead_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    # Dispatch suggestion (from the routing table or a classifier) and the review queue.
    suggested_category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    suggested_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    suggestion_confidence: Mapped[float | None]
    suggestion: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    model_version: Mapped[str | None] = mapped_column(String(60))
    needs_review: Mapped[bool] = mapped_column(default=False, index=True)
    # Deadlines (签收时限 / 办结时限) and supervision.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sign_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolve_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    deadline_state: Mapped[DeadlineState] = mapped_column(
        str_enum(DeadlineState, 10), default=DeadlineState.NORMAL
    )
    escalated: Mapped[bool] = mapped_column(default=False)
    supervised: Mapped[bool] = mapped_column(default=False)
    extension_requested_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    extension_reason: Mapped[str | None] = mapped_column(String(500))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"), index=True)
    reopen_count: Mapped[int] = mapped_column(default=0)
    return_count: Mapped[int] = mapped_column(default=0)
    rating: Mapped[int | None]
    rating_comment: Mapped[str | None] = mapped_column(String(500))
    resolution: Mapped[str | None] = mapped_column(Text)

    @property
    def reporter_unknown(self) -> bool:
        """Reported anonymously, with neither name nor phone: no one to show, no one to call back."""
        return self.anonymous and not self.reporter_name and not self.reporter_phone


@event.listens_for(Event, "before_insert")
@event.listens_for(Event, "before_update")
def _keep_square(_mapper: Any, _connection: Any, target: Event) -> None:
    """Every write through the ORM keeps the grid square with the point, whoever set the point."""
    target.square = squares.of_point(target.lon, target.lat)


class EventAssignment(Base):
    """One department's part in an event: the lead (主办) or a co-handler (协办), with its own progress."""

    __tablename__ = "event_assignments"
    __audited__ = True
    __table_args__ = (
        Index("ix_event_assignments_dept_status", "department_id", "status"),
        Index("ix_event_assignments_assigned_at", "assigned_at"),  # the evaluation report's periods
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    # Set instead of event_id when the event is not stored yet: intake writes it with its parts in one flush.
    event: Mapped[Event] = relationship(lazy="raise")
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    role: Mapped[AssignmentRole] = mapped_column(str_enum(AssignmentRole, 6))
    status: Mapped[AssignmentStatus] = mapped_column(str_enum(AssignmentStatus, 12))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sign_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolve_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)


class EventAction(Base):
    """The event's timeline: every action, who took it and the status it moved between."""

    __tablename__ = "event_actions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    event: Mapped[Event] = relationship(lazy="raise")  # as EventAssignment.event
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Attachment(Base):
    """Metadata of a photo, recording or document attached to an event (the bytes live elsewhere)."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    event: Mapped[Event] = relationship(lazy="raise")  # as EventAssignment.event
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str | None] = mapped_column(String(64))
    url: Mapped[str | None] = mapped_column(String(500))


class EventCounter(Base):
    """The day behind the human-readable event number (20261121-000123): on SQLite the day's last number,
    on PostgreSQL the value of the ``event_numbers`` sequence before its first (``events/numbering.py``)."""

    __tablename__ = "event_counters"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    value: Mapped[int] = mapped_column(default=0)


class EvaluationSpan(StrEnum):
    DAY = "day"
    MONTH = "month"


class EvaluationRollup(Base):
    """The evaluation report (考核) pre-aggregated per UTC day and month (decision 0009).

    One row per bucket × department × whether the part is the event's current lead part × district × street
    × category, with the sums the report's rates are made of, over the non-withdrawn assignments assigned
    in the bucket. Derived data: recomputed from ``event_assignments`` and ``events`` for the days marked in
    ``event_evaluation_dirty_days`` (database triggers mark them), so it is neither audited nor edited.
    """

    __tablename__ = "event_evaluation_rollups"
    __table_args__ = (Index("ix_event_evaluation_rollups_span_bucket", "span", "bucket"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    span: Mapped[EvaluationSpan] = mapped_column(str_enum(EvaluationSpan, 5))
    bucket: Mapped[date] = mapped_column(Date)  # the UTC day, or the first day of the UTC month
    department_id: Mapped[int]
    lead: Mapped[bool]  # role lead and not returned: the part the area and category figures count
    district_id: Mapped[int | None]
    street_id: Mapped[int | None]
    category_id: Mapped[int | None]
    parts: Mapped[int]
    signed: Mapped[int]
    signed_on_time: Mapped[int]
    resolved: Mapped[int]
    resolved_on_time: Mapped[int]
    returned_parts: Mapped[int]  # the assignment was returned (the department figures)
    returned_events: Mapped[int]  # the event was returned at least once (the area and category figures)
    rated: Mapped[int]
    rated_good: Mapped[int]  # rating 4 or 5
    rating_sum: Mapped[int]
    handling_us: Mapped[int] = mapped_column(BigInteger)  # resolved parts: resolved_at − assigned_at, µs


class EvaluationDirtyDay(Base):
    """A UTC day whose evaluation rollup is stale: written by triggers on ``event_assignments`` (every
    change but the note) and ``events`` (rating, returns, district, street, category) in the writing
    transaction; the report computes such days live until the rollup job has recomputed them."""

    __tablename__ = "event_evaluation_dirty_days"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
