"""Formulas evaluated over the in-memory series: one entity's value, an area roll-up, events per area."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from cityhub.indicators.areas import AreaTree
from cityhub.indicators.definitions import Compiled
from cityhub.indicators.spec import EventsFormula, ScoreFormula, TelemetryFormula, Term, compare, seconds
from cityhub.indicators.windows import Series
from cityhub.kit.timeutil import clock
from cityhub.models.area import AreaLevel
from cityhub.models.category import Category
from cityhub.models.event import Event, EventStatus

OPEN_EVENT_STATUSES = [s.value for s in EventStatus if s.is_open]


@dataclass
class Observation:
    """A value of an indicator for one subject at one (reading) time, with the readings behind it."""

    indicator: Compiled
    subject: str
    scope: str
    area_id: int | None
    value: float
    at: float
    device: str | None = None
    metric: str | None = None
    evidence: list[dict[str, Any]] = field(default_factory=list)
    # The series behind a per-entity value: its latest reading becomes evidence only if an alert needs it.
    series: Series | None = None

    def readings(self) -> list[dict[str, Any]]:
        return self.evidence or ([reading(self.series)] if self.series is not None else [])


def reading(series: Series) -> dict[str, Any]:
    """The latest reading of a series, as alert evidence."""
    return {
        "device": series.device,
        "metric": series.metric,
        "ts": iso(series.last_ts),
        "value": series.last_value,
    }


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def telemetry_value(formula: TelemetryFormula, series: Series, end_ts: float) -> float | None:
    window = seconds(formula.window)
    if formula.min_coverage and series.coverage(window, end_ts) < formula.min_coverage:
        return None
    return series.aggregate(formula.aggregate, window, end_ts)


def score_value(
    formula: ScoreFormula,
    metrics: Mapping[str, Series],
    end_ts: float,
    event_count: Callable[[int], float | None],
) -> tuple[float, list[str]] | None:
    """Points of the terms that hold, and their labels; None when no term's metric has readings.
    ``event_count(i)`` is the count behind the i-th term when it is over events."""
    points = 0.0
    held: list[str] = []
    seen = False
    for i, term in enumerate(formula.terms):
        if term.metric is None:
            value = event_count(i)
        else:
            series = metrics.get(term.metric)
            value = series.aggregate(term.aggregate, seconds(term.window), end_ts) if series else None
            seen = seen or value is not None
        if value is not None and compare(value, term.op, term.value):
            points += term.points
            held.append(term.label or f"{term.metric or term.events} {term.op} {term.value:g}")
    return (points, held) if seen else None


_EVENT_AREA = {
    "grid": Event.grid_id,
    "community": Event.community_id,
    "street": Event.street_id,
    "district": Event.district_id,
}


def term_event_counts(session: Session, term: Term) -> dict[int, int]:
    """Events of the term's category received within its window, per area of its ``near`` level."""
    assert term.events is not None
    since = clock.now() - timedelta(seconds=seconds(term.window))
    prefix = term.events.rstrip("/")
    ids = select(Category.id).where((Category.path == prefix) | Category.path.startswith(prefix + "/"))
    column = _EVENT_AREA[term.near]
    rows = session.execute(
        select(column, func.count(Event.id))
        .where(Event.category_id.in_(ids), Event.created_at >= since, Event.status != EventStatus.CANCELLED)
        .group_by(column)
    )
    return {area_id: int(n) for area_id, n in rows if area_id is not None}


def rollup(kind: str, values: list[float]) -> float | None:
    if not values:
        return None
    if kind == "max":
        return max(values)
    if kind == "min":
        return min(values)
    if kind == "sum":
        return sum(values)
    if kind == "count":
        return float(len(values))
    return sum(values) / len(values)


def events_values(session: Session, compiled: Compiled, areas: AreaTree) -> list[Observation]:
    """Open events per area (per ``per_residents`` residents when asked), evaluated in SQL."""
    formula = compiled.spec.formula
    assert isinstance(formula, EventsFormula)
    now = clock.now()
    where: list[ColumnElement[bool]] = [Event.status.in_(OPEN_EVENT_STATUSES)]
    if formula.window:
        where.append(Event.created_at >= now - timedelta(seconds=seconds(formula.window)))
    if formula.category:
        prefix = formula.category.rstrip("/")
        ids = select(Category.id).where((Category.path == prefix) | Category.path.startswith(prefix + "/"))
        where.append(Event.category_id.in_(ids))
    level = AreaLevel(formula.per)
    if level is AreaLevel.CITY:
        total = session.scalar(select(func.count(Event.id)).where(*where)) or 0
        counts = {a.id: int(total) for a in areas.of_level(session, AreaLevel.CITY)}
    else:
        column = Event.district_id if level is AreaLevel.DISTRICT else Event.street_id
        counts = {
            area_id: int(n)
            for area_id, n in session.execute(
                select(column, func.count(Event.id)).where(*where).group_by(column)
            )
            if area_id is not None
        }
    out = []
    for area in areas.of_level(session, level):
        count = counts.get(area.id, 0)
        if formula.per_residents:
            if not area.population:
                continue
            value = count * formula.per_residents / area.population
        else:
            value = float(count)
        out.append(Observation(compiled, area.code, level.value, area.id, value, now.timestamp()))
    return out
