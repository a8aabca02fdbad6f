"""Registered people whose alerts carry their identity (独居老人, with consent), their meters, and showing who
they are to those who visit them, on purpose (最小必要)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.access import policy
from cityhub.access.principal import Principal
from cityhub.access.reveal import revealed
from cityhub.alerts import service
from cityhub.alerts.schemas import SubjectIn
from cityhub.audit.hooks import bind_principal
from cityhub.geo import service as geo
from cityhub.kit.bus import publish_after_commit
from cityhub.kit.errors import Conflict, Forbidden, Unprocessable
from cityhub.kit.timeutil import clock
from cityhub.models.alert import AlertSubject
from cityhub.models.area import AreaLevel
from cityhub.models.org import Role
from cityhub.org.service import principal_community

# How far ahead of the hub's clock a consent time may be: the clock of the phone it was taken on.
CLOCK_SKEW = timedelta(minutes=5)
# What a reveal shows of the person, and so what its audit row names.
PERSONAL_FIELDS = ("name", "phone", "address")


@dataclass(frozen=True)
class SubjectRef:
    id: int
    area_id: int | None


def register(session: Session, principal: Principal, data: SubjectIn) -> AlertSubject:
    """Register a person (with their consent) living in a grid or community; a grid worker registers people
    of their own community only."""
    bind_principal(session, principal)
    policy.authorize(principal, "alert_subjects.manage")
    area = geo.get_area(session, data.area)
    if area.level not in (AreaLevel.GRID, AreaLevel.COMMUNITY):
        raise Unprocessable(f"{data.area} is a {area.level.value}; give the person's grid or community")
    community_id = area.parent_id if area.level is AreaLevel.GRID else area.id
    if principal.role is Role.GRID_WORKER and community_id != principal_community(session, principal):
        raise Forbidden("a grid worker registers people of their own community only")
    now = clock.now()
    if data.consent_at > now + CLOCK_SKEW:
        raise Unprocessable(
            f"consent_at {data.consent_at.isoformat()} is in the future: register a consent given"
        )
    # The same person registered twice would hold their personal data twice and split their alerts.
    already = session.scalar(
        select(AlertSubject.id).where(
            AlertSubject.active.is_(True),
            AlertSubject.community_id == community_id,
            AlertSubject.name == data.name,
            AlertSubject.phone.is_(None) if data.phone is None else AlertSubject.phone == data.phone,
        )
    )
    if already is not None:
        raise Conflict(f"this person is already registered in the community (subject {already})")
    subject = AlertSubject(
        kind=data.kind,
        name=data.name,
        phone=data.phone,
        address=data.address,
        area_id=area.id,
        community_id=community_id,
        devices=list(dict.fromkeys(data.devices)),
        consent_at=data.consent_at,
        active=True,
        created_at=now,
    )
    session.add(subject)
    session.flush()
    # The stream learns whose meters these are on its next reload.
    publish_after_commit(session, "indicators.changed", {"subject": subject.id})
    return subject


def by_device(session: Session) -> dict[str, SubjectRef]:
    """Meter city code → the active registered person it belongs to."""
    out: dict[str, SubjectRef] = {}
    for subject in session.scalars(select(AlertSubject).where(AlertSubject.active.is_(True))):
        for device in subject.devices or ():
            out[str(device)] = SubjectRef(subject.id, subject.area_id)
    return out


def reveal(session: Session, principal: Principal, alert_id: int, purpose: str) -> AlertSubject:
    """Who an alert is about, for a grid worker of the person's community, who says why: the read and its
    purpose go to the audit log. An alert the principal may not read is 404, as when reading it."""
    policy.authorize(principal, "alerts.read")
    alert = service.get(session, principal, alert_id)
    subject = session.get(AlertSubject, alert.subject_id) if alert.subject_id is not None else None
    if subject is None:
        raise Unprocessable(f"alert {alert_id} is not about a registered person: there is nobody to show")
    if not policy.sees_alert_subject(
        principal, subject.community_id, principal_community(session, principal)
    ):
        raise Forbidden(
            f"a {principal.role.label} ({principal.role}) may not see who this person is: only the grid "
            "workers of their community may (they are the ones who visit); ask them"
        )
    revealed(session, principal, "alert_subjects", str(subject.id), PERSONAL_FIELDS, purpose)
    return subject
