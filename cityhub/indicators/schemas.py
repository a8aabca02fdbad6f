"""Response models of the indicator API (requests are ``spec.IndicatorSpec`` / ``spec.WatchSpec``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from cityhub.models.indicator import WarningLevel


class LevelOut(BaseModel):
    """A warning level with its label and colour (null level: normal)."""

    level: str | None
    label: str
    colour: str


def level_out(level: WarningLevel | None) -> LevelOut:
    if level is None:
        return LevelOut(level=None, label="正常", colour="#8c8c8c")
    return LevelOut(level=level.value, label=level.label, colour=level.colour)


class IndicatorOut(BaseModel):
    key: str
    name_zh: str
    name_en: str
    domain: str
    unit: str
    enabled: bool
    origin: str
    spec: dict[str, Any]
    updated_at: datetime


class StateOut(BaseModel):
    """The current value of one subject: a device's city code (per entity) or an area code."""

    subject: str
    scope: str
    area_id: int | None
    value: float | None
    level: LevelOut
    level_since: datetime | None
    at: datetime


class StatePage(BaseModel):
    indicator: IndicatorOut
    items: list[StateOut]
    total: int
    limit: int
    offset: int


class ValueOut(BaseModel):
    at: datetime
    value: float | None
    level: str | None


class IndicatorSummaryOut(BaseModel):
    key: str
    name_zh: str
    name_en: str
    unit: str
    level: LevelOut
    value: float | None
    subject: str | None
    subjects: int
    by_level: dict[str, int]


class DomainOut(BaseModel):
    domain: str
    level: LevelOut
    indicators: list[IndicatorSummaryOut]


class SummaryOut(BaseModel):
    """The city's vital signs: the worst level per domain (城市体征一张图)."""

    at: datetime
    level: LevelOut
    domains: list[DomainOut]


class WatchOut(BaseModel):
    metric: str
    enabled: bool
    origin: str
    spec: dict[str, Any]
