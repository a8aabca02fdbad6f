"""How an alert is shown to a principal: lookups in bulk (no N+1); a registered person's identity always
masked, with whether this reader may reveal it (``subjects.reveal``: on purpose, audited)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.access import policy
from cityhub.access.masking import mask_name, mask_phone
from cityhub.access.principal import Principal
from cityhub.alerts.schemas import AlertOut, SubjectOut
from cityhub.events.schemas import AreaRef, DepartmentRef
from cityhub.models.alert import Alert, AlertSubject, LinkageRule
from cityhub.models.area import Area
from cityhub.models.event import Event
from cityhub.models.indicator import Indicator
from cityhub.models.org import Department
from cityhub.org.service import principal_community


def _pairs(rows: Iterable[Any]) -> dict[int, str]:
    return {key: value for key, value in rows}


class _Lookups:
    def __init__(self, session: Session, alerts: Sequence[Alert]) -> None:
        area_ids = {
            x
            for a in alerts
            for x in (a.district_id, a.street_id, a.community_id, a.grid_id)
            if x is not None
        }
        self.areas = {a.id: a for a in session.scalars(select(Area).where(Area.id.in_(area_ids)))}
        dept_ids = {a.department_id for a in alerts if a.department_id is not None}
        self.departments = {
            d.id: d for d in session.scalars(select(Department).where(Department.id.in_(dept_ids)))
        }
        ind_ids = {a.indicator_id for a in alerts if a.indicator_id is not None}
        self.indicators = _pairs(
            session.execute(select(Indicator.id, Indicator.key).where(Indicator.id.in_(ind_ids)))
        )
        rule_ids = {a.rule_id for a in alerts if a.rule_id is not None}
        self.rules = _pairs(
            session.execute(select(LinkageRule.id, LinkageRule.key).where(LinkageRule.id.in_(rule_ids)))
        )
        event_ids = {a.event_id for a in alerts if a.event_id is not None}
        self.events = _pairs(session.execute(select(Event.id, Event.number).where(Event.id.in_(event_ids))))
        subject_ids = {a.subject_id for a in alerts if a.subject_id is not None}
        self.subjects = {
            s.id: s for s in session.scalars(select(AlertSubject).where(AlertSubject.id.in_(subject_ids)))
        }

    def areas_of(self, alert: Alert) -> dict[str, AreaRef]:
        out: dict[str, AreaRef] = {}
        for level, area_id in (
            ("district", alert.district_id),
            ("street", alert.street_id),
            ("community", alert.community_id),
            ("grid", alert.grid_id),
        ):
            area = self.areas.get(area_id) if area_id is not None else None
            if area is not None:
                out[level] = AreaRef(id=area.id, code=area.code, name=area.name)
        return out

    def department(self, dept_id: int | None) -> DepartmentRef | None:
        d = self.departments.get(dept_id) if dept_id is not None else None
        return DepartmentRef(id=d.id, code=d.code, name=d.name) if d else None


def subject_view(principal: Principal, subject: AlertSubject, community: int | None) -> SubjectOut:
    """The person masked, as every view shows them, and whether ``principal`` (looking after ``community``)
    may reveal who it is — so that a client offers it only to them."""
    return SubjectOut(
        id=subject.id,
        kind=subject.kind,
        name=mask_name(subject.name),
        phone=mask_phone(subject.phone),
        address=None,
        masked=True,
        can_reveal=policy.sees_alert_subject(principal, subject.community_id, community),
    )


def revealed_subject(subject: AlertSubject) -> SubjectOut:
    """Who the person is: only the answer to ``subjects.reveal``, which checked the policy and audited the
    read with its purpose."""
    return SubjectOut(
        id=subject.id,
        kind=subject.kind,
        name=subject.name,
        phone=subject.phone,
        address=subject.address,
        masked=False,
        can_reveal=True,
    )


def page(
    session: Session, principal: Principal, alerts: Sequence[Alert], *, detail: bool = False
) -> list[AlertOut]:
    lk = _Lookups(session, alerts)
    community = principal_community(session, principal) if lk.subjects else None
    return [_one(principal, alert, lk, community, detail=detail) for alert in alerts]


def _one(
    principal: Principal, alert: Alert, lk: _Lookups, community: int | None, *, detail: bool
) -> AlertOut:
    subject = lk.subjects.get(alert.subject_id) if alert.subject_id is not None else None
    number = lk.events.get(alert.event_id) if alert.event_id is not None else None
    # About a registered person, the value and the evidence are readings of their meter: for those who may
    # see who the person is (the grid workers of their community), as the readings themselves are.
    readings = subject is None or policy.sees_alert_subject(principal, subject.community_id, community)
    return AlertOut(
        id=alert.id,
        type=alert.type,
        source_kind=alert.source_kind.value,
        source=alert.source,
        title=alert.title,
        level=alert.level.value,
        level_label=alert.level.label,
        colour=alert.level.colour,
        status=alert.status.value,
        status_label=alert.status.label,
        value=alert.value if readings else None,
        count=alert.count,
        first_seen=alert.first_seen,
        last_seen=alert.last_seen,
        device=alert.device,
        metric=alert.metric,
        indicator=lk.indicators.get(alert.indicator_id) if alert.indicator_id is not None else None,
        rule=lk.rules.get(alert.rule_id) if alert.rule_id is not None else None,
        areas=lk.areas_of(alert),
        department=lk.department(alert.department_id),
        event={"id": alert.event_id, "number": number} if alert.event_id is not None else None,
        subject=subject_view(principal, subject, community) if subject else None,
        notify=list(alert.notify),
        escalation_step=alert.escalation_step,
        next_escalation_at=alert.next_escalation_at,
        acknowledged_at=alert.acknowledged_at,
        cleared_at=alert.cleared_at,
        clear_reason=alert.clear_reason,
        evidence=list(alert.evidence) if readings else [],
        timeline=list(alert.timeline) if detail else None,
    )
