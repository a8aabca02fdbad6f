"""Linkage rules (协同联动) as data: conditions within an area (or on one entity) and a time window, and
the actions taken when they hold.

Conditions (``when: {all: […]}`` or ``{any: […]}``), each one of:

- ``indicator: KEY`` — subjects of the indicator inside the scope at ``at_least`` a level (and/or whose
  value passes ``op``/``value``), at least ``min_count`` of them, with values from within the window;
- ``alert: TYPE`` (``flood.*`` for a prefix) — open alerts inside the scope seen within the window;
- ``reading: METRIC`` — devices inside the scope whose ``aggregate`` over the window passes ``op value``;
- ``changed: KEY`` — an entity's level of that indicator changed (the rule fires on each change).

Actions, once per episode (from when the conditions start to hold until they stop): raise an alert (its
level follows the worst matched condition unless fixed), create an event for a lead and co-handling
departments through the event service, call webhooks.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from cityhub.indicators.spec import (
    DepartmentCode,
    DurationText,
    EscalationStep,
    Key,
    Level,
    MetricName,
    Names,
    NotifyTarget,
    Op,
    Strict,
    seconds,
)
from cityhub.models.event import EventGrade, Urgency


class IndicatorCondition(Strict):
    indicator: Key
    at_least: Literal["green", "blue", "yellow", "orange", "red"] | None = None
    op: Op | None = None
    value: float | None = Field(None, allow_inf_nan=False)
    min_count: int = Field(1, ge=1, le=100_000)

    @model_validator(mode="after")
    def _needs_a_test(self) -> IndicatorCondition:
        if self.at_least is None and self.op is None:
            raise ValueError(f"condition on {self.indicator}: give at_least and/or op with value")
        if (self.op is None) != (self.value is None):
            raise ValueError("op and value go together")
        return self


class AlertCondition(Strict):
    alert: str = Field(min_length=2, max_length=80, pattern=r"^[a-z][a-z0-9_.\-]*\*?$")
    at_least: Level | None = None
    min_count: int = Field(1, ge=1, le=100_000)


class ReadingCondition(Strict):
    reading: MetricName
    aggregate: Literal["last", "max", "min", "mean", "sum", "rise", "drop"] = "last"
    op: Op
    value: float = Field(allow_inf_nan=False)
    min_devices: int = Field(1, ge=1, le=100_000)


class ChangeCondition(Strict):
    changed: Key
    worse_only: bool = False


Condition = IndicatorCondition | AlertCondition | ReadingCondition | ChangeCondition


class When(Strict):
    all: list[Condition] = Field(default_factory=list, max_length=20)
    any: list[Condition] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _something(self) -> When:
        if not self.all and not self.any:
            raise ValueError("give conditions under all: or any:")
        changes = [c for c in [*self.all, *self.any] if isinstance(c, ChangeCondition)]
        if changes and (len(changes) > 1 or self.any):
            raise ValueError("a changed: condition goes alone or with all: conditions")
        return self

    @property
    def conditions(self) -> list[Condition]:
        return [*self.all, *self.any]


class RuleAlert(Strict):
    """The alert a rule raises; without ``level`` it takes the worst level of the matched conditions
    (at least ``floor``), so it rises with the situation."""

    level: Level | None = None
    floor: Level = "yellow"
    type: Key | None = None
    title: str | None = Field(None, max_length=200, description="may use {area}, {rule}, {level}")
    department: DepartmentCode | None = None
    notify: list[NotifyTarget] = Field(default_factory=lambda: ["district"], max_length=10)
    escalation: list[EscalationStep] = Field(default_factory=list, max_length=10)
    auto_clear: bool = True


class RuleEvent(Strict):
    """An event for a lead and co-handling departments; its deadline follows the SLA of its category
    and urgency, as for every event."""

    title: str = Field(min_length=1, max_length=200, description="may use {area}, {rule}, {level}")
    description: str = Field("", max_length=2000)
    category: str | None = Field(None, max_length=300)
    urgency: Urgency = Urgency.URGENT
    grade: EventGrade | None = Field(None, description="突发事件分级 I … IV, when the rule knows the harm")
    lead: DepartmentCode | None = Field(None, description="lead department code; default: the routing table")
    co: list[DepartmentCode] = Field(default_factory=list, max_length=20)


class RuleWebhook(Strict):
    url: str = Field(pattern=r"^https?://[^\s]{1,490}$", max_length=500)
    timeout_s: float = Field(3.0, gt=0, le=10)
    headers: dict[str, str] = Field(default_factory=dict, max_length=10)


class RuleSpec(Strict):
    """One linkage rule, as it appears in a YAML file or a JSON request."""

    key: Key
    name: Names
    description: str = Field("", max_length=2000)
    scope: Literal["entity", "grid", "community", "street", "district", "city"] = "district"
    window: DurationText = "30m"
    when: When
    alert: RuleAlert | None = None
    event: RuleEvent | None = None
    webhooks: list[RuleWebhook] = Field(default_factory=list, max_length=5)

    @model_validator(mode="after")
    def _consistent(self) -> RuleSpec:
        if self.alert is None and self.event is None and not self.webhooks:
            raise ValueError("a rule needs at least one action: alert, event or webhooks")
        if not 0 < seconds(self.window) <= 31 * 86400:
            raise ValueError("window must be longer than 0 and at most 31 days")
        if self.change is not None and self.scope != "entity":
            raise ValueError("a changed: condition needs scope: entity")
        return self

    @property
    def change(self) -> ChangeCondition | None:
        return next((c for c in self.when.conditions if isinstance(c, ChangeCondition)), None)

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)
