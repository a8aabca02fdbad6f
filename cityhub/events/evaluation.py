"""Evaluation (考核): per department, area or category over a period — one aggregate query.

Department figures count each department's own part (an assignment), so a department that returns
an event is charged with the return, and the department that finally resolves it with the result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Float, case, cast, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from cityhub.access import policy
from cityhub.access.principal import Principal
from cityhub.models.area import Area
from cityhub.models.category import Category
from cityhub.models.event import AssignmentRole, AssignmentStatus, Event, EventAssignment
from cityhub.models.org import Department


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


def _rate(numerator: ColumnElement[Any], denominator: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((denominator > 0, cast(numerator, Float) / denominator), else_=None)


def _hours(later: Any, earlier: Any, dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.extract("epoch", later - earlier) / 3600.0
    return (func.julianday(later) - func.julianday(earlier)) * 24.0


def report(
    session: Session,
    principal: Principal,
    group_by: GroupBy,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Row]:
    dialect = session.get_bind().dialect.name
    a, e = EventAssignment, Event
    resolved = a.resolved_at.is_not(None)
    signed = a.accepted_at.is_not(None)
    key_col, name_join = _grouping(group_by)
    count = func.count(a.id)
    by_department = group_by is GroupBy.DEPARTMENT
    # A department answers for its own returns; an area or category counts events returned at least once.
    returned = (a.status == AssignmentStatus.RETURNED) if by_department else (e.return_count > 0)
    stmt = (
        select(
            key_col.label("key"),
            count.label("volume"),
            _rate(
                func.sum(case((signed & (a.accepted_at <= a.sign_deadline), 1), else_=0)),
                func.sum(case((signed, 1), else_=0)),
            ),
            _rate(
                func.sum(case((resolved & (a.resolved_at <= a.resolve_deadline), 1), else_=0)),
                func.sum(case((resolved, 1), else_=0)),
            ),
            _rate(func.sum(case((returned, 1), else_=0)), count),
            _rate(func.sum(case((resolved, 1), else_=0)), count),
            _rate(func.sum(case((e.rating >= 4, 1), else_=0)), func.count(e.rating)),
            func.avg(e.rating),
            func.avg(case((resolved, _hours(a.resolved_at, a.assigned_at, dialect)), else_=None)),
        )
        .join(e, e.id == a.event_id)
        .where(policy.readable_events(principal), a.status != AssignmentStatus.WITHDRAWN)
        .group_by(key_col)
    )
    if not by_department:
        # One row per event: its current lead part (the returned parts are the departments' business).
        stmt = stmt.where(a.role == AssignmentRole.LEAD, a.status != AssignmentStatus.RETURNED)
    if since is not None:
        stmt = stmt.where(a.assigned_at >= since)
    if until is not None:
        stmt = stmt.where(a.assigned_at < until)
    rows = session.execute(stmt).all()
    names = name_join(session, [r[0] for r in rows if r[0] is not None])
    out = [
        Row(
            key=str(r[0]) if r[0] is not None else "",
            name=names.get(r[0], "(未定位 unknown)") if r[0] is not None else "(未定位 unknown)",
            volume=int(r[1]),
            signed_on_time_rate=_round(r[2]),
            resolved_on_time_rate=_round(r[3]),
            return_rate=_round(r[4]),
            resolution_rate=_round(r[5]),
            satisfaction_rate=_round(r[6]),
            mean_rating=_round(r[7]),
            mean_handling_hours=_round(r[8]),
        )
        for r in rows
    ]
    return sorted(out, key=lambda row: -row.volume)


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


def _grouping(group_by: GroupBy) -> tuple[Any, Any]:
    if group_by is GroupBy.DEPARTMENT:
        return EventAssignment.department_id, lambda s, ids: _names(s, Department, ids)
    if group_by is GroupBy.CATEGORY:
        return Event.category_id, lambda s, ids: _names(s, Category, ids)
    column = Event.district_id if group_by is GroupBy.DISTRICT else Event.street_id
    return column, lambda s, ids: _names(s, Area, ids)


def _names(
    session: Session, model: type[Department] | type[Category] | type[Area], ids: list[Any]
) -> dict[Any, str]:
    return {
        row.id: row.name for row in session.execute(select(model.id, model.name).where(model.id.in_(ids)))
    }
