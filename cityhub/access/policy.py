"""The one place where access is decided.

Reads are query filters (``readable_events``): a row the principal may not see is simply not found (404).
Actions are checked by ``authorize`` against the role table below plus the principal's relation to the
object (its department handles the event, the event lies in its area). Services call these; endpoints
never repeat a permission check.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import CTE, ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute, aliased

from cityhub.access.principal import Principal
from cityhub.catalog.tags import TagRule, restricting_tags
from cityhub.kit.errors import Forbidden
from cityhub.models.alert import Alert
from cityhub.models.area import Area, AreaLevel
from cityhub.models.catalog import (
    AccessLog,
    AccessMode,
    CatalogResource,
    DataGrade,
    Grant,
    GrantScope,
    OpenAttribute,
    QualityAlert,
    ShareRequest,
    SharingAttribute,
)
from cityhub.models.entity import Entity, EntityRelation
from cityhub.models.event import AssignmentStatus, Event, EventAssignment
from cityhub.models.org import Role

A, D, H, G, S, DS, C = (
    Role.ADMIN,
    Role.DISPATCHER,
    Role.HANDLER,
    Role.GRID_WORKER,
    Role.SUPERVISOR,
    Role.DATA_STEWARD,
    Role.CITIZEN,
)


class Relation(StrEnum):
    """How the principal must relate to the event, beyond its role, for an action."""

    ANY = "any"  # any readable event
    ASSIGNED = "assigned"  # the principal's department has an open assignment on the event
    LEAD = "lead"  # the principal's department is the lead (主办) department
    REPORTER = "reporter"  # the principal reported the event


# action → {role: relation}. A role absent from an action's map may not take it.
EVENT_ACTIONS: dict[str, dict[Role, Relation]] = {
    "dispatch": {A: Relation.ANY, D: Relation.ANY},
    "accept": {H: Relation.ASSIGNED},
    "start": {H: Relation.LEAD},
    "note": {H: Relation.ASSIGNED, D: Relation.ANY, G: Relation.ANY},
    "resolve": {H: Relation.ASSIGNED},
    "return": {H: Relation.LEAD},
    "request_extension": {H: Relation.LEAD},
    "decide_extension": {A: Relation.ANY, D: Relation.ANY, S: Relation.ANY},
    "suspend": {A: Relation.ANY, D: Relation.ANY, S: Relation.ANY},
    "resume": {A: Relation.ANY, D: Relation.ANY, S: Relation.ANY},
    "supervise": {A: Relation.ANY, S: Relation.ANY},
    "grade": {A: Relation.ANY, D: Relation.ANY},  # 突发事件分级: the operation centre's judgement
    "merge": {A: Relation.ANY, D: Relation.ANY},
    "cancel": {A: Relation.ANY, D: Relation.ANY},
    "rate": {C: Relation.REPORTER, D: Relation.ANY, A: Relation.ANY},
    "reopen": {C: Relation.REPORTER, D: Relation.ANY, A: Relation.ANY, S: Relation.ANY},
    "attach": {H: Relation.ASSIGNED, D: Relation.ANY, G: Relation.ANY, C: Relation.REPORTER, A: Relation.ANY},
    "dismiss_duplicate": {A: Relation.ANY, D: Relation.ANY},  # 一事多诉: "not the same problem"
}

# Everything that is not about one event.
GLOBAL_ACTIONS: dict[str, frozenset[Role]] = {
    "events.create": frozenset({A, D, G, C, H, S}),
    "users.manage": frozenset({A}),
    # See another user's login sessions (where from, with what) and end them (安全管理: a stolen laptop, a
    # suspicious address).
    "users.sessions": frozenset({A}),
    "departments.manage": frozenset({A}),
    "areas.manage": frozenset({A}),
    "categories.manage": frozenset({A, DS}),
    "routing.manage": frozenset({A, D}),
    "sla.manage": frozenset({A}),
    "audit.read": frozenset({A, S, DS}),
    "reports.read": frozenset({A, D, S, H}),
    "review_queue.read": frozenset({A, D}),
    # What the hub decided about an event and who did what: the suggestion, its confidence, the review
    # flag, the staff's names and data on the timeline. A citizen sees their report's progress only.
    "events.read_internals": frozenset({A, D, H, G, S, DS}),
    "tokens.manage": frozenset({A}),
    # Intelligent dispatch (智能分拨): gazetteer, classifier models, hot spots.
    "gazetteer.read": frozenset({A, D, H, G, S, DS}),
    "gazetteer.manage": frozenset({A, DS}),
    "dispatch_models.read": frozenset({A, D, S, DS}),
    "dispatch_models.manage": frozenset({A}),
    "hotspots.read": frozenset({A, D, S, DS}),
    "hotspots.escalate": frozenset({A, S}),
    # Sensing and early warning (城市体征 · 预警 · 协同联动).
    "indicators.read": frozenset({A, D, H, G, S, DS}),
    "indicators.manage": frozenset({A, DS}),
    "alerts.read": frozenset({A, D, H, G, S}),
    "alerts.handle": frozenset({A, D, H, G}),
    "alert_subjects.manage": frozenset({A, G}),
    "rules.read": frozenset({A, D, S}),
    "rules.manage": frozenset({A, D}),
    # City code registry and telemetry (一码通城 · 物联感知).
    "entities.read": frozenset({A, D, H, G, S, DS}),
    "entities.manage": frozenset({A, DS}),
    "entities.manage_personal": frozenset({A, G}),  # registering people (with consent) is grid work
    "telemetry.ingest": frozenset({A, Role.GATEWAY}),
    "telemetry.read": frozenset({A, D, H, G, S, DS}),
    "telemetry.dead_letters": frozenset({A, DS}),
    # The hub's own operation: Prometheus metrics (GET /metrics).
    "metrics.read": frozenset({A, Role.MONITOR}),
}

# Roles that call reporters back and so see their name and phone — every such read is audited.
REPORTER_READERS: dict[Role, Relation] = {A: Relation.ANY, D: Relation.ANY, H: Relation.LEAD}

_AREA_COLUMN = {
    AreaLevel.DISTRICT: Event.district_id,
    AreaLevel.STREET: Event.street_id,
    AreaLevel.COMMUNITY: Event.community_id,
    AreaLevel.GRID: Event.grid_id,
}


@dataclass(frozen=True)
class AreaScope:
    """An area and everything in it; ``level`` None: the whole city."""

    level: AreaLevel | None = None
    area_id: int | None = None


def _area_scope(principal: Principal) -> AreaScope:
    if principal.area_id is None or principal.area_level in (None, AreaLevel.CITY):
        return AreaScope()
    return AreaScope(principal.area_level, principal.area_id)


def _events_in(scope: AreaScope) -> ColumnElement[bool]:
    return true() if scope.level is None else _AREA_COLUMN[scope.level] == scope.area_id


def _in_area(principal: Principal) -> ColumnElement[bool]:
    return _events_in(_area_scope(principal))


def readable_event_area(principal: Principal) -> AreaScope | None:
    """When what a principal may read of the events is exactly an area, that area (for pre-aggregates kept
    by area, such as the evaluation rollup); None when it is something else (a department's events, own
    reports). Consistent with ``readable_events``, which is built on it."""
    if principal.role in (A, DS):
        return AreaScope()
    if principal.role in (D, S):
        return _area_scope(principal)
    return None


def _department_assigned(department_id: int | None) -> ColumnElement[bool]:
    if department_id is None:
        return false()
    # An alias, so the filter also works in queries that join the assignments themselves. IN over the
    # department's parts rather than a correlated EXISTS: the database starts from that department's
    # assignments (an index) instead of probing them for every event.
    part = aliased(EventAssignment)
    return Event.id.in_(
        select(part.event_id).where(
            part.department_id == department_id,
            part.status != AssignmentStatus.WITHDRAWN,
        )
    )


def readable_events(principal: Principal) -> ColumnElement[bool]:
    """The WHERE clause of every event read: what this principal may see at all."""
    role = principal.role
    area = readable_event_area(principal)
    if area is not None:
        return _events_in(area)
    if role is H:
        return _department_assigned(principal.department_id)
    if role is G:
        return or_(_in_area(principal), _reported_by(principal))
    return _reported_by(principal)


def _reported_by(principal: Principal) -> ColumnElement[bool]:
    if principal.user_id is None:
        return false()
    return and_(Event.reporter_user_id == principal.user_id)


def _relation_holds(
    relation: Relation,
    principal: Principal,
    event: Event,
    open_departments: Collection[int],
) -> bool:
    if relation is Relation.ANY:
        return True
    if relation is Relation.REPORTER:
        return principal.user_id is not None and event.reporter_user_id == principal.user_id
    if relation is Relation.LEAD:
        return principal.department_id is not None and event.lead_department_id == principal.department_id
    return principal.department_id in open_departments


def may(principal: Principal, action: str, event: Event, open_departments: Collection[int] = ()) -> bool:
    relation = EVENT_ACTIONS.get(action, {}).get(principal.role)
    return relation is not None and _relation_holds(relation, principal, event, open_departments)


def authorize_event(
    principal: Principal, action: str, event: Event, open_departments: Collection[int] = ()
) -> None:
    """Raise 403 unless the principal may take ``action`` on an event it can already read."""
    if not may(principal, action, event, open_departments):
        raise Forbidden(f"a {principal.role.label} ({principal.role}) may not {action} this event")


def authorize_grading(principal: Principal) -> None:
    """A report graded as it comes in: by the roles that may grade events (the grade is theirs to judge)."""
    if principal.role not in EVENT_ACTIONS["grade"]:
        raise Forbidden(
            f"a {principal.role.label} ({principal.role}) may not grade events; report it without a grade "
            "and the operation centre grades it",
            code="grade_not_allowed",
        )


def allows(principal: Principal, action: str) -> bool:
    return principal.role in GLOBAL_ACTIONS[action]


def authorize(principal: Principal, action: str) -> None:
    if not allows(principal, action):
        raise Forbidden(f"a {principal.role.label} ({principal.role}) may not {action.replace('.', ' ')}")


def sees_reporter(principal: Principal, event: Event) -> bool:
    relation = REPORTER_READERS.get(principal.role)
    return relation is not None and _relation_holds(relation, principal, event, ())


# ---------------------------------------------------------------- alerts

_ALERT_AREA_COLUMN = {
    AreaLevel.DISTRICT: Alert.district_id,
    AreaLevel.STREET: Alert.street_id,
    AreaLevel.COMMUNITY: Alert.community_id,
    AreaLevel.GRID: Alert.grid_id,
}


def _community_of_grid(grid_id: int) -> ColumnElement[int]:
    return select(Area.parent_id).where(Area.id == grid_id).scalar_subquery()


def _alert_in_area(principal: Principal) -> ColumnElement[bool]:
    if principal.area_id is None or principal.area_level in (None, AreaLevel.CITY):
        return true()
    assert principal.area_level is not None
    return _ALERT_AREA_COLUMN[principal.area_level] == principal.area_id


def _alert_in_community(principal: Principal) -> ColumnElement[bool]:
    """A grid worker looks after the whole community their grid belongs to (that is who visits)."""
    if principal.area_id is None:
        return false()
    if principal.area_level is AreaLevel.GRID:
        return or_(
            Alert.grid_id == principal.area_id, Alert.community_id == _community_of_grid(principal.area_id)
        )
    return _alert_in_area(principal)


def readable_alerts(principal: Principal) -> ColumnElement[bool]:
    """The WHERE clause of every alert read: operation centres and supervisors see their area, handlers
    the alerts of their department, grid workers their community; data stewards and citizens none."""
    role = principal.role
    if role is A:
        return true()
    if role in (D, S):
        return _alert_in_area(principal)
    if role is H:
        return false() if principal.department_id is None else Alert.department_id == principal.department_id
    if role is G:
        return _alert_in_community(principal)
    return false()


def sees_alert_subject(
    principal: Principal, subject_community_id: int | None, principal_community_id: int | None
) -> bool:
    """The identity of a registered person (独居老人) is for the grid workers of their community only —
    not even administrators: they act on it by visiting, which is the grid worker's job."""
    return (
        principal.role is G
        and subject_community_id is not None
        and subject_community_id == principal_community_id
    )


# ---------------------------------------------------------------- the data catalog (一本账)
# Roles and relations decide who may act (a table, like events); the resource's attributes — grade, sharing
# and open attribute, field sensitivity — decide what a grant may deliver (GRADE_RULES and the functions
# below). See docs/decisions/0005-catalog-policy.md.


class CatalogRelation(StrEnum):
    """How the principal's department must relate to the resource, request or grant."""

    ANY = "any"
    OWNER = "owner"  # the principal's department owns (提供) the resource
    REQUESTER = "requester"  # the principal's department asked for it or holds the grant
    MEMBER = "member"  # the principal acts for a department (it has one)


_ANY, _OWNER, _REQ, _MEMBER = (
    frozenset({CatalogRelation.ANY}),
    frozenset({CatalogRelation.OWNER}),
    frozenset({CatalogRelation.REQUESTER}),
    frozenset({CatalogRelation.MEMBER}),
)
_OWNER_OR_REQ = _OWNER | _REQ

# action → {role: relations, any of which suffices}. A role absent from an action's map may not take it.
CATALOG_ACTIONS: dict[str, dict[Role, frozenset[CatalogRelation]]] = {
    "catalog.read": {A: _ANY, DS: _ANY, D: _ANY, S: _ANY, H: _ANY, G: _ANY},
    "catalog.register": {A: _ANY, DS: _OWNER},
    "catalog.update": {A: _ANY, DS: _OWNER},
    "catalog.sample.upload": {A: _ANY, DS: _OWNER},
    "catalog.quality.run": {A: _ANY, DS: _OWNER},
    "catalog.quality.read": {A: _ANY, DS: _ANY, S: _ANY, H: _OWNER},
    "catalog.request": {A: _MEMBER, DS: _MEMBER, D: _MEMBER, S: _MEMBER, H: _MEMBER},
    "catalog.request.read": {A: _ANY, DS: _OWNER_OR_REQ, D: _REQ, S: _REQ, H: _REQ},
    "catalog.decide": {A: _ANY, DS: _OWNER},
    "catalog.revoke": {A: _ANY, DS: _OWNER},
    "catalog.token.issue": {A: _ANY, DS: _REQ, D: _REQ, S: _REQ, H: _REQ},
    "catalog.access_log.read": {A: _ANY, DS: _OWNER_OR_REQ, D: _REQ, S: _REQ, H: _REQ},
}


def abilities(principal: Principal) -> dict[str, list[str]]:
    """What the principal's role may do beyond single events, for clients to offer only that: each global
    action it may take (relation ``any``) and each catalog action with the relations under which it may."""
    out = {action: ["any"] for action, roles in GLOBAL_ACTIONS.items() if principal.role in roles}
    for action, by_role in CATALOG_ACTIONS.items():
        if principal.role in by_role:
            out[action] = sorted(by_role[principal.role])
    return out


@dataclass(frozen=True)
class GradeRule:
    """What a grade allows (GB/T 43697-2024, 就高从严)."""

    rows: bool  # may a grant deliver (masked) rows, or only aggregates computed in the hub
    unmaskable: bool  # may the owner lift masking of ordinary (not sensitive) personal fields
    deciders: frozenset[Role]  # who of the owner department may approve a conditional request


GRADE_RULES: dict[DataGrade, GradeRule] = {
    DataGrade.CORE: GradeRule(rows=False, unmaskable=False, deciders=frozenset({A})),
    DataGrade.IMPORTANT: GradeRule(rows=False, unmaskable=False, deciders=frozenset({A, DS})),
    DataGrade.GENERAL_4: GradeRule(rows=True, unmaskable=False, deciders=frozenset({A, DS})),
    DataGrade.GENERAL_3: GradeRule(rows=True, unmaskable=True, deciders=frozenset({A, DS})),
    DataGrade.GENERAL_2: GradeRule(rows=True, unmaskable=True, deciders=frozenset({A, DS})),
    DataGrade.GENERAL_1: GradeRule(rows=True, unmaskable=True, deciders=frozenset({A, DS})),
}


def _catalog_relation_holds(
    relation: CatalogRelation, principal: Principal, owner: int | None, requester: int | None
) -> bool:
    dept = principal.department_id
    if relation is CatalogRelation.ANY:
        return True
    if relation is CatalogRelation.MEMBER:
        return dept is not None
    if relation is CatalogRelation.OWNER:
        return dept is not None and dept == owner
    return dept is not None and dept == requester


def catalog_may(
    principal: Principal,
    action: str,
    *,
    owner_department_id: int | None = None,
    requester_department_id: int | None = None,
    grade: DataGrade | None = None,
) -> bool:
    """May the principal take a catalog action, given who owns the resource and who asked for it?"""
    relations = CATALOG_ACTIONS[action].get(principal.role)
    if relations is None:
        return False
    if action == "catalog.decide" and grade is not None and principal.role not in GRADE_RULES[grade].deciders:
        return False
    return any(
        _catalog_relation_holds(r, principal, owner_department_id, requester_department_id) for r in relations
    )


def authorize_catalog(
    principal: Principal,
    action: str,
    *,
    owner_department_id: int | None = None,
    requester_department_id: int | None = None,
    grade: DataGrade | None = None,
) -> None:
    """Raise 403 unless ``catalog_may``."""
    if not catalog_may(
        principal,
        action,
        owner_department_id=owner_department_id,
        requester_department_id=requester_department_id,
        grade=grade,
    ):
        raise Forbidden(
            f"a {principal.role.label} ({principal.role}) may not {action.removeprefix('catalog.')}"
        )


def restricting_rules(tags: Iterable[str]) -> dict[str, TagRule]:
    """The resource's tags that are policy inputs (``cityhub/catalog/tags.yaml``), with their rules."""
    rules = restricting_tags()
    return {tag: rules[tag] for tag in tags if tag in rules}


def sharing_decision(sharing: SharingAttribute, tags: Iterable[str] = ()) -> str:
    """无条件 → granted at once; 有条件 → the owner decides; 不予共享 → refused. A restricting tag that
    requires approval (e.g. 公安, 医疗, 未成年人) makes an unconditional resource wait for the owner."""
    decision = {
        SharingAttribute.UNCONDITIONAL: "grant",
        SharingAttribute.CONDITIONAL: "approve",
        SharingAttribute.NONE: "refuse",
    }[sharing]
    if decision == "grant" and any(rule.approval for rule in restricting_rules(tags).values()):
        return "approve"
    return decision


# The smallest group an aggregate query may release (k-anonymity), unless a restricting tag asks for more.
CATALOG_MIN_GROUP = 10


def aggregate_k(tags: Iterable[str]) -> int:
    """k for aggregates over a resource: the hub's 10, or the highest ``min_k`` of its restricting tags."""
    return max([CATALOG_MIN_GROUP, *(r.min_k for r in restricting_rules(tags).values() if r.min_k)])


def grant_area(principal: Principal, scope: GrantScope) -> int | None:
    """The area whose rows a grant delivers (rows and aggregates alike) to ``principal`` — the grant's
    department, with that department's area: its own area and everything below it, unless the owner
    approved the grant city-wide. None: every row (a city-level department, or a city-wide grant).
    Applies to resources whose rows carry an area; the others have no rows to confine."""
    if (
        scope is GrantScope.CITY
        or principal.area_id is None
        or principal.area_level in (None, AreaLevel.CITY)
    ):
        return None
    return principal.area_id


def _area_subtree(area_id: int) -> CTE:
    """The area and every area below it (recursive, the same SQL on SQLite and PostgreSQL)."""
    tree = select(Area.id, Area.code).where(Area.id == area_id).cte("catalog_area_subtree", recursive=True)
    child = aliased(Area)
    return tree.union_all(select(child.id, child.code).where(child.parent_id == tree.c.id))


def catalog_rows_in_area(
    area_id: int,
    *,
    area_ids: ColumnElement[Any] | None = None,
    area_codes: ColumnElement[Any] | None = None,
) -> ColumnElement[bool]:
    """The WHERE clause of a confined grant's rows: the row's area — an id in a hub table (``area_ids``) or
    a code in a resource's area field (``area_codes``) — is the grant's area or lies below it. A row
    without an area is not delivered."""
    tree = _area_subtree(area_id)
    if area_ids is not None:
        return area_ids.in_(select(tree.c.id))
    if area_codes is not None:
        return area_codes.in_(select(tree.c.code))
    raise ValueError("say which column holds the rows' area")


def allowed_modes(grade: DataGrade, touches_sensitive_personal: bool) -> frozenset[AccessMode]:
    """重要/核心 resources and any sensitive personal information: aggregates only (可用不可见)."""
    if GRADE_RULES[grade].rows and not touches_sensitive_personal:
        return frozenset({AccessMode.ROWS, AccessMode.AGGREGATE})
    return frozenset({AccessMode.AGGREGATE})


def may_unmask(grade: DataGrade, *, personal: bool, sensitive: bool) -> bool:
    """Whether a grant may deliver this personal field unmasked (the owner must still say so)."""
    return personal and not sensitive and GRADE_RULES[grade].unmaskable


def field_masked(*, personal: bool, sensitive: bool, masked_kind: str, unmasked_by_grant: bool) -> bool:
    """Every personal or sensitive field with a masking rule is masked unless the grant lifts it."""
    if masked_kind == "none" or not (personal or sensitive):
        return False
    return not unmasked_by_grant


def readable_catalog(principal: Principal) -> ColumnElement[bool]:
    """Staff see the whole 一本账; the public sees only resources whose open attribute allows it."""
    if principal.role in CATALOG_ACTIONS["catalog.read"]:
        return true()
    return CatalogResource.open_attribute != OpenAttribute.NONE


def _owned_by(resource_id: InstrumentedAttribute[int], department_id: int) -> ColumnElement[bool]:
    # An alias, so the filter also works in queries that join the resources themselves.
    owned = aliased(CatalogResource)
    return exists(select(owned.id).where(owned.id == resource_id, owned.department_id == department_id))


def _catalog_rows_readable(
    principal: Principal,
    action: str,
    resource_id: InstrumentedAttribute[int],
    department_id: InstrumentedAttribute[int],
) -> ColumnElement[bool]:
    relations = CATALOG_ACTIONS[action].get(principal.role)
    dept = principal.department_id
    if relations is None:
        return false()
    if CatalogRelation.ANY in relations:
        return true()
    if dept is None:
        return false()
    clauses: list[ColumnElement[bool]] = []
    if CatalogRelation.OWNER in relations:
        clauses.append(_owned_by(resource_id, dept))
    if CatalogRelation.REQUESTER in relations:
        clauses.append(department_id == dept)
    return or_(*clauses) if clauses else false()


def readable_share_requests(principal: Principal) -> ColumnElement[bool]:
    """Requests: the owner department sees what is asked of it, the requester what it asked."""
    return _catalog_rows_readable(
        principal, "catalog.request.read", ShareRequest.resource_id, ShareRequest.department_id
    )


def readable_grants(principal: Principal) -> ColumnElement[bool]:
    return _catalog_rows_readable(principal, "catalog.request.read", Grant.resource_id, Grant.department_id)


def readable_access_log(principal: Principal) -> ColumnElement[bool]:
    """The access log is reportable to the owner; a requester sees its own uses."""
    return _catalog_rows_readable(
        principal, "catalog.access_log.read", AccessLog.resource_id, AccessLog.department_id
    )


def readable_quality_alerts(principal: Principal) -> ColumnElement[bool]:
    relations = CATALOG_ACTIONS["catalog.quality.read"].get(principal.role)
    if relations is None:
        return false()
    if CatalogRelation.ANY in relations:
        return true()
    if principal.department_id is None:
        return false()
    return QualityAlert.department_id == principal.department_id


# ---------------------------------------------------------------- entities (城市码)

_ENTITY_AREA_COLUMN = {
    AreaLevel.DISTRICT: Entity.district_id,
    AreaLevel.STREET: Entity.street_id,
    AreaLevel.COMMUNITY: Entity.community_id,
    AreaLevel.GRID: Entity.grid_id,
}


def _personal_entity_types() -> list[str]:
    from cityhub.entities.types import personal_types

    return personal_types()


def _entity_in_area(principal: Principal) -> ColumnElement[bool]:
    if principal.area_id is None or principal.area_level in (None, AreaLevel.CITY):
        return true()
    assert principal.area_level is not None
    if principal.area_level is AreaLevel.GRID:
        # A grid worker looks after the people of the whole community their grid belongs to.
        return or_(
            Entity.grid_id == principal.area_id,
            Entity.community_id == _community_of_grid(principal.area_id),
        )
    return _ENTITY_AREA_COLUMN[principal.area_level] == principal.area_id


def readable_entities(principal: Principal) -> ColumnElement[bool]:
    """The WHERE clause of every entity read. City objects are open to staff; registered people (personal
    types) only to administrators, and to dispatchers, supervisors and grid workers within their area —
    handlers and data stewards never list them."""
    if principal.role not in GLOBAL_ACTIONS["entities.read"]:
        return false()
    personal = Entity.type.in_(_personal_entity_types())
    if principal.role is A:
        return true()
    if principal.role in (D, S, G) and principal.area_id is not None:
        return or_(~personal, _entity_in_area(principal))
    return ~personal


def sees_personal_entity(
    principal: Principal, entity_community_id: int | None, principal_community_id: int | None
) -> bool:
    """A registered person's identity is for the grid workers of their community only (the same rule as
    ``sees_alert_subject``); everyone else who may read the record sees it masked."""
    return sees_alert_subject(principal, entity_community_id, principal_community_id)


# ---------------------------------------------------------------- the sensor layer (感知设备)


def readable_sensors(principal: Principal) -> ColumnElement[bool]:
    """The WHERE clause of the map's sensor layer. A device's health says whether it has open alerts, so the
    layer is for roles that read both telemetry and alerts (403 for the others); the devices are the
    readable entities, and a device counts as alarming only through alerts the principal may read. Health
    and the time of the last reading are the device's readings told another way: a registered person's
    meter (when they last cooked or washed) is on the layer only for those who may read its readings."""
    if principal.role not in GLOBAL_ACTIONS["telemetry.read"] & GLOBAL_ACTIONS["alerts.read"]:
        raise Forbidden(f"a {principal.role.label} ({principal.role}) may not read the sensor layer")
    return and_(readable_entities(principal), readable_readings(principal))


# ---------------------------------------------------------------- readings of a registered person's meter
# A device related to a registered person (a gas or water meter that *serves* an elderly person living alone)
# shows that person's daily life — when they get up, cook, wash (PIPL Art. 28 sensitive personal information).
# Its readings are for those who care for the person: the grid workers of the person's community, as for their
# identity (not even administrators). For everyone else the device's readings do not exist (404); the meter
# itself stays a readable city object. The reading service audits every permitted read.


def _people_served(principal: Principal | None) -> ColumnElement[bool]:
    """Some registered person the device (``Entity``) relates to — outside ``principal``'s care if given."""
    person = aliased(Entity)
    link = aliased(EntityRelation)
    query = (
        select(link.id)
        .join(person, person.id == link.target_id)
        .where(link.source_id == Entity.id, person.type.in_(_personal_entity_types()))
    )
    if principal is not None:
        query = query.where(~_cares_for(principal, person.community_id))
    return exists(query)


def _cares_for(principal: Principal, community_id: InstrumentedAttribute[int | None]) -> ColumnElement[bool]:
    """The principal is a grid worker of the community (a person without a known community: nobody)."""
    if principal.role is not G or principal.area_id is None:
        return false()
    if principal.area_level is AreaLevel.GRID:
        return community_id == _community_of_grid(principal.area_id)
    if principal.area_level is AreaLevel.COMMUNITY:
        return community_id == principal.area_id
    return false()


def serves_registered_person() -> ColumnElement[bool]:
    """Whether a device (``Entity``) relates to a registered person: its readings are personal data."""
    return _people_served(None)


def readable_readings(principal: Principal) -> ColumnElement[bool]:
    """The WHERE clause (over ``Entity``) of every read of a device's readings, raw or rolled up: devices of
    registered people only for the grid workers of every person they serve."""
    if principal.role not in GLOBAL_ACTIONS["telemetry.read"]:
        return false()
    return ~_people_served(principal)
