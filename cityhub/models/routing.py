"""The routing table (category × area → lead and co-handling departments) and the SLA table."""

from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.kit.db import Base, BigId


class RoutingRule(Base):
    """The most specific rule wins: deeper category beats shallower, deeper area beats shallower."""

    __tablename__ = "routing_rules"
    __audited__ = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    lead_department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    co_department_ids: Mapped[list[int]] = mapped_column(JSON, default=list)


class SlaPolicy(Base):
    """Deadlines for signing and resolving, per category (or any) and urgency (or any)."""

    __tablename__ = "sla_policies"
    __audited__ = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    urgency: Mapped[str | None] = mapped_column(String(12))
    sign_within: Mapped[str] = mapped_column(String(12))
    resolve_within: Mapped[str] = mapped_column(String(12))
