"""Evaluation (考核): per department, area or category over a period.

Department figures count each department's own part (an assignment), so a department that returns
an event is charged with the return, and the department that finally resolves it with the result.

Every figure is a ratio of sums over assignments (parts), so the report adds up sums from two places
(decision 0009): the rollup — per UTC day and month × department × lead part × district × street ×
category — for the whole days and months of the period that are not marked dirty, and the live tables
for the partial days at the period's edges and for the dirty days. Database triggers mark a day dirty
in the transaction that changes one of its parts (or an event it belongs to); ``refresh``, a scheduler
job, recomputes the dirty days from the live tables. A principal sees the rollup only when
``policy.readable_event_area`` says their events are exactly an area the rollup keeps (the city, a
district, a street); anyone else gets the live query over the whole period, their subset.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    and_,
    case,
    cast,
    delete,
    extract,
    func,
    insert,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from cityhub.access import policy
from cityhub.access.principal import Principal
from cityhub.models.area import Area, AreaLevel
from cityhub.models.category import Category
from cityhub.models.event import (
    AssignmentRole,
    AssignmentStatus,
    EvaluationDirtyDay,
    EvaluationRollup,
    EvaluationSpan,
    Event,
    EventAssignment,
)
from cityhub.models.org import Department

# The sums each row is made of, in the order of the rollup's columns.
SUMS = (
    "parts",
    "signed",
    "signed_on_time",
    "resolved",
    "resolved_on_time",
    "returned_parts",
    "returned_events",
    "rated",
    "rated_good",
    "rating_sum",
    "handling_us",
)
DIMENSIONS = ("department_id", "lead", "district_id", "street_id", "category_id")
_REFRESH_LOCK = 0x6576616C  # PostgreSQL advisory lock: one rollup refresh at a time
_US_PER_HOUR = 3_600_000_000
# A month of days per run keeps SQLite's write lock short (~1 s at 1 M events a year) after a bulk load.
MAX_DAYS_PER_RUN = 31


class GroupBy(StrEnum):
    DEPARTMENT = "department"
    DISTRICT = "district"
    STREET = "street"
    CATEGORY = "category"


@dataclass(frozen=True)
class Row:
    key: str
    name: str
    volume: int
    signed_on_time_rate: float | None
    resolved_on_time_rate: float | None
    return_rate: float | None
    resolution_rate: float | None
    satisfaction_rate: float | None
    mean_rating: float | None
    mean_handling_hours: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def report(
    session: Session,
    principal: Principal,
    group_by: GroupBy,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    use_rollup: bool = True,
) -> list[Row]:
    """The report over the parts assigned in [since, until); ``use_rollup=False`` reads only the live tables
    (the same figures, slower: for checking the rollup)."""
    readable = policy.readable_events(principal)
    scope = _rollup_scope(principal) if use_rollup else None
    if scope is None:
        sums = _live_sums(session, readable, group_by, [(since, until)])
    else:
        sums = _rollup_sums(session, readable, scope, group_by, since, until)
    return _rows(session, group_by, sums)


# ---------------------------------------------------------------- the sums, live


def _handling_us(dialect: str) -> ColumnElement[Any]:
    """resolved_at − assigned_at in whole microseconds: integers, so sums add up alike in any order."""
    a = EventAssignment
    if dialect == "postgresql":
        return cast(extract("epoch", a.resolved_at - a.assigned_at) * 1_000_000, BigInteger)
    # SQLite's date functions count whole milliseconds (as julianday() did for this figure before).
    days = func.julianday(a.resolved_at) - func.julianday(a.assigned_at)
    return cast(func.round(days * 86_400_000), Integer) * 1000


def _measures(dialect: str) -> list[ColumnElement[Any]]:
    """The aggregates of ``SUMS`` over assignments ``a`` joined to their events ``e``."""
    a, e = EventAssignment, Event
    signed = a.accepted_at.is_not(None)
    resolved = a.resolved_at.is_not(None)

    def count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.sum(case((condition, 1), else_=0))

    return [
        func.count(a.id),
        count_if(signed),
        count_if(signed & (a.accepted_at <= a.sign_deadline)),
        count_if(resolved),
        count_if(resolved & (a.resolved_at <= a.resolve_deadline)),
        count_if(a.status == AssignmentStatus.RETURNED),
        count_if(e.return_count > 0),
        func.count(e.rating),
        count_if(e.rating >= 4),
        func.coalesce(func.sum(e.rating), 0),
        func.coalesce(func.sum(case((resolved, _handling_us(dialect)), else_=None)), 0),
    ]


def _current_lead() -> ColumnElement[bool]:
    """The part the area and category figures count: the event's lead part, unless it was returned."""
    a = EventAssignment
    return and_(a.role == AssignmentRole.LEAD, a.status != AssignmentStatus.RETURNED)


def _between(column: Any, lo: Any, hi: Any) -> list[ColumnElement[bool]]:
    """[lo, hi) on ``column``; a bound that is None is open."""
    return ([column >= lo] if lo is not None else []) + ([column < hi] if hi is not None else [])


Sums = dict[Any, list[int]]


def _live_sums(
    session: Session,
    readable: ColumnElement[bool],
    group_by: GroupBy,
    periods: Sequence[tuple[datetime | None, datetime | None]],
) -> Sums:
    """The sums per key over the parts assigned in any of ``periods``, from the live tables."""
    a, e = EventAssignment, Event
    key = {
        # ``+ 0``: not the (department, status) index's order for the grouping — SQLite would otherwise
        # walk that index and fetch every part and event in random order, many times slower than a scan.
        GroupBy.DEPARTMENT: a.department_id + 0,
        GroupBy.DISTRICT: e.district_id,
        GroupBy.STREET: e.street_id,
        GroupBy.CATEGORY: e.category_id,
    }[group_by]
    stmt = (
        select(key, *_measures(session.get_bind().dialect.name))
        .join(e, e.id == a.event_id)
        .where(readable, a.status != AssignmentStatus.WITHDRAWN)
        .group_by(key)
    )
    if group_by is not GroupBy.DEPARTMENT:
        # One row per event: its current lead part (the returned parts are the departments' business).
        stmt = stmt.where(_current_lead())
    ranges = [_between(a.assigned_at, lo, hi) for lo, hi in periods]
    if all(ranges):  # an open period (no bounds) needs no filter
        stmt = stmt.where(or_(*[and_(*r) for r in ranges]))
    return {row[0]: [int(v or 0) for v in row[1:]] for row in session.execute(stmt)}


# ---------------------------------------------------------------- the sums, from the rollup


def _rollup_scope(principal: Principal) -> list[ColumnElement[bool]] | None:
    """What the principal may read as a filter on the rollup, or None where the rollup cannot express it
    exactly (a department's events, a community, a grid, own reports: the live query for those)."""
    area = policy.readable_event_area(principal)
    if area is None:
        return None
    if area.level is None:
        return []
    column = {AreaLevel.DISTRICT: EvaluationRollup.district_id, AreaLevel.STREET: EvaluationRollup.street_id}
    return [column[area.level] == area.area_id] if area.level in column else None


@dataclass
class Plan:
    """How [since, until) splits: month rows, day rows, and what is read live."""

    months: tuple[date | None, date | None] | None = None  # month buckets [lo, hi), None = unbounded
    skip_months: list[date] = field(default_factory=list)  # months with a dirty day: their days instead
    days: list[tuple[date, date]] = field(default_factory=list)  # day buckets [lo, hi)
    skip_days: list[date] = field(default_factory=list)  # dirty days: live
    live: list[tuple[datetime, datetime]] = field(default_factory=list)  # edges and dirty days


def _start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _next_month(day: date) -> date:
    return day.replace(day=1) + timedelta(days=calendar.monthrange(day.year, day.month)[1])


def plan(dirty: Iterable[date], since: datetime | None, until: datetime | None) -> Plan:
    """Split the period: whole clean months and days from the rollup, the rest live."""
    if since is not None and until is not None and since >= until:
        return Plan()
    first = None if since is None else since.astimezone(UTC).date()  # the first whole day
    if since is not None and first is not None and _start(first) < since:
        first += timedelta(days=1)
    end = None if until is None else until.astimezone(UTC).date()  # whole days end there
    if first is not None and end is not None and first >= end:
        assert since is not None and until is not None
        return Plan(live=[(since, until)])
    live: list[tuple[datetime, datetime]] = []
    if since is not None and first is not None and since < _start(first):
        live.append((since, _start(first)))
    inside = sorted({d for d in dirty if (first is None or d >= first) and (end is None or d < end)})
    live += [(_start(d), _start(d + timedelta(days=1))) for d in inside]
    if until is not None and end is not None and _start(end) < until:
        live.append((_start(end), until))
    month_lo = None if first is None else (first if first.day == 1 else _next_month(first))
    month_hi = None if end is None else end.replace(day=1)
    if month_lo is not None and month_hi is not None and month_lo >= month_hi:
        assert first is not None and end is not None
        return Plan(days=[(first, end)], skip_days=inside, live=_merge(live))
    days: list[tuple[date, date]] = []
    if first is not None and month_lo is not None and first < month_lo:
        days.append((first, month_lo))
    if end is not None and month_hi is not None and month_hi < end:
        days.append((month_hi, end))
    split = sorted(
        {
            d.replace(day=1)
            for d in inside
            if (month_lo is None or d >= month_lo) and (month_hi is None or d < month_hi)
        }
    )
    days += [(m, _next_month(m)) for m in split]
    return Plan((month_lo, month_hi), split, days, inside, _merge(live))


def _merge(ranges: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(ranges):
        if merged and merged[-1][1] >= lo:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _rollup_sums(
    session: Session,
    readable: ColumnElement[bool],
    scope: list[ColumnElement[bool]],
    group_by: GroupBy,
    since: datetime | None,
    until: datetime | None,
) -> Sums:
    r = EvaluationRollup
    dirty = session.scalars(select(EvaluationDirtyDay.day).distinct()).all()
    split = plan(dirty, since, until)
    pieces: list[ColumnElement[bool]] = []
    if split.months is not None:
        months = [r.span == EvaluationSpan.MONTH, *_between(r.bucket, *split.months)]
        if split.skip_months:
            months.append(r.bucket.not_in(split.skip_months))
        pieces.append(and_(*months))
    if split.days:
        days = or_(*[and_(*_between(r.bucket, lo, hi)) for lo, hi in split.days])
        skip = [r.bucket.not_in(split.skip_days)] if split.skip_days else []
        pieces.append(and_(r.span == EvaluationSpan.DAY, days, *skip))
    sums: Sums = {}
    if pieces:
        key = {
            GroupBy.DEPARTMENT: r.department_id,
            GroupBy.DISTRICT: r.district_id,
            GroupBy.STREET: r.street_id,
            GroupBy.CATEGORY: r.category_id,
        }[group_by]
        stmt = (
            select(key, *[func.sum(getattr(r, name)) for name in SUMS])
            .where(or_(*pieces), *scope)
            .group_by(key)
        )
        if group_by is not GroupBy.DEPARTMENT:
            stmt = stmt.where(r.lead.is_(True))
        sums = {row[0]: [int(v or 0) for v in row[1:]] for row in session.execute(stmt)}
    if split.live:
        for k, values in _live_sums(session, readable, group_by, split.live).items():
            sums[k] = [x + y for x, y in zip(sums.get(k, [0] * len(SUMS)), values, strict=True)]
    return sums


# ---------------------------------------------------------------- keeping the rollup


def refresh(session: Session, max_days: int | None = None) -> int:
    """Recompute up to ``max_days`` (default ``MAX_DAYS_PER_RUN``) dirty days from the live tables, then
    their months; the number of days recomputed (the rest wait for the next run, read live meanwhile).

    The marks are claimed (deleted) first and the days recomputed after, in the same transaction: a mark
    written by a transaction still running is not seen, so it survives and its day stays live."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _REFRESH_LOCK})
    dirty = EvaluationDirtyDay
    limit = max_days or MAX_DAYS_PER_RUN
    days = list(session.scalars(select(dirty.day).distinct().order_by(dirty.day).limit(limit)))
    if not days:
        return 0
    session.execute(delete(dirty).where(dirty.day.in_(days)).execution_options(synchronize_session=False))
    a, e, r = EventAssignment, Event, EvaluationRollup
    columns = ["span", "bucket", *DIMENSIONS, *SUMS]
    measures = _measures(dialect)
    lead = case((_current_lead(), True), else_=False).label("lead_part")
    for day in days:
        session.execute(delete(r).where(r.span == EvaluationSpan.DAY, r.bucket == day))
        rows = (
            select(
                literal(EvaluationSpan.DAY.value),
                literal(day, Date),
                a.department_id,
                lead,
                e.district_id,
                e.street_id,
                e.category_id,
                *measures,
            )
            .join(e, e.id == a.event_id)
            .where(
                a.status != AssignmentStatus.WITHDRAWN,
                *_between(a.assigned_at, _start(day), _start(day + timedelta(days=1))),
            )
            .group_by(a.department_id, lead, e.district_id, e.street_id, e.category_id)
        )
        session.execute(insert(r).from_select(columns, rows))
    dims = [getattr(r, name) for name in DIMENSIONS]
    for month in sorted({d.replace(day=1) for d in days}):
        session.execute(delete(r).where(r.span == EvaluationSpan.MONTH, r.bucket == month))
        rows = (
            select(
                literal(EvaluationSpan.MONTH.value),
                literal(month, Date),
                *dims,
                *[func.sum(getattr(r, name)) for name in SUMS],
            )
            .where(r.span == EvaluationSpan.DAY, *_between(r.bucket, month, _next_month(month)))
            .group_by(*dims)
        )
        session.execute(insert(r).from_select(columns, rows))
    session.flush()
    return len(days)


# ---------------------------------------------------------------- rows


def _rows(session: Session, group_by: GroupBy, sums: Sums) -> list[Row]:
    names = _names(session, group_by, [k for k in sums if k is not None])
    returned = SUMS.index("returned_parts" if group_by is GroupBy.DEPARTMENT else "returned_events")
    out = []
    for key, s in sorted(sums.items(), key=lambda item: (-item[1][0], item[0] is None, item[0] or 0)):
        parts, signed, signed_ot, resolved, resolved_ot = s[:5]
        rated, good, rating_sum, handling_us = s[7:]
        if parts == 0:
            continue
        out.append(
            Row(
                key=str(key) if key is not None else "",
                name=names.get(key, "(未定位 unknown)") if key is not None else "(未定位 unknown)",
                volume=parts,
                signed_on_time_rate=_ratio(signed_ot, signed),
                resolved_on_time_rate=_ratio(resolved_ot, resolved),
                return_rate=_ratio(s[returned], parts),
                resolution_rate=_ratio(resolved, parts),
                satisfaction_rate=_ratio(good, rated),
                mean_rating=_ratio(rating_sum, rated),
                mean_handling_hours=_ratio(handling_us, resolved * _US_PER_HOUR),
            )
        )
    return out


def _ratio(numerator: int, denominator: int) -> float | None:
    return None if denominator <= 0 else round(numerator / denominator, 4)


def _names(session: Session, group_by: GroupBy, ids: list[Any]) -> dict[Any, str]:
    model: type[Department] | type[Category] | type[Area] = (
        Department if group_by is GroupBy.DEPARTMENT else Category if group_by is GroupBy.CATEGORY else Area
    )
    return {
        row.id: row.name for row in session.execute(select(model.id, model.name).where(model.id.in_(ids)))
    }
