"""Alerts (预警) and what raises them beyond thresholds: linkage rules (协同联动) and their firings, and the
registered people whose alerts carry their identity (独居老人, with consent).

At most one alert is open (active or acknowledged) per (source, type): a partial unique index holds
that on both backends, so a repeat can only update the open alert.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.kit.db import Base, BigId, UTCDateTime, str_enum
from cityhub.models.indicator import WarningLevel


class AlertStatus(StrEnum):
    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"

    @property
    def label(self) -> str:
        return {"active": "待确认", "acknowledged": "已确认", "cleared": "已解除"}[self.value]


class AlertSource(StrEnum):
    """What raised an alert."""

    THRESHOLD = "threshold"  # an indicator crossed a warning threshold
    RULE = "rule"  # a linkage rule matched
    ANOMALY = "anomaly"  # anomaly detection on a stream with no fixed threshold
    DEVICE = "device"  # device health: silent, frozen value, sudden jump
    HOTSPOT = "hotspot"  # a cluster of citizens' reports at one place (民生诉求热点), raised by a person


OPEN_STATUSES = (AlertStatus.ACTIVE, AlertStatus.ACKNOWLEDGED)


class Alert(Base):
    """One warning, from its first trigger to its clearance; repeats update it instead of adding rows."""

    __tablename__ = "alerts"
    __audited__ = True
    # Repeats touch these on every trigger; the audit log records the lifecycle, not each repeat.
    __audit_ignored__ = frozenset({"count", "last_seen", "value", "evidence", "updated_at", "timeline"})
    __table_args__ = (
        Index(
            "uq_alerts_open_source_type",
            "source",
            "type",
            unique=True,
            sqlite_where=text("status != 'cleared'"),
            postgresql_where=text("status != 'cleared'"),
        ),
        Index("ix_alerts_status_level", "status", "level"),
        Index("ix_alerts_district_status", "district_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    type: Mapped[str] = mapped_column(String(80))
    source_kind: Mapped[AlertSource] = mapped_column(str_enum(AlertSource, 12))
    source: Mapped[str] = mapped_column(String(160))
    title: Mapped[str] = mapped_column(String(200))
    level: Mapped[WarningLevel] = mapped_column(str_enum(WarningLevel, 8))
    status: Mapped[AlertStatus] = mapped_column(str_enum(AlertStatus, 14))
    indicator_id: Mapped[int | None] = mapped_column(ForeignKey("indicators.id", ondelete="SET NULL"))
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("linkage_rules.id", ondelete="SET NULL"))
    device: Mapped[str | None] = mapped_column(String(60), index=True)
    metric: Mapped[str | None] = mapped_column(String(60))
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("alert_subjects.id"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    street_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"))
    value: Mapped[float | None]
    count: Mapped[int] = mapped_column(default=1)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cleared_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    clear_reason: Mapped[str | None] = mapped_column(String(500))
    escalation_step: Mapped[int] = mapped_column(default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_escalation_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Who has been told: ["grid_worker", "street", …], grows with each escalation step.
    notify: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The readings that caused the alert (first trigger and the latest repeats): device, metric, ts, value.
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # What the alert follows: escalation steps, auto-clear, the indicator or rule's words.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    timeline: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class AlertSubject(Base):
    """A registered person whose alerts carry their identity (独居老人, registered with consent).

    Every view shows them masked; only the grid workers of the person's community may ask who they are,
    saying why (``POST /alerts/{id}/subject``), and that read is audited with its purpose.
    """

    __tablename__ = "alert_subjects"
    __audited__ = True
    __audit_masked__ = frozenset({"name", "phone", "address"})

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(300))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    # City codes of the person's meters (gas, water, electricity).
    devices: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The registry entity, once the entity registry holds the person (no foreign key across branches).
    entity_id: Mapped[int | None]
    consent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LinkageRule(Base):
    """A linkage rule (协同联动) as data: conditions over indicators, alerts and readings, and actions."""

    __tablename__ = "linkage_rules"
    __audited__ = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(150))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(default=True)
    origin: Mapped[str] = mapped_column(String(80), default="api")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RuleFiring(Base):
    """One episode of a rule holding for one scope (an area or an entity): what it did and how it went.

    A rule acts once per episode; the episode ends when its conditions stop holding, and only then can
    the rule act again for that scope.
    """

    __tablename__ = "rule_firings"
    __table_args__ = (
        Index(
            "uq_rule_firings_open",
            "rule_id",
            "scope_key",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("linkage_rules.id", ondelete="CASCADE"), index=True)
    scope_key: Mapped[str] = mapped_column(String(60))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_true_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    level: Mapped[WarningLevel | None] = mapped_column(str_enum(WarningLevel, 8))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # One entry per action: {"action": "webhook", "ok": false, "error": "timeout", …}.
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(Text)
