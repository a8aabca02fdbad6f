"""Alerts (预警): lists, details, acknowledge, clear; registered people whose alerts carry their identity,
masked and revealed on purpose."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status

from cityhub.access import policy
from cityhub.access.deps import PrincipalDep, SessionDep
from cityhub.access.reveal import RevealIn
from cityhub.alerts import service, subjects, views
from cityhub.alerts.schemas import AlertNoteIn, AlertOut, AlertPage, SubjectIn, SubjectOut
from cityhub.geo import service as geo
from cityhub.kit.timeutil import LocalInstant
from cityhub.models.alert import AlertSource, AlertStatus
from cityhub.models.indicator import WarningLevel
from cityhub.org.service import principal_community

router = APIRouter(tags=["alerts"])

AlertId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the alert's id")]
REVEAL_REFUSALS: dict[int | str, dict[str, Any]] = {
    403: {"description": "only the grid workers of the person's community may see who they are"},
    404: {"description": "no such alert for this reader"},
    422: {"description": "no purpose (2 to 200 characters), or the alert is about no registered person"},
}


@router.get("/alerts", response_model=AlertPage)
def list_alerts(
    principal: PrincipalDep,
    session: SessionDep,
    status_: Annotated[list[AlertStatus] | None, Query(alias="status")] = None,
    level: WarningLevel | None = None,
    min_level: WarningLevel | None = None,
    source_kind: AlertSource | None = None,
    type: Annotated[
        str | None, Query(max_length=80, description="exact type, or a prefix ending in *")
    ] = None,
    area: Annotated[str | None, Query(max_length=20, description="an area code")] = None,
    device: Annotated[str | None, Query(max_length=60)] = None,
    since: LocalInstant | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AlertPage:
    """Alerts this principal may see, most recently seen first (default: the open ones)."""
    policy.authorize(principal, "alerts.read")
    f = service.AlertFilter(
        status=status_ or [AlertStatus.ACTIVE, AlertStatus.ACKNOWLEDGED],
        level=level,
        min_level=min_level,
        source_kind=source_kind,
        type=type,
        area_id=geo.get_area(session, area).id if area else None,
        device=device,
        since=since,
    )
    rows, total = service.search(session, principal, f, limit=limit, offset=offset)
    return AlertPage(items=views.page(session, principal, rows), total=total, limit=limit, offset=offset)


@router.get("/alerts/{alert_id}", response_model=AlertOut)
def get_alert(alert_id: AlertId, principal: PrincipalDep, session: SessionDep) -> AlertOut:
    """One alert with its evidence (the readings that caused it) and its timeline. A registered person it is
    about is masked; `subject.can_reveal` says whether this reader may see who it is (`POST …/subject`)."""
    policy.authorize(principal, "alerts.read")
    alert = service.get(session, principal, alert_id)
    return views.page(session, principal, [alert], detail=True)[0]


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut)
def acknowledge_alert(
    alert_id: AlertId, principal: PrincipalDep, session: SessionDep, body: AlertNoteIn | None = None
) -> AlertOut:
    """确认: seen and being handled; escalation stops (a worse level reactivates the alert)."""
    alert = service.acknowledge(session, principal, alert_id, body.note if body else None)
    return views.page(session, principal, [alert], detail=True)[0]


@router.post("/alerts/{alert_id}/clear", response_model=AlertOut)
def clear_alert(
    alert_id: AlertId, principal: PrincipalDep, session: SessionDep, body: AlertNoteIn | None = None
) -> AlertOut:
    """解除: the situation is over or was a false alarm; the next trigger opens a new alert."""
    alert = service.clear(session, principal, alert_id, body.note if body else None)
    return views.page(session, principal, [alert], detail=True)[0]


@router.post("/alert-subjects", response_model=SubjectOut, status_code=status.HTTP_201_CREATED)
def register_subject(body: SubjectIn, principal: PrincipalDep, session: SessionDep) -> SubjectOut:
    """Register a person whose meters are watched (独居老人), with their consent; a grid worker registers
    people of their own community. The answer shows them masked, as every view does."""
    subject = subjects.register(session, principal, body)
    return views.subject_view(principal, subject, principal_community(session, principal))


@router.post("/alerts/{alert_id}/subject", response_model=SubjectOut, responses=REVEAL_REFUSALS)
def reveal_subject(
    alert_id: AlertId, body: RevealIn, principal: PrincipalDep, session: SessionDep
) -> SubjectOut:
    """Who the alert is about, unmasked, for a grid worker of the person's community, who says why (e.g.
    上门探视). The read and its purpose are audited."""
    return views.revealed_subject(subjects.reveal(session, principal, alert_id, body.purpose))
