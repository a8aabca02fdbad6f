"""Request and response models of the telemetry API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cityhub.access.reveal import RevealIn
from cityhub.kit.text import Input
from cityhub.kit.timeutil import Instant
from cityhub.models.telemetry import DeadLetterStatus

MAX_SERIES_POINTS = 100_000


class ReadingIn(BaseModel):
    """One reading (documentation of the body; the endpoint reads JSON arrays and NDJSON itself)."""

    model_config = ConfigDict(extra="allow")

    device: str = Field(description="the device's city code", examples=["370202DV000000017"])
    metric: str = Field(examples=["water_level"])
    ts: str = Field(description="ISO 8601 with an offset", examples=["2026-11-21T08:00:00+08:00"])
    value: float
    unit: str | None = Field(None, description="checked against the metric's unit when given")
    quality: str | None = Field(None, max_length=16)


class RejectionOut(BaseModel):
    index: int = Field(description="position of the reading in the batch (NDJSON: line number − 1)")
    device: str | None
    metric: str | None
    reason: str
    detail: str
    dead_letter_id: int | None


class IngestResult(BaseModel):
    """Counts and per-reading reasons; a 200 means the accepted readings are committed (durable)."""

    accepted: int
    rejected: int
    rejections: list[RejectionOut]


class SeriesPoint(BaseModel):
    ts: datetime
    value: float | None = Field(None, description="raw resolution")
    min: float | None = None
    max: float | None = None
    avg: float | None = None
    count: int | None = None
    last: float | None = None


class SeriesOut(BaseModel):
    device: str
    metric: str
    unit: str | None
    resolution: str
    points: list[SeriesPoint]
    truncated: bool = Field(description="more points than `limit`: ask again from the last ts")


class PersonalSeriesIn(RevealIn):
    """The series to read (as ``GET /telemetry/series`` takes it) of a meter that serves a registered person,
    and why it is read. The purpose stays in the body, out of the URLs that access logs keep."""

    model_config = ConfigDict(extra="forbid")

    device: str = Field(max_length=40, description="the meter's city code", examples=["370202MT000000012"])
    metric: str = Field(min_length=1, max_length=40, examples=["water_volume"])
    since: Instant | None = Field(None, description="default: 24 h before `until`")
    until: Instant | None = Field(None, description="default: now")
    resolution: Literal["raw", "1m", "1h"] = "raw"
    limit: int = Field(10_000, ge=1, le=MAX_SERIES_POINTS)


class DeadLetterOut(BaseModel):
    id: int
    received_at: datetime
    channel: str
    source: str | None
    device: str | None
    metric: str | None
    reason: str
    detail: str
    raw: str
    status: DeadLetterStatus
    attempts: int
    replayed_at: datetime | None


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    total: int
    limit: int
    offset: int


class ReplayIn(Input):
    """Which dead letters to replay: ids, or a filter over the pending ones."""

    model_config = ConfigDict(extra="forbid")

    ids: list[int] | None = Field(None, max_length=10_000)
    reason: str | None = Field(None, max_length=24)
    device: str | None = Field(None, max_length=60)
    channel: str | None = Field(None, max_length=12)
    since: Instant | None = None
    until: Instant | None = None
    limit: int = Field(10_000, ge=1, le=100_000)


class ReplayResult(BaseModel):
    replayed: int = Field(description="dead letters now accepted")
    still_rejected: int
    rejections: list[RejectionOut]


class MetricOut(BaseModel):
    name: str
    unit: str
    min: float | None
    max: float | None


class DeviceTypeOut(BaseModel):
    key: str
    name: str
    metrics: list[MetricOut]
