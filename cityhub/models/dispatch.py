"""Dispatch tables: the gazetteer of local places, duplicate candidates, model registry, hot-spot actions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.kit.db import Base, BigId, UTCDateTime, str_enum


class PlaceKind(StrEnum):
    ROAD = "road"  # 道路
    LANDMARK = "landmark"  # 地标、景区、公园、广场
    ESTATE = "estate"  # 小区、住宅区
    POI = "poi"  # a building, school, market, station…

    @property
    def label(self) -> str:
        return {"road": "道路", "landmark": "地标", "estate": "小区", "poi": "兴趣点"}[self.value]


class Place(Base):
    """A gazetteer entry: a place name people write in addresses, its area and, if known, its point.

    ``area_id`` is the deepest area the whole place is known to lie in (a road crossing several
    streets belongs to its district). ``aliases`` are other spellings (e.g. 五四广场 → 五四广场东侧).
    """

    __tablename__ = "places"
    __audited__ = True
    __table_args__ = (UniqueConstraint("name", "area_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[PlaceKind] = mapped_column(str_enum(PlaceKind, 12))
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), index=True)
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    lon: Mapped[float | None]  # WGS-84
    lat: Mapped[float | None]
    source: Mapped[str] = mapped_column(String(40), default="import")


class CandidateStatus(StrEnum):
    PROPOSED = "proposed"  # waits for a dispatcher
    MERGED = "merged"  # merged automatically, or by a dispatcher
    DISMISSED = "dismissed"  # a dispatcher said: not the same problem


class DuplicateCandidate(Base):
    """``event_id`` (the newer report) may describe the same problem as the open ``candidate_id``."""

    __tablename__ = "duplicate_candidates"
    __audited__ = True
    __table_args__ = (
        UniqueConstraint("event_id", "candidate_id"),
        Index("ix_duplicate_candidates_candidate_id", "candidate_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    candidate_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    score: Mapped[float]
    text_similarity: Mapped[float]
    distance_m: Mapped[float | None]
    hours_apart: Mapped[float]
    same_category: Mapped[bool | None]
    status: Mapped[CandidateStatus] = mapped_column(str_enum(CandidateStatus, 10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(100))


class DispatchModel(Base):
    """One trained classifier version: its file (under the data directory), figures, whether it is live.

    At most one row is ``active``; intake uses it for reports that come without a category, and
    auto-dispatches its suggestions at or above ``threshold`` (chosen on validation data so that the
    auto-dispatched ones are right at least ``target_precision`` of the time).
    """

    __tablename__ = "dispatch_models"
    __audited__ = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version: Mapped[str] = mapped_column(String(60), unique=True)
    path: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(default=False, index=True)
    threshold: Mapped[float | None]  # None: no confidence reached the target, nothing is auto-dispatched
    target_precision: Mapped[float]
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    trained_by: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")


class HotspotEscalation(Base):
    """A hot spot turned into a supervised event: which cluster (its key), which reports, which event."""

    __tablename__ = "hotspot_escalations"
    __audited__ = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(80), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    report_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(100))
