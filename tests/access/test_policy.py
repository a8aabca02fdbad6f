"""The access matrix: every role × every event action × the principal's relation to the event."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.access import policy
from cityhub.access.principal import Principal
from cityhub.kit.errors import Forbidden
from cityhub.models.area import AreaLevel
from cityhub.models.event import Channel, Event, EventStatus
from cityhub.models.org import Role

LEAD, CO, OTHER = 10, 11, 12
REPORTER = 99

# role → relation → the actions allowed
ALLOWED: dict[Role, set[str]] = {
    Role.ADMIN: {
        "dispatch",
        "decide_extension",
        "suspend",
        "resume",
        "supervise",
        "grade",
        "merge",
        "cancel",
        "rate",
        "reopen",
        "attach",
        "dismiss_duplicate",
    },
    Role.DISPATCHER: {
        "dispatch",
        "note",
        "decide_extension",
        "suspend",
        "resume",
        "grade",
        "merge",
        "cancel",
        "rate",
        "reopen",
        "attach",
        "dismiss_duplicate",
    },
    Role.SUPERVISOR: {"decide_extension", "suspend", "resume", "supervise", "reopen"},
    Role.GRID_WORKER: {"note", "attach"},
    Role.DATA_STEWARD: set(),
}
HANDLER_LEAD = {"accept", "start", "note", "resolve", "return", "request_extension", "attach"}
HANDLER_CO = {"accept", "note", "resolve", "attach"}
CITIZEN_REPORTER = {"rate", "reopen", "attach"}


def _event() -> Event:
    return Event(
        id=1,
        lead_department_id=LEAD,
        reporter_user_id=REPORTER,
        status=EventStatus.DISPATCHED,
        channel=Channel.APP,
    )


@pytest.mark.parametrize("action", sorted(policy.EVENT_ACTIONS))
@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        *[(Principal(1, r.value, r), allowed) for r, allowed in ALLOWED.items()],
        (Principal(2, "lead", Role.HANDLER, department_id=LEAD), HANDLER_LEAD),
        (Principal(3, "co", Role.HANDLER, department_id=CO), HANDLER_CO),
        (Principal(4, "other", Role.HANDLER, department_id=OTHER), set()),
        (Principal(REPORTER, "reporter", Role.CITIZEN), CITIZEN_REPORTER),
        (Principal(5, "stranger", Role.CITIZEN), set()),
    ],
    ids=lambda v: v.username if isinstance(v, Principal) else "",
)
def test_event_action_matrix(principal: Principal, expected: set[str], action: str) -> None:
    allowed = policy.may(principal, action, _event(), open_departments={LEAD, CO})
    assert allowed == (action in expected)
    if not allowed:
        with pytest.raises(Forbidden):
            policy.authorize_event(principal, action, _event(), {LEAD, CO})


@pytest.mark.parametrize("action", sorted(policy.GLOBAL_ACTIONS))
@pytest.mark.parametrize("role", list(Role))
def test_global_action_matrix(role: Role, action: str) -> None:
    expected = {
        "events.create": {
            Role.ADMIN,
            Role.DISPATCHER,
            Role.GRID_WORKER,
            Role.CITIZEN,
            Role.HANDLER,
            Role.SUPERVISOR,
        },
        "users.manage": {Role.ADMIN},
        "users.sessions": {Role.ADMIN},
        "departments.manage": {Role.ADMIN},
        "areas.manage": {Role.ADMIN},
        "categories.manage": {Role.ADMIN, Role.DATA_STEWARD},
        "routing.manage": {Role.ADMIN, Role.DISPATCHER},
        "sla.manage": {Role.ADMIN},
        "audit.read": {Role.ADMIN, Role.SUPERVISOR, Role.DATA_STEWARD},
        "reports.read": {Role.ADMIN, Role.DISPATCHER, Role.SUPERVISOR, Role.HANDLER},
        "review_queue.read": {Role.ADMIN, Role.DISPATCHER},
        "events.read_internals": {
            Role.ADMIN,
            Role.DISPATCHER,
            Role.HANDLER,
            Role.GRID_WORKER,
            Role.SUPERVISOR,
            Role.DATA_STEWARD,
        },
        "tokens.manage": {Role.ADMIN},
        "gazetteer.read": {
            Role.ADMIN,
            Role.DISPATCHER,
            Role.HANDLER,
            Role.GRID_WORKER,
            Role.SUPERVISOR,
            Role.DATA_STEWARD,
        },
        "gazetteer.manage": {Role.ADMIN, Role.DATA_STEWARD},
        "dispatch_models.read": {Role.ADMIN, Role.DISPATCHER, Role.SUPERVISOR, Role.DATA_STEWARD},
        "dispatch_models.manage": {Role.ADMIN},
        "hotspots.read": {Role.ADMIN, Role.DISPATCHER, Role.SUPERVISOR, Role.DATA_STEWARD},
        "hotspots.escalate": {Role.ADMIN, Role.SUPERVISOR},
        "indicators.read": {
            Role.ADMIN,
            Role.DISPATCHER,
            Role.HANDLER,
            Role.GRID_WORKER,
            Role.SUPERVISOR,
            Role.DATA_STEWARD,
        },
        "indicators.manage": {Role.ADMIN, Role.DATA_STEWARD},
        "alerts.read": {Role.ADMIN, Role.DISPATCHER, Role.HANDLER, Role.GRID_WORKER, Role.SUPERVISOR},
        "alerts.handle": {Role.ADMIN, Role.DISPATCHER, Role.HANDLER, Role.GRID_WORKER},
        "alert_subjects.manage": {Role.ADMIN, Role.GRID_WORKER},
        "rules.read": {Role.ADMIN, Role.DISPATCHER, Role.SUPERVISOR},
        "rules.manage": {Role.ADMIN, Role.DISPATCHER},
        "entities.read": {
            Role.ADMIN,
            Role.DISPATCHER,
            Role.HANDLER,
            Role.GRID_WORKER,
            Role.SUPERVISOR,
            Role.DATA_STEWARD,
        },
        "entities.manage": {Role.ADMIN, Role.DATA_STEWARD},
        "entities.manage_personal": {Role.ADMIN, Role.GRID_WORKER},
        "telemetry.ingest": {Role.ADMIN, Role.GATEWAY},
        "metrics.read": {Role.ADMIN, Role.MONITOR},
        "telemetry.read": {
            Role.ADMIN,
            Role.DISPATCHER,
            Role.HANDLER,
            Role.GRID_WORKER,
            Role.SUPERVISOR,
            Role.DATA_STEWARD,
        },
        "telemetry.dead_letters": {Role.ADMIN, Role.DATA_STEWARD},
    }[action]
    principal = Principal(1, "u", role)
    if role in expected:
        policy.authorize(principal, action)
    else:
        with pytest.raises(Forbidden):
            policy.authorize(principal, action)


def test_reporter_details_only_for_roles_that_call_back() -> None:
    event = _event()
    assert policy.sees_reporter(Principal(1, "d", Role.DISPATCHER), event)
    assert policy.sees_reporter(Principal(2, "lead", Role.HANDLER, department_id=LEAD), event)
    assert not policy.sees_reporter(Principal(3, "co", Role.HANDLER, department_id=CO), event)
    for role in (Role.SUPERVISOR, Role.GRID_WORKER, Role.DATA_STEWARD, Role.CITIZEN):
        assert not policy.sees_reporter(Principal(4, "x", role), event)


def test_read_filter_is_a_query_filter(session: Session) -> None:
    """The filter compiles to SQL on both backends for every kind of principal."""
    principals = [
        Principal(1, "a", Role.ADMIN),
        Principal(2, "d", Role.DISPATCHER, area_id=5, area_level=AreaLevel.DISTRICT),
        Principal(3, "h", Role.HANDLER, department_id=7),
        Principal(4, "g", Role.GRID_WORKER, area_id=9, area_level=AreaLevel.GRID),
        Principal(5, "c", Role.CITIZEN),
        Principal(None, "anon", Role.CITIZEN),
    ]
    for principal in principals:
        assert session.scalars(select(Event.id).where(policy.readable_events(principal))).all() == []


def test_alert_read_filter_and_who_sees_a_registered_person(session: Session) -> None:
    """Alerts: operation centres see their area, handlers their department's, grid workers their community;
    a registered person's identity only for a grid worker of the same community."""
    from cityhub.models.alert import Alert

    principals = [
        Principal(1, "a", Role.ADMIN),
        Principal(2, "d", Role.DISPATCHER, area_id=5, area_level=AreaLevel.DISTRICT),
        Principal(3, "h", Role.HANDLER, department_id=7),
        Principal(4, "g", Role.GRID_WORKER, area_id=9, area_level=AreaLevel.GRID),
        Principal(5, "ds", Role.DATA_STEWARD),
        Principal(6, "c", Role.CITIZEN),
    ]
    for principal in principals:
        assert session.scalars(select(Alert.id).where(policy.readable_alerts(principal))).all() == []
    worker = Principal(4, "g", Role.GRID_WORKER, area_id=9, area_level=AreaLevel.GRID)
    assert policy.sees_alert_subject(worker, subject_community_id=3, principal_community_id=3)
    assert not policy.sees_alert_subject(worker, subject_community_id=3, principal_community_id=4)
    for role in (Role.ADMIN, Role.DISPATCHER, Role.SUPERVISOR, Role.HANDLER):
        assert not policy.sees_alert_subject(Principal(1, "x", role), 3, 3)


def test_entity_read_filter_keeps_registered_people_to_those_who_look_after_them(session: Session) -> None:
    """Registered people (personal entity types) are listed only for admins and, within their area,
    dispatchers, supervisors and grid workers; unmasked only for the grid workers of their community."""
    from cityhub.models.entity import Entity

    for principal in [
        Principal(1, "a", Role.ADMIN),
        Principal(2, "d", Role.DISPATCHER, area_id=5, area_level=AreaLevel.DISTRICT),
        Principal(3, "h", Role.HANDLER, department_id=7),
        Principal(4, "g", Role.GRID_WORKER, area_id=9, area_level=AreaLevel.GRID),
        Principal(5, "ds", Role.DATA_STEWARD),
        Principal(6, "c", Role.CITIZEN),
        Principal(7, "gw", Role.GATEWAY),
    ]:
        assert session.scalars(select(Entity.id).where(policy.readable_entities(principal))).all() == []
    worker = Principal(4, "g", Role.GRID_WORKER, area_id=9, area_level=AreaLevel.GRID)
    assert policy.sees_personal_entity(worker, entity_community_id=3, principal_community_id=3)
    assert not policy.sees_personal_entity(worker, entity_community_id=3, principal_community_id=4)
    assert not policy.sees_personal_entity(Principal(1, "a", Role.ADMIN), 3, None)
