"""The public data resource catalog (一本账): resources, quality runs and alerts, sharing requests, grants,
grant tokens and the access log."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.kit.db import Base, BigId, UTCDateTime, str_enum


class DataGrade(StrEnum):
    """GB/T 43697-2024: 核心 > 重要 > 一般, with 一般 split into levels 4 (highest) … 1."""

    CORE = "core"
    IMPORTANT = "important"
    GENERAL_4 = "general_4"
    GENERAL_3 = "general_3"
    GENERAL_2 = "general_2"
    GENERAL_1 = "general_1"

    @property
    def rank(self) -> int:
        """Higher is stricter; 就高从严 takes the maximum."""
        return {"core": 6, "important": 5, "general_4": 4, "general_3": 3, "general_2": 2, "general_1": 1}[
            self.value
        ]

    @property
    def label(self) -> str:
        return {
            "core": "核心数据",
            "important": "重要数据",
            "general_4": "一般数据（4级）",
            "general_3": "一般数据（3级）",
            "general_2": "一般数据（2级）",
            "general_1": "一般数据（1级）",
        }[self.value]

    @classmethod
    def strictest(cls, *grades: DataGrade) -> DataGrade:
        return max(grades, key=lambda g: g.rank)


class SharingAttribute(StrEnum):
    """共享属性."""

    UNCONDITIONAL = "unconditional"  # 无条件共享
    CONDITIONAL = "conditional"  # 有条件共享
    NONE = "none"  # 不予共享

    @property
    def label(self) -> str:
        return {"unconditional": "无条件共享", "conditional": "有条件共享", "none": "不予共享"}[self.value]


class OpenAttribute(StrEnum):
    """开放属性."""

    UNCONDITIONAL = "unconditional"  # 无条件开放
    CONDITIONAL = "conditional"  # 有条件开放
    NONE = "none"  # 不予开放

    @property
    def label(self) -> str:
        return {"unconditional": "无条件开放", "conditional": "有条件开放", "none": "不予开放"}[self.value]


class UpdateCycle(StrEnum):
    """更新周期, with the period a timeliness check allows."""

    REALTIME = "realtime"
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"
    IRREGULAR = "irregular"

    @property
    def period(self) -> timedelta:
        return {
            "realtime": timedelta(hours=1),
            "hourly": timedelta(hours=1),
            "daily": timedelta(days=1),
            "weekly": timedelta(weeks=1),
            "monthly": timedelta(days=31),
            "quarterly": timedelta(days=92),
            "yearly": timedelta(days=366),
            "irregular": timedelta(days=366),
        }[self.value]


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class GrantScope(StrEnum):
    """Which rows of an area-bearing resource a grant delivers, chosen by the owner at approval."""

    AREA = "area"  # the requesting department's own area and below (the whole city for city departments)
    CITY = "city"  # every row: the owner approved the grant city-wide

    @property
    def label(self) -> str:
        return {"area": "本辖区", "city": "全市"}[self.value]


class AccessMode(StrEnum):
    """What a grant delivers: masked rows, or aggregates computed inside the hub (可用不可见)."""

    ROWS = "rows"
    AGGREGATE = "aggregate"


class CatalogResource(Base):
    """One public data resource (数据资源) of a department: its metadata, fields, grade and checks.

    ``fields`` and ``quality_checks`` are declared as data (lists of JSON objects validated by
    ``cityhub.catalog.schemas``); ``source_table`` names the hub table behind a built-in resource.
    """

    __tablename__ = "catalog_resources"
    __audited__ = True
    __audit_ignored__ = frozenset({"updated_at"})

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    source_system: Mapped[str] = mapped_column(String(200), default="")
    update_cycle: Mapped[UpdateCycle] = mapped_column(str_enum(UpdateCycle, 12))
    format: Mapped[str] = mapped_column(String(40), default="table")
    grade: Mapped[DataGrade] = mapped_column(str_enum(DataGrade, 12), index=True)
    sharing: Mapped[SharingAttribute] = mapped_column(str_enum(SharingAttribute, 14))
    sharing_conditions: Mapped[str] = mapped_column(Text, default="")
    open_attribute: Mapped[OpenAttribute] = mapped_column(str_enum(OpenAttribute, 14))
    open_conditions: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The field whose values are the area codes of the rows (external resources; built-in resources carry
    # their area in the hub's tables): grants to an area-bound department deliver only their area's rows.
    area_field: Mapped[str | None] = mapped_column(String(40))
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    quality_checks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    builtin: Mapped[bool] = mapped_column(default=False)
    source_table: Mapped[str | None] = mapped_column(String(60))
    sample_loaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CatalogSampleRow(Base):
    """One row of an external resource's data, uploaded as CSV so checks and shared queries can run."""

    __tablename__ = "catalog_sample_rows"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("catalog_resources.id", ondelete="CASCADE"), index=True
    )
    row_no: Mapped[int]
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class QualityRun(Base):
    """One execution of a resource's checks: a score per GB/T 36344 dimension and each check's result."""

    __tablename__ = "catalog_quality_runs"
    __table_args__ = (Index("ix_catalog_quality_runs_resource_started", "resource_id", "started_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("catalog_resources.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    trigger: Mapped[str] = mapped_column(String(20))
    rows: Mapped[int] = mapped_column(default=0)
    scores: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    overall: Mapped[float | None]
    passed: Mapped[bool]
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class QualityAlert(Base):
    """A data-quality alert to the owning department while a resource's checks keep failing."""

    __tablename__ = "quality_alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("catalog_resources.id", ondelete="CASCADE"), index=True
    )
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("catalog_quality_runs.id"))
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    occurrences: Mapped[int] = mapped_column(default=1)
    message: Mapped[str] = mapped_column(Text)
    failed_checks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ShareRequest(Base):
    """A department's request for a resource (按需共享): fields, purpose, legal basis and period."""

    __tablename__ = "catalog_share_requests"
    __audited__ = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("catalog_resources.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    mode: Mapped[AccessMode] = mapped_column(str_enum(AccessMode, 10))
    fields: Mapped[list[str]] = mapped_column(JSON)
    purpose: Mapped[str] = mapped_column(String(500))
    legal_basis: Mapped[str] = mapped_column(String(500))
    period_days: Mapped[int]
    status: Mapped[RequestStatus] = mapped_column(str_enum(RequestStatus, 10), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_reason: Mapped[str | None] = mapped_column(String(500))


class Grant(Base):
    """What a department may use: fields, mode, masking exceptions and noise, until it expires."""

    __tablename__ = "catalog_grants"
    __audited__ = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("catalog_share_requests.id"), unique=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("catalog_resources.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    mode: Mapped[AccessMode] = mapped_column(str_enum(AccessMode, 10))
    scope: Mapped[GrantScope] = mapped_column(
        str_enum(GrantScope, 8), default=GrantScope.AREA, server_default=GrantScope.AREA.value
    )
    fields: Mapped[list[str]] = mapped_column(JSON)
    unmasked_fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    purpose: Mapped[str] = mapped_column(String(500))
    legal_basis: Mapped[str] = mapped_column(String(500))
    dp_epsilon: Mapped[float | None]
    rate_per_minute: Mapped[int] = mapped_column(default=60)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(500))


class GrantToken(Base):
    """A token that opens one grant and nothing else (prefix ``chg_``; only its SHA-256 is kept)."""

    __tablename__ = "catalog_grant_tokens"
    __audited__ = True
    __audit_masked__ = frozenset({"token_hash"})
    __audit_ignored__ = frozenset({"last_used_at"})

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("catalog_grants.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AccessLog(Base):
    """Every use of a grant: who, which fields, how many rows or groups, for which purpose."""

    __tablename__ = "catalog_access_log"
    __table_args__ = (Index("ix_catalog_access_log_resource_at", "resource_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    grant_id: Mapped[int] = mapped_column(ForeignKey("catalog_grants.id"), index=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("catalog_resources.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(100))
    token_id: Mapped[int | None] = mapped_column(ForeignKey("catalog_grant_tokens.id"))
    mode: Mapped[AccessMode] = mapped_column(str_enum(AccessMode, 10))
    fields: Mapped[list[str]] = mapped_column(JSON)
    row_count: Mapped[int] = mapped_column(default=0)
    purpose: Mapped[str] = mapped_column(String(500))
    query: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outcome: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(String(500))
