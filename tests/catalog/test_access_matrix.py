"""The catalog's access matrix: every role × resource (by grade and sharing attribute) × action × the
principal's department relation, and the attribute rules that decide what a grant may deliver."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.access import policy
from cityhub.access.principal import Principal
from cityhub.kit.errors import Forbidden
from cityhub.models.catalog import (
    AccessLog,
    AccessMode,
    CatalogResource,
    DataGrade,
    Grant,
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
    """Roles × grades × sharing attributes × relations for one action: allowed exactly as the table says."""
    for grade, sharing, (relation, dept) in itertools.product(DataGrade, SharingAttribute, RELATIONS.items()):
        principal = Principal(1, "u", role, department_id=dept)
        expected = relation in EXPECTED[action].get(role, set())
        if action == "catalog.decide" and grade is DataGrade.CORE:
            expected = expected and role in CORE_DECIDERS
        kwargs = {"owner_department_id": OWNER, "requester_department_id": REQUESTER, "grade": grade}
        allowed = policy.catalog_may(principal, action, **kwargs)
        assert allowed == expected, (role, action, grade, sharing, relation)
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
