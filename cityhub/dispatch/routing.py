"""The routing table: (category, area) → lead and co-handling departments; the most specific rule wins."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.events.categories import along_lineage, lineage
from cityhub.kit.cache import PerDatabase
from cityhub.kit.errors import NotFound, Unprocessable
from cityhub.models.area import Area
from cityhub.models.org import Department
from cityhub.models.routing import RoutingRule


@dataclass(frozen=True)
class Route:
    lead_department_id: int
    co_department_ids: tuple[int, ...]
    rule_id: int
    area_id: int | None = None  # where the rule applies (None: anywhere)


def _rules(session: Session) -> dict[int | None, list[Route]]:
    """The routing table by category (``None``: rules for any category)."""
    columns = (
        RoutingRule.id,
        RoutingRule.category_id,
        RoutingRule.area_id,
        RoutingRule.lead_department_id,
        RoutingRule.co_department_ids,
    )
    by_category: dict[int | None, list[Route]] = {}
    for r in session.execute(select(*columns).order_by(RoutingRule.id)):
        route = Route(r.lead_department_id, tuple(r.co_department_ids or ()), r.id, r.area_id)
        by_category.setdefault(r.category_id, []).append(route)
    return by_category


_cache = PerDatabase(_rules)  # intake routes every report


def find_route(session: Session, category_id: int | None, area_ids: list[int]) -> Route | None:
    """``area_ids`` are the event's areas, deepest first; a rule's ``None`` matches any category or area."""
    candidates = [
        (category, rule)
        for category, rule in along_lineage(_cache.get(session), lineage(session, category_id))
        if rule.area_id is None or rule.area_id in area_ids
    ]
    if not candidates:
        return None

    def specificity(candidate: tuple[int, Route]) -> tuple[int, int, int]:
        category, rule = candidate
        area = len(area_ids) - area_ids.index(rule.area_id) if rule.area_id in area_ids else 0
        return (category, area, -rule.rule_id)

    return max(candidates, key=specificity)[1]


def add_rule(
    session: Session,
    *,
    lead_department_id: int,
    category_id: int | None = None,
    area_id: int | None = None,
    co_department_ids: tuple[int, ...] = (),
) -> RoutingRule:
    """Add a rule, or replace the departments of the rule for the same (category, area)."""
    for dept_id in (lead_department_id, *co_department_ids):
        if session.get(Department, dept_id) is None:
            raise Unprocessable(f"department {dept_id} does not exist")
    if lead_department_id in co_department_ids:
        raise Unprocessable("the lead department cannot also be a co-handling department")
    if area_id is not None and session.get(Area, area_id) is None:
        raise Unprocessable(f"area {area_id} does not exist")
    same_category = (
        RoutingRule.category_id.is_(None) if category_id is None else RoutingRule.category_id == category_id
    )
    same_area = RoutingRule.area_id.is_(None) if area_id is None else RoutingRule.area_id == area_id
    rule = session.scalar(select(RoutingRule).where(same_category, same_area))
    if rule is None:
        rule = RoutingRule(category_id=category_id, area_id=area_id)
        session.add(rule)
    rule.lead_department_id = lead_department_id
    rule.co_department_ids = list(co_department_ids)
    session.flush()
    return rule


def delete_rule(session: Session, rule_id: int) -> None:
    rule = session.get(RoutingRule, rule_id)
    if rule is None:
        raise NotFound(f"no routing rule {rule_id}")
    session.delete(rule)
    session.flush()
