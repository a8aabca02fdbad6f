"""City vital-sign indicators (城市体征指标): their definitions, current values and history.

A definition is data (``spec``: the formula, thresholds and alerting, validated by
``cityhub.indicators.spec``); one engine interprets every definition. ``IndicatorState`` holds the
current value and warning level of one *subject* — an entity (a device's city code) or an area — and
``IndicatorValue`` its history.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.kit.db import Base, BigId, UTCDateTime, str_enum


class WarningLevel(StrEnum):
    """预警级别 (Emergency Response Law) plus the green of the five-colour risk codes.

    Warnings: 一级 红 (highest) … 四级 蓝. Fire-risk building codes use five colours, 红/橙/黄/蓝/绿 =
    重大/较大/一般/较低/低; green is "low risk", never a warning.
    """

    GREEN = "green"
    BLUE = "blue"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def risk_label(self) -> str:
        """The five-colour risk code's words (消防风险码)."""
        return _RISK_LABELS[self]

    @property
    def colour(self) -> str:
        """A CSS colour for dashboards."""
        return _COLOURS[self]

    @property
    def is_warning(self) -> bool:
        return self is not WarningLevel.GREEN

    @classmethod
    def worst(cls, levels: list[WarningLevel | None]) -> WarningLevel | None:
        present = [level for level in levels if level is not None]
        return max(present, key=lambda level: level.rank) if present else None


_RANKS = {
    WarningLevel.GREEN: 0,
    WarningLevel.BLUE: 1,
    WarningLevel.YELLOW: 2,
    WarningLevel.ORANGE: 3,
    WarningLevel.RED: 4,
}
_LABELS = {
    WarningLevel.GREEN: "绿 低",
    WarningLevel.BLUE: "四级 蓝",
    WarningLevel.YELLOW: "三级 黄",
    WarningLevel.ORANGE: "二级 橙",
    WarningLevel.RED: "一级 红",
}
_RISK_LABELS = {
    WarningLevel.GREEN: "绿码(低)",
    WarningLevel.BLUE: "蓝码(较低)",
    WarningLevel.YELLOW: "黄码(一般)",
    WarningLevel.ORANGE: "橙码(较大)",
    WarningLevel.RED: "红码(重大)",
}
_COLOURS = {
    WarningLevel.GREEN: "#2e9e44",
    WarningLevel.BLUE: "#1f6fd1",
    WarningLevel.YELLOW: "#f2c200",
    WarningLevel.ORANGE: "#f07800",
    WarningLevel.RED: "#d7191c",
}


class Indicator(Base):
    """One indicator definition; ``spec`` is the validated definition as JSON (YAML files load into it)."""

    __tablename__ = "indicators"
    __audited__ = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(150))
    domain: Mapped[str] = mapped_column(String(20), index=True)
    unit: Mapped[str] = mapped_column(String(20))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(default=True)
    origin: Mapped[str] = mapped_column(String(80), default="api")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IndicatorState(Base):
    """The current value and level of an indicator for one subject (an entity or an area).

    ``subject`` is the device's city code for per-entity indicators and the area code for area
    indicators; ``level`` carries the hysteresis from one evaluation to the next.
    """

    __tablename__ = "indicator_states"
    __table_args__ = (
        UniqueConstraint("indicator_id", "subject", name="uq_indicator_states_indicator_subject"),
        Index("ix_indicator_states_area", "area_id", "indicator_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(60))
    scope: Mapped[str] = mapped_column(String(12))  # "entity" or an area level
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    value: Mapped[float | None]
    level: Mapped[WarningLevel | None] = mapped_column(str_enum(WarningLevel, 8))
    level_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The reading time the value was computed at (event time), and when it was stored.
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class IndicatorValue(Base):
    """History: one stored value of one subject, at every level change and at most every sampling period."""

    __tablename__ = "indicator_values"
    __table_args__ = (Index("ix_indicator_values_series", "indicator_id", "subject", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(60))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    value: Mapped[float | None]
    level: Mapped[WarningLevel | None] = mapped_column(str_enum(WarningLevel, 8))


class MetricWatch(Base):
    """How the stream of one metric is watched beyond indicators: device health (silent, frozen, jump)
    and anomaly detection, with the alerting that follows (``spec``, validated by
    ``cityhub.indicators.spec.WatchSpec``)."""

    __tablename__ = "metric_watches"
    __audited__ = True

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    metric: Mapped[str] = mapped_column(String(60), unique=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(default=True)
    origin: Mapped[str] = mapped_column(String(80), default="api")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
