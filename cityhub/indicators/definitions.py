"""The enabled definitions compiled for the stream: indicators by metric, watches, department codes."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.indicators.spec import (
    EventsFormula,
    IndicatorSpec,
    ScoreFormula,
    TelemetryFormula,
    WatchSpec,
    seconds,
)
from cityhub.models.indicator import Indicator, MetricWatch
from cityhub.models.org import Department

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Compiled:
    """An enabled indicator with its validated spec."""

    id: int
    key: str
    spec: IndicatorSpec

    # Read for every value the stream computes: worked out once per definition.
    @cached_property
    def per(self) -> str:
        return self.spec.formula.per

    @cached_property
    def history_every_s(self) -> float:
        return seconds(self.spec.history_every)


@dataclass
class Definitions:
    indicators: list[Compiled] = field(default_factory=list)
    watches: dict[str, WatchSpec] = field(default_factory=dict)
    departments: dict[str, int] = field(default_factory=dict)
    by_metric: dict[str, list[Compiled]] = field(default_factory=dict)
    windows: dict[str, set[float]] = field(default_factory=dict)

    @property
    def events(self) -> list[Compiled]:
        return [c for c in self.indicators if isinstance(c.spec.formula, EventsFormula)]

    def by_key(self, key: str) -> Compiled | None:
        return next((c for c in self.indicators if c.key == key), None)

    def index(self) -> None:
        by_metric: dict[str, list[Compiled]] = defaultdict(list)
        windows: dict[str, set[float]] = defaultdict(set)
        for compiled in self.indicators:
            formula = compiled.spec.formula
            if isinstance(formula, TelemetryFormula):
                by_metric[formula.metric].append(compiled)
                if formula.aggregate != "last":  # the latest reading needs no buckets
                    windows[formula.metric].add(seconds(formula.window))
            elif isinstance(formula, ScoreFormula):
                for term in formula.terms:
                    if term.metric is None:
                        continue
                    if compiled not in by_metric[term.metric]:
                        by_metric[term.metric].append(compiled)
                    if term.aggregate != "last":
                        windows[term.metric].add(seconds(term.window))
        self.by_metric, self.windows = dict(by_metric), dict(windows)


def load(session: Session) -> Definitions:
    """Every enabled indicator and watch; a stored spec that no longer validates is skipped and logged."""
    defs = Definitions()
    for row in session.scalars(select(Indicator).where(Indicator.enabled.is_(True)).order_by(Indicator.id)):
        try:
            defs.indicators.append(Compiled(row.id, row.key, IndicatorSpec.model_validate(row.spec)))
        except ValidationError:
            log.exception("indicator %s has an invalid stored definition; skipped", row.key)
    for watch in session.scalars(select(MetricWatch).where(MetricWatch.enabled.is_(True))):
        try:
            defs.watches[watch.metric] = WatchSpec.model_validate(watch.spec)
        except ValidationError:
            log.exception("watch of %s has an invalid stored definition; skipped", watch.metric)
    defs.departments = {code: id_ for code, id_ in session.execute(select(Department.code, Department.id))}
    defs.index()
    return defs
