"""The reference revision: one row whose value changes with every write to the reference tables."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.kit.db import Base

# The tables processes keep in memory (areas, names, taxonomy, departments, routing, SLAs, the active
# model). Database triggers (migration 0008) give the revision a new random value on every insert,
# update or delete in them, whoever writes: any process, the CLI, plain SQL.
REFERENCE_TABLES = (
    "areas",
    "places",
    "categories",
    "departments",
    "routing_rules",
    "sla_policies",
    "dispatch_models",
)


class ReferenceRevision(Base):
    """A single row (id 1). Random rather than counted, so a rolled-back write never reuses a value."""

    __tablename__ = "reference_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False)
