"""The city code registry (一码通城): entities, relations and what source systems record of them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.kit.db import Base, BigId, UTCDateTime, str_enum


class EntityStatus(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"  # kept: its code is never reused, its history stays readable


class Entity(Base):
    """One city object with its city code, typed attributes and location (WGS-84, input CRS recorded).

    Personal attributes (registered vulnerable residents) live in ``personal``, apart from the rest, so they
    are masked in the audit log and never leave the service layer unmasked by accident.
    """

    __tablename__ = "entities"
    __audited__ = True
    __audit_masked__ = frozenset({"personal"})
    __table_args__ = (
        Index("ix_entities_type_area", "type", "area_id"),
        Index("ix_entities_lat_lon", "lat", "lon"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(17), unique=True)
    type: Mapped[str] = mapped_column(String(2))
    serial: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[EntityStatus] = mapped_column(str_enum(EntityStatus, 12), default=EntityStatus.ACTIVE)
    # The area of the code (city or district) and where the object lies, down to the grid.
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    street_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    lon: Mapped[float | None]
    lat: Mapped[float | None]
    input_crs: Mapped[str | None] = mapped_column(String(8))
    # GeoJSON geometry in WGS-84 for lines and areas (pipes, rivers, buildings); lon/lat: a point on it.
    geometry: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # attribute → the system its current value came from (一数一源).
    attribute_sources: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    personal: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EntityRelation(Base):
    """A typed, directed relation: a sensor *installed_on* a building, a pipe *connects* a manhole."""

    __tablename__ = "entity_relations"
    __audited__ = True
    __table_args__ = (UniqueConstraint("source_id", "type", "target_id", name="uq_entity_relations_triple"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("entities.id"), index=True)
    type: Mapped[str] = mapped_column(String(24))
    target_id: Mapped[int] = mapped_column(ForeignKey("entities.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SourceRecord(Base):
    """What one source system (住建, 燃气公司, 市场监管…) says about an entity, under its own record id."""

    __tablename__ = "entity_source_records"
    __audited__ = True
    __audit_masked__ = frozenset({"attributes"})
    __table_args__ = (UniqueConstraint("entity_id", "system", name="uq_entity_source_records_entity_system"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"), index=True)
    system: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[str] = mapped_column(String(100))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime)
