"""The append-only audit log (database triggers refuse UPDATE and DELETE)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.kit.db import Base, BigId, UTCDateTime
from cityhub.models.org import ADDRESS_LENGTH


class AuditLog(Base):
    """Who did what to which object, written in the same transaction as the change or the read."""

    __tablename__ = "audit_log"
    # What an auditor asks (the audit screen's filters): everything done to one object, by one actor, or
    # from one client address, newest first — each an index the newest rows are read from.
    __table_args__ = (Index("ix_audit_log_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor_id: Mapped[int | None] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(100), index=True)
    action: Mapped[str] = mapped_column(String(40), index=True)
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(40))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    purpose: Mapped[str | None] = mapped_column(String(200))
    # The client address of the request that wrote the row (GB/T 22239: the source of the action); None for
    # the hub's own work (scheduler, command line).
    address: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH), index=True)
