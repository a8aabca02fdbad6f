"""Indicator and metric-watch definitions as data: the pydantic shape of the YAML/JSON, validated once.

An indicator is a key, names (zh/en), a domain, a unit, a *formula* and optional *thresholds* and
*alerting*. Formulas, by ``source``:

- ``telemetry``: an aggregate of one metric over a sliding window, per entity (device) or rolled up
  over the entities of each area of a level (``per: district`` with ``rollup: max``…);
- ``score``: points per condition over several metrics of the same entity, summed (a risk score, e.g.
  the high-rise fire-risk code);
- ``events``: open events per area, optionally per 10 000 residents (``Area.population``).

Thresholds map a value to 四级 蓝 / 三级 黄 / 二级 橙 / 一级 红 (or the five risk colours) with
hysteresis: a level is entered when its threshold is crossed and left only once the value is back past
the threshold by ``hysteresis``, so a value hovering at a threshold does not flap.
"""

from __future__ import annotations

import re
from functools import cached_property, lru_cache
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from cityhub.kit.text import Input
from cityhub.models.indicator import WarningLevel

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
MAX_WINDOW_S = 31 * 86400.0

DurationText = Annotated[
    str,
    Field(
        pattern=r"^\d+(\.\d+)?\s*(s|m|h|d)$",
        max_length=12,
        description="a duration: 30s, 10m, 24h, 7d",
        examples=["10m", "24h"],
    ),
]
Key = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.\-]{1,79}$", description="lowercase key, e.g. gas.leak")]
MetricName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.\-]{0,59}$", max_length=60)]
DepartmentCode = Annotated[str, Field(min_length=1, max_length=40)]
Level = Literal["blue", "yellow", "orange", "red"]
AreaScope = Literal["grid", "community", "street", "district", "city"]
Scope = Literal["entity", "grid", "community", "street", "district", "city"]
Aggregate = Literal["last", "mean", "min", "max", "sum", "count", "rate", "increase", "drop", "rise"]
Rollup = Literal["max", "min", "mean", "sum", "count"]
Op = Literal[">", ">=", "<", "<=", "==", "!="]
# Who is told about an alert: the grid worker(s) of its grid/community, an area's operation centre, or a
# department by code (``dept:qd-nyjt``).
NOTIFY_TARGETS = ("grid_worker", "community", "street", "district", "city")
NotifyTarget = Annotated[
    str, Field(pattern=r"^(grid_worker|community|street|district|city|dept:[\w\-]{1,40})$")
]


@lru_cache(maxsize=1024)
def seconds(text: str) -> float:
    """``"24h"`` → 86400.0."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 10m, 24h, 7d)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def compare(value: float, op: str, target: float) -> bool:
    if op == ">":
        return value > target
    if op == ">=":
        return value >= target
    if op == "<":
        return value < target
    if op == "<=":
        return value <= target
    if op == "==":
        return value == target
    return value != target


class Strict(Input):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


def _window_in_range(text: str) -> None:
    if not 0 < seconds(text) <= MAX_WINDOW_S:
        raise ValueError(f"window {text} must be longer than 0 and at most 31 days")


class Names(Strict):
    zh: str = Field(min_length=1, max_length=100)
    en: str = Field(min_length=1, max_length=150)


class TelemetryFormula(Strict):
    """An aggregate of one metric over a sliding window (reading time), per entity or rolled up by area.

    ``increase``: the sum of rises between consecutive readings (a cumulative meter's use); ``drop``: the
    window's maximum minus the latest value (a pressure drop); ``rise``: the latest minus the minimum
    (rising water); ``rate``: readings per hour. ``min_coverage``: the share of the window the series
    must span before it is judged (a meter seen for one hour says nothing about 24 hours).
    """

    source: Literal["telemetry"]
    metric: MetricName
    aggregate: Aggregate
    window: DurationText
    per: Scope = "entity"
    rollup: Rollup = "max"
    min_coverage: float = Field(0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> TelemetryFormula:
        _window_in_range(self.window)
        return self


class Term(Strict):
    """One condition of a score, adding ``points`` when it holds: ``aggregate(metric, window) op value``
    over the entity's own readings, or, with ``events: CATEGORY``, the number of events of that category
    received within ``window`` in the entity's ``near`` area (e.g. reports of blocked fire exits)."""

    metric: MetricName | None = None
    events: str | None = Field(None, max_length=300, description="category path prefix")
    near: Literal["grid", "community", "street", "district"] = "community"
    aggregate: Aggregate = "last"
    window: DurationText = "1h"
    op: Op
    value: float = Field(allow_inf_nan=False)
    points: float = Field(gt=0, le=1000, allow_inf_nan=False)
    label: str | None = Field(None, max_length=60)

    @model_validator(mode="after")
    def _check(self) -> Term:
        _window_in_range(self.window)
        if (self.metric is None) == (self.events is None):
            raise ValueError("a term is over either a metric or events (give exactly one)")
        return self


class ScoreFormula(Strict):
    """Points per condition over the metrics of one entity, summed: a risk score."""

    source: Literal["score"]
    terms: list[Term] = Field(min_length=1, max_length=20)
    per: Scope = "entity"
    rollup: Rollup = "max"

    @property
    def metrics(self) -> set[str]:
        return {t.metric for t in self.terms if t.metric is not None}

    @model_validator(mode="after")
    def _has_a_metric(self) -> ScoreFormula:
        if not self.metrics:
            raise ValueError("a score needs at least one term over a metric (the entity's readings)")
        return self


class EventsFormula(Strict):
    """Open events per area, by category (path prefix), optionally per ``per_residents`` residents."""

    source: Literal["events"]
    per: Literal["district", "street", "city"] = "district"
    category: str | None = Field(None, max_length=300, description="category path prefix, e.g. 城乡建设")
    window: DurationText | None = Field(None, description="only events received within this window")
    per_residents: int | None = Field(10_000, ge=1, le=100_000_000)


Formula = Annotated[TelemetryFormula | ScoreFormula | EventsFormula, Field(discriminator="source")]


class Thresholds(Strict):
    """Thresholds per level; ``above``: higher is worse, ``below``: lower is worse.

    ``scale: risk5`` is the five-colour risk code: below every threshold the level is green (低), not
    "no warning".
    """

    direction: Literal["above", "below"] = "above"
    scale: Literal["warning", "risk5"] = "warning"
    blue: float | None = Field(None, allow_inf_nan=False)
    yellow: float | None = Field(None, allow_inf_nan=False)
    orange: float | None = Field(None, allow_inf_nan=False)
    red: float | None = Field(None, allow_inf_nan=False)
    hysteresis: float = Field(0.0, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        steps = self.steps()
        if not steps:
            raise ValueError("give at least one threshold (blue, yellow, orange or red)")
        values = [v for _, v in steps]
        ordered = (
            values == sorted(values) if self.direction == "above" else values == sorted(values, reverse=True)
        )
        if not ordered:
            worse = "higher" if self.direction == "above" else "lower"
            raise ValueError(f"thresholds must get {worse} from blue to red (direction {self.direction})")
        return self

    def steps(self) -> list[tuple[WarningLevel, float]]:
        """(level, threshold) from the mildest to the worst."""
        return list(self._steps)

    @cached_property
    def _steps(self) -> tuple[tuple[WarningLevel, float], ...]:
        pairs = [
            (WarningLevel.BLUE, self.blue),
            (WarningLevel.YELLOW, self.yellow),
            (WarningLevel.ORANGE, self.orange),
            (WarningLevel.RED, self.red),
        ]
        return tuple((level, value) for level, value in pairs if value is not None)

    @property
    def base(self) -> WarningLevel | None:
        return WarningLevel.GREEN if self.scale == "risk5" else None

    def _past(self, value: float, threshold: float, margin: float = 0.0) -> bool:
        if self.direction == "above":
            return value >= threshold - margin
        return value <= threshold + margin

    def classify(self, value: float | None, previous: WarningLevel | None = None) -> WarningLevel | None:
        """The level of ``value``, given the level it had (hysteresis holds it until clearly back)."""
        if value is None:
            return self.base
        level = self.base
        for step, threshold in self._steps:
            if self._past(value, threshold):
                level = step
        if previous is None or not previous.is_warning:
            return level
        for step, threshold in self._steps:
            held = step.rank <= previous.rank and self._past(value, threshold, self.hysteresis)
            if held and (level is None or step.rank > level.rank):
                level = step
        return level


class EscalationStep(Strict):
    """If the alert is still unacknowledged ``after`` this long (from its first trigger): tell ``notify``
    and, optionally, raise the level."""

    after: DurationText
    notify: NotifyTarget
    raise_to: Level | None = None


class AlertSpec(Strict):
    """How an indicator (or a watch) alerts: from which level, to whom, and how it escalates.

    ``title`` may use ``{name}``, ``{value}``, ``{unit}``, ``{subject}`` and ``{area}``. ``subject:
    person`` attaches the registered person whose meter it is (their identity stays masked except for
    the grid workers of their community); the title of such an alert may not show the value, a reading
    of their meter (readable by the same grid workers only, ``policy.readable_readings``).
    """

    at: Level = "blue"
    type: Key | None = None
    title: str | None = Field(None, max_length=200)
    department: DepartmentCode | None = None
    notify: list[NotifyTarget] = Field(default_factory=lambda: ["district"], max_length=10)
    escalation: list[EscalationStep] = Field(default_factory=list, max_length=10)
    auto_clear: bool = True
    subject: Literal["person"] | None = None

    @model_validator(mode="after")
    def _escalation_in_order(self) -> AlertSpec:
        delays = [seconds(step.after) for step in self.escalation]
        if delays != sorted(delays):
            raise ValueError("escalation steps must come in the order of their delays")
        return self

    @model_validator(mode="after")
    def _no_readings_of_a_person_in_the_title(self) -> AlertSpec:
        if self.subject == "person" and self.title is not None and "{value" in self.title:
            raise ValueError(
                "the title of an alert about a registered person may not show {value}: it is a reading of "
                "their meter, which only the grid workers of their community may read"
            )
        return self


class IndicatorSpec(Strict):
    """One indicator (城市体征指标), as it appears in a YAML file or a JSON request."""

    key: Key
    name: Names
    domain: str = Field(min_length=1, max_length=20, description="水务, 燃气, 排水, 交通, 环境, 安全, 民生 …")
    unit: str = Field("", max_length=20)
    description: str = Field("", max_length=2000)
    formula: Formula
    thresholds: Thresholds | None = None
    alert: AlertSpec | None = None
    history_every: DurationText = Field("5m", description="store a history point at most this often")

    @model_validator(mode="after")
    def _alert_needs_thresholds(self) -> IndicatorSpec:
        if self.alert is not None and self.thresholds is None:
            raise ValueError("an indicator that alerts needs thresholds")
        if (
            isinstance(self.formula, EventsFormula)
            and self.formula.per_residents
            and self.formula.per == "street"
        ):
            raise ValueError("population is known for districts and the city; use per: district or city")
        return self

    @property
    def metrics(self) -> set[str]:
        if isinstance(self.formula, TelemetryFormula):
            return {self.formula.metric}
        if isinstance(self.formula, ScoreFormula):
            return self.formula.metrics
        return set()

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class HealthSpec(Strict):
    """Device health for one metric: silent (no reading for ``silent_after``), frozen (the same value for
    ``frozen_after`` over at least three readings), or a sudden jump (``jump`` between two readings)."""

    silent_after: DurationText | None = None
    frozen_after: DurationText | None = None
    jump: float | None = Field(None, gt=0, allow_inf_nan=False)
    level: Level = "yellow"


class AnomalySpec(Strict):
    """Anomaly detection for a metric with no fixed threshold (``cityhub.anomaly``): the series is cut into
    ``resample`` slots, the detector learns from the first ``train`` of them (at least ``min_train``), and
    every completed slot is scored; daily and weekly cycles are found in the data. An alert needs
    ``consecutive`` slots scoring above ``min_score``."""

    resample: DurationText = "1h"
    aggregate: Literal["sum", "mean", "max", "min", "last", "increase"] = "sum"
    train: DurationText = "7d"
    min_train: DurationText = "3d"
    level: Level = "yellow"
    # A few days of a person's life are a small sample: alarm only well past the detector's level
    # (score > 1), and only when it lasts, so one odd hour does not send a grid worker out.
    min_score: float = Field(1.5, ge=1.0, le=100)
    consecutive: int = Field(2, ge=1, le=48)


class WatchSpec(Strict):
    """How one metric's stream is watched: device health and/or anomaly detection, and who is told."""

    metric: MetricName
    name: Names | None = None
    unit: str = Field("", max_length=20)
    health: HealthSpec | None = None
    anomaly: AnomalySpec | None = None
    alert: AlertSpec = Field(default_factory=AlertSpec)

    @model_validator(mode="after")
    def _something_to_watch(self) -> WatchSpec:
        if self.health is None and self.anomaly is None:
            raise ValueError("a watch needs health and/or anomaly settings")
        return self

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)
