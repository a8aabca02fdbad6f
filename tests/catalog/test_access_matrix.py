"""The catalog's access matrix: every role × resource (by grade and sharing attribute) × action × the
principal's department relation (city-level or area-bound), and the attribute rules that decide what a grant
may deliver — by grade, by the requesting department's area and the grant's scope, by restricting tags."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.access import policy
from cityhub.access.principal import Principal
from cityhub.catalog import sharing
from cityhub.catalog.builtin import BUILTIN
from cityhub.kit.errors import Forbidden
from cityhub.models.area import Area, AreaLevel
from cityhub.models.catalog import (
    AccessLog,
    AccessMode,
    CatalogResource,
    DataGrade,
    Grant,
    GrantScope,
    GrantToken,
    QualityAlert,
    ShareRequest,
    SharingAttribute,
)
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
OWNER, REQUESTER, OTHER = 10, 20, 30
# How the principal relates to the resource: member of the owner department, of the requesting one,
# of a third one, or of none.
RELATIONS = {"owner": OWNER, "requester": REQUESTER, "other": OTHER, "no department": None}
# Where the principal's department sits: who may act does not depend on it (only what a grant delivers).
CITY_AREA, DISTRICT_AREA, STREET_AREA = 100, 200, 300
DEPARTMENT_AREAS: dict[str, tuple[int | None, AreaLevel | None]] = {
    "no area": (None, None),
    "city": (CITY_AREA, AreaLevel.CITY),
    "district": (DISTRICT_AREA, AreaLevel.DISTRICT),
    "street": (STREET_AREA, AreaLevel.STREET),
}
ALL = set(RELATIONS)
STAFF = {A, D, H, G, S, DS}

# action → role → the relations under which the action is allowed (for every grade, except decide).
EXPECTED: dict[str, dict[Role, set[str]]] = {
    "catalog.read": {r: ALL for r in STAFF},
    "catalog.register": {A: ALL, DS: {"owner"}},
    "catalog.update": {A: ALL, DS: {"owner"}},
    "catalog.sample.upload": {A: ALL, DS: {"owner"}},
    "catalog.quality.run": {A: ALL, DS: {"owner"}},
    "catalog.quality.read": {A: ALL, DS: ALL, S: ALL, H: {"owner"}},
    "catalog.request": {r: {"owner", "requester", "other"} for r in (A, DS, D, S, H)},
    "catalog.request.read": {
        A: ALL,
        DS: {"owner", "requester"},
        D: {"requester"},
        S: {"requester"},
        H: {"requester"},
    },
    "catalog.decide": {A: ALL, DS: {"owner"}},
    "catalog.revoke": {A: ALL, DS: {"owner"}},
    "catalog.token.issue": {A: ALL, DS: {"requester"}, D: {"requester"}, S: {"requester"}, H: {"requester"}},
    "catalog.access_log.read": {
        A: ALL,
        DS: {"owner", "requester"},
        D: {"requester"},
        S: {"requester"},
        H: {"requester"},
    },
}
# 核心数据: only an administrator decides a request, whatever the steward's department.
CORE_DECIDERS = {A}


def test_the_matrix_covers_every_catalog_action() -> None:
    assert set(EXPECTED) == set(policy.CATALOG_ACTIONS)


@pytest.mark.parametrize("action", sorted(EXPECTED))
@pytest.mark.parametrize("role", list(Role))
def test_catalog_action_matrix(role: Role, action: str) -> None:
    """Roles × grades × sharing attributes × relations × department areas for one action: allowed exactly
    as the table says (an area-bound department may do what a city-level one may)."""
    combinations = itertools.product(
        DataGrade, SharingAttribute, RELATIONS.items(), DEPARTMENT_AREAS.values()
    )
    for grade, sharing_attribute, (relation, dept), (area_id, level) in combinations:
        principal = Principal(1, "u", role, department_id=dept, area_id=area_id, area_level=level)
        expected = relation in EXPECTED[action].get(role, set())
        if action == "catalog.decide" and grade is DataGrade.CORE:
            expected = expected and role in CORE_DECIDERS
        kwargs = {"owner_department_id": OWNER, "requester_department_id": REQUESTER, "grade": grade}
        allowed = policy.catalog_may(principal, action, **kwargs)
        assert allowed == expected, (role, action, grade, sharing_attribute, relation, level)
        if not allowed:
            with pytest.raises(Forbidden):
                policy.authorize_catalog(principal, action, **kwargs)


@pytest.mark.parametrize(
    ("sharing", "decision"),
    [
        (SharingAttribute.UNCONDITIONAL, "grant"),
        (SharingAttribute.CONDITIONAL, "approve"),
        (SharingAttribute.NONE, "refuse"),
    ],
)
def test_sharing_attribute_decides_how_a_request_goes(sharing: SharingAttribute, decision: str) -> None:
    assert policy.sharing_decision(sharing) == decision


ROWS_AND_AGGREGATES = {AccessMode.ROWS, AccessMode.AGGREGATE}
AGGREGATES_ONLY = {AccessMode.AGGREGATE}


@pytest.mark.parametrize(
    ("grade", "plain", "sensitive", "unmaskable"),
    [
        (DataGrade.CORE, AGGREGATES_ONLY, AGGREGATES_ONLY, False),
        (DataGrade.IMPORTANT, AGGREGATES_ONLY, AGGREGATES_ONLY, False),
        (DataGrade.GENERAL_4, ROWS_AND_AGGREGATES, AGGREGATES_ONLY, False),
        (DataGrade.GENERAL_3, ROWS_AND_AGGREGATES, AGGREGATES_ONLY, True),
        (DataGrade.GENERAL_2, ROWS_AND_AGGREGATES, AGGREGATES_ONLY, True),
        (DataGrade.GENERAL_1, ROWS_AND_AGGREGATES, AGGREGATES_ONLY, True),
    ],
)
def test_grade_decides_what_a_grant_may_deliver(
    grade: DataGrade, plain: set[AccessMode], sensitive: set[AccessMode], unmaskable: bool
) -> None:
    """重要/核心 and sensitive personal information: aggregates only; masking lifted only on 一般 1–3."""
    assert policy.allowed_modes(grade, touches_sensitive_personal=False) == plain
    assert policy.allowed_modes(grade, touches_sensitive_personal=True) == sensitive
    assert policy.may_unmask(grade, personal=True, sensitive=False) is unmaskable
    assert policy.may_unmask(grade, personal=True, sensitive=True) is False
    assert policy.may_unmask(grade, personal=False, sensitive=False) is False


# ---------------------------------------------------------------- area: which rows a grant delivers

# Resources by whether their rows carry an area: the hub's events, entities, readings, indicators and
# registered people (area columns), an external resource with a declared area field — and those whose rows
# do not: the area tree and the department directory (reference data), the audit log, an external resource
# without an area field.
RESOURCES: dict[str, CatalogResource] = {
    **{b.code: CatalogResource(code=b.code, builtin=True, tags=[]) for b in BUILTIN},
    "external, area field": CatalogResource(code="X-1", builtin=False, area_field="district", tags=[]),
    "external, no area field": CatalogResource(code="X-2", builtin=False, area_field=None, tags=[]),
}
AREA_BOUND = {
    "CH-EVENTS",
    "CH-ENTITIES",
    "CH-TELEMETRY",
    "CH-INDICATORS",
    "CH-VULNERABLE",
    "external, area field",
}
# The two ways a grant delivers data; both go through ``sharing.confined_area``.
DELIVERIES = (AccessMode.ROWS, AccessMode.AGGREGATE)


def _expected_area(department: str, resource: str, scope: GrantScope) -> int | None:
    if resource not in AREA_BOUND or scope is GrantScope.CITY:
        return None
    return {"district": DISTRICT_AREA, "street": STREET_AREA}.get(department)


@pytest.mark.parametrize("role", list(Role))
def test_area_matrix(role: Role) -> None:
    """Token holder's role × the grant department's area × resource × scope × delivery: a district or street
    department receives its own area's rows and aggregates unless the grant is city-wide; city-level
    departments and resources without areas are never confined."""
    combinations = itertools.product(DEPARTMENT_AREAS.items(), RESOURCES.items(), GrantScope, DELIVERIES)
    for (department, (area_id, level)), (name, resource), scope, mode in combinations:
        principal = Principal(1, "u", role, department_id=REQUESTER, area_id=area_id, area_level=level)
        grant = Grant(id=1, department_id=REQUESTER, mode=mode, scope=scope, fields=[])
        access = sharing.GrantAccess(GrantToken(id=1), grant, resource, principal)
        expected = _expected_area(department, name, scope)
        assert sharing.confined_area(access) == expected, (role, department, name, scope, mode)
        assert policy.grant_area(principal, scope) == (
            area_id if level not in (None, AreaLevel.CITY) and scope is GrantScope.AREA else None
        )


def test_every_resource_is_placed_in_the_area_matrix() -> None:
    assert {b.code for b in BUILTIN} <= set(RESOURCES) and set(RESOURCES) >= AREA_BOUND
    assert {b.code for b in BUILTIN if b.area} == AREA_BOUND & {b.code for b in BUILTIN}


# ---------------------------------------------------------------- tags: how a request goes, k

TAG_SETS: dict[str, list[str]] = {
    "untagged": [],
    "browsing tags only": ["城市建设", "许可"],
    "公安": ["交通", "公安"],
    "医疗": ["医疗"],
    "未成年人": ["教育", "未成年人"],
    "医疗 + 未成年人": ["医疗", "未成年人"],
}
# tag set → (decision for 无条件, 有条件, 不予共享; k for aggregates; the restricting tags listed)
TAG_EXPECTED: dict[str, tuple[tuple[str, str, str], int, list[str]]] = {
    "untagged": (("grant", "approve", "refuse"), 10, []),
    "browsing tags only": (("grant", "approve", "refuse"), 10, []),
    "公安": (("approve", "approve", "refuse"), 10, ["公安"]),
    "医疗": (("approve", "approve", "refuse"), 20, ["医疗"]),
    "未成年人": (("approve", "approve", "refuse"), 20, ["未成年人"]),
    "医疗 + 未成年人": (("approve", "approve", "refuse"), 20, ["医疗", "未成年人"]),
}


@pytest.mark.parametrize("tags", sorted(TAG_SETS))
def test_tag_matrix(tags: str) -> None:
    """Restricting tags × sharing attribute: unconditional becomes owner-approved, 不予共享 stays refused;
    aggregates use the highest k of the tags."""
    decisions, k, restricting = TAG_EXPECTED[tags]
    sharing_attributes = (SharingAttribute.UNCONDITIONAL, SharingAttribute.CONDITIONAL, SharingAttribute.NONE)
    for attribute, decision in zip(sharing_attributes, decisions, strict=True):
        assert policy.sharing_decision(attribute, TAG_SETS[tags]) == decision, (tags, attribute)
    assert policy.aggregate_k(TAG_SETS[tags]) == k
    assert sorted(policy.restricting_rules(TAG_SETS[tags])) == sorted(restricting)


def test_restricting_tags_are_data_with_a_meaning() -> None:
    rules = policy.restricting_rules(["公安", "医疗", "未成年人"])
    assert set(rules) == {"公安", "医疗", "未成年人"}
    assert all(rule.meaning and rule.approval for rule in rules.values())


def test_masking_rule() -> None:
    assert policy.field_masked(personal=True, sensitive=False, masked_kind="name", unmasked_by_grant=False)
    assert not policy.field_masked(personal=True, sensitive=False, masked_kind="name", unmasked_by_grant=True)
    assert policy.field_masked(
        personal=False, sensitive=True, masked_kind="location", unmasked_by_grant=False
    )
    assert not policy.field_masked(
        personal=False, sensitive=False, masked_kind="none", unmasked_by_grant=False
    )


def test_citizens_see_only_open_resources() -> None:
    staff = Principal(1, "d", Role.DISPATCHER)
    citizen = Principal(2, "c", Role.CITIZEN)
    assert str(policy.readable_catalog(staff)) == "true"
    assert "open_attribute" in str(policy.readable_catalog(citizen))


def test_catalog_read_filters_are_query_filters(session: Session) -> None:
    """Every filter compiles to SQL on both backends for every kind of principal."""
    principals = [Principal(1, r.value, r, department_id=d) for r in Role for d in (None, 7)]
    filters = [
        (CatalogResource.id, policy.readable_catalog),
        (ShareRequest.id, policy.readable_share_requests),
        (Grant.id, policy.readable_grants),
        (AccessLog.id, policy.readable_access_log),
        (QualityAlert.id, policy.readable_quality_alerts),
    ]
    for principal in principals:
        for column, readable in filters:
            assert session.scalars(select(column).where(readable(principal))).all() == []
    for area_filter in (
        policy.catalog_rows_in_area(7, area_ids=Area.id),
        policy.catalog_rows_in_area(7, area_codes=Area.code),
    ):
        assert session.scalars(select(Area.id).where(area_filter)).all() == []
