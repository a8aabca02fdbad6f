"""Telemetry: raw readings, their rollups and the dead-letter store of rejected readings.

Reading and rollup times are integer microseconds since the Unix epoch (UTC), not ``UTCDateTime``: the
hot path inserts tens of thousands of rows a second, integers bind without conversion on both backends,
and bucketing is integer division in SQL on SQLite and PostgreSQL alike (docs/decisions/0005).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.kit.db import Base, BigId, UTCDateTime, str_enum


class Reading(Base):
    """One accepted reading. The primary key (entity, metric, ts) is the window index and the duplicate check;
    on SQLite the table is WITHOUT ROWID, so rows are stored in that order."""

    __tablename__ = "telemetry_readings"
    __table_args__ = (Index("ix_telemetry_readings_ts", "ts"), {"sqlite_with_rowid": False})

    entity_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    metric: Mapped[str] = mapped_column(String(40), primary_key=True)
    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    value: Mapped[float] = mapped_column(Float)
    quality: Mapped[str | None] = mapped_column(String(16))


class Resolution(StrEnum):
    MINUTE = "1m"
    HOUR = "1h"

    @property
    def micros(self) -> int:
        return 60_000_000 if self is Resolution.MINUTE else 3_600_000_000


class Rollup(Base):
    """min/max/sum/count/last of one metric of one entity over one minute or hour (avg = sum / count)."""

    __tablename__ = "telemetry_rollups"
    __table_args__ = (Index("ix_telemetry_rollups_resolution_bucket", "resolution", "bucket"),)

    resolution: Mapped[Resolution] = mapped_column(str_enum(Resolution, 3), primary_key=True)
    entity_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    metric: Mapped[str] = mapped_column(String(40), primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    min: Mapped[float] = mapped_column(Float)
    max: Mapped[float] = mapped_column(Float)
    sum: Mapped[float] = mapped_column(Float)
    count: Mapped[int] = mapped_column(Integer)
    last: Mapped[float] = mapped_column(Float)
    last_ts: Mapped[int] = mapped_column(BigInteger)


class DirtyMinute(Base):
    """A minute that received readings since its rollup was last computed (late data included)."""

    __tablename__ = "telemetry_dirty_minutes"

    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class DeadLetterStatus(StrEnum):
    PENDING = "pending"
    REPLAYED = "replayed"  # accepted on a later replay; kept as history


class DeadLetter(Base):
    """A rejected reading or message, with the reason and the raw payload, until it is replayed."""

    __tablename__ = "telemetry_dead_letters"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    channel: Mapped[str] = mapped_column(String(12))
    source: Mapped[str | None] = mapped_column(String(200))
    device: Mapped[str | None] = mapped_column(String(60), index=True)
    metric: Mapped[str | None] = mapped_column(String(60))
    reason: Mapped[str] = mapped_column(String(24), index=True)
    detail: Mapped[str] = mapped_column(String(500))
    raw: Mapped[str] = mapped_column(Text)
    status: Mapped[DeadLetterStatus] = mapped_column(
        str_enum(DeadLetterStatus, 12), default=DeadLetterStatus.PENDING, index=True
    )
    attempts: Mapped[int] = mapped_column(default=0)
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
