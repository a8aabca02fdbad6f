"""The alert rules: raise (or repeat) from any source, acknowledge, clear, escalate; reads through the policy.

One alert is open per (source, type): a repeat updates its count, last-seen time, latest value and
evidence (the readings that caused it), and can raise its level — an acknowledged alert whose level rises
is active again. Alerts that nobody acknowledges escalate along their steps (``details.escalation``):
each step tells someone more (``notify``) and may raise the level. Functions flush, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from cityhub.access import policy
from cityhub.access.principal import SYSTEM, Principal
from cityhub.audit.hooks import bind_principal
from cityhub.kit.bus import publish_after_commit
from cityhub.kit.errors import Conflict, NotFound
from cityhub.kit.timeutil import clock
from cityhub.models.alert import OPEN_STATUSES, Alert, AlertSource, AlertStatus
from cityhub.models.area import AreaLevel
from cityhub.models.indicator import WarningLevel

EVIDENCE_FIRST = 5  # the readings of the first trigger are kept…
EVIDENCE_LAST = 15  # …and the latest repeats
TIMELINE_MAX = 50


@dataclass
class Trigger:
    """What raises or repeats an alert; ``evidence`` are the readings that caused it."""

    source_kind: AlertSource
    source: str
    type: str
    title: str
    level: WarningLevel
    value: float | None = None
    device: str | None = None
    metric: str | None = None
    evidence: list[dict[str, Any]] = field(default_factory=list)
    areas: dict[AreaLevel, int] = field(default_factory=dict)
    area_id: int | None = None
    indicator_id: int | None = None
    rule_id: int | None = None
    subject_id: int | None = None
    department_id: int | None = None
    notify: list[str] = field(default_factory=list)
    escalation: list[dict[str, Any]] = field(default_factory=list)
    auto_clear: bool = True
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Raised:
    alert: Alert
    new: bool
    level_raised: bool


def find_open(session: Session, source: str, type_: str) -> Alert | None:
    return session.scalar(
        select(Alert).where(Alert.source == source, Alert.type == type_, Alert.status.in_(OPEN_STATUSES))
    )


def raise_alert(session: Session, trigger: Trigger) -> Raised:
    """Open an alert, or repeat the open one of the same (source, type)."""
    existing = find_open(session, trigger.source, trigger.type)
    if existing is None:
        return Raised(_open(session, trigger), new=True, level_raised=False)
    return Raised(existing, new=False, level_raised=_repeat(session, existing, trigger))


def _open(session: Session, trigger: Trigger) -> Alert:
    now = clock.now()
    areas = trigger.areas
    alert = Alert(
        type=trigger.type,
        source_kind=trigger.source_kind,
        source=trigger.source,
        title=trigger.title[:200],
        level=trigger.level,
        status=AlertStatus.ACTIVE,
        indicator_id=trigger.indicator_id,
        rule_id=trigger.rule_id,
        device=trigger.device,
        metric=trigger.metric,
        subject_id=trigger.subject_id,
        area_id=trigger.area_id or _finest(areas),
        district_id=areas.get(AreaLevel.DISTRICT),
        street_id=areas.get(AreaLevel.STREET),
        community_id=areas.get(AreaLevel.COMMUNITY),
        grid_id=areas.get(AreaLevel.GRID),
        department_id=trigger.department_id,
        value=trigger.value,
        count=1,
        first_seen=now,
        last_seen=now,
        created_at=now,
        updated_at=now,
        escalation_step=0,
        notify=list(trigger.notify),
        evidence=list(trigger.evidence[: EVIDENCE_FIRST + EVIDENCE_LAST]),
        details={**trigger.details, "escalation": trigger.escalation, "auto_clear": trigger.auto_clear},
        timeline=[_entry("raise", SYSTEM, trigger.level)],
    )
    _schedule(alert, now)
    session.add(alert)
    session.flush()
    publish_after_commit(session, "alerts.raised", _payload(alert))
    return alert


def _finest(areas: dict[AreaLevel, int]) -> int | None:
    for level in (AreaLevel.GRID, AreaLevel.COMMUNITY, AreaLevel.STREET, AreaLevel.DISTRICT, AreaLevel.CITY):
        if level in areas:
            return areas[level]
    return None


def _repeat(session: Session, alert: Alert, trigger: Trigger) -> bool:
    now = clock.now()
    alert.count += 1
    alert.last_seen = now
    alert.updated_at = now
    alert.value = trigger.value
    if trigger.evidence:
        alert.evidence = _keep_evidence([*alert.evidence, *trigger.evidence])
    if trigger.level.rank <= alert.level.rank:
        return False
    before = alert.level
    alert.level = trigger.level
    alert.title = trigger.title[:200]
    note = f"{before.label} → {trigger.level.label}"
    if alert.status is AlertStatus.ACKNOWLEDGED:
        # Acknowledged at a lower level: the worse situation needs a new acknowledgement.
        alert.status = AlertStatus.ACTIVE
        alert.acknowledged_at = alert.acknowledged_by_id = None
        _schedule(alert, now)
        note += " (reactivated)"
    _log(alert, "raise_level", SYSTEM, note)
    session.flush()
    publish_after_commit(session, "alerts.raised", _payload(alert))
    return True


def _keep_evidence(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(items) <= EVIDENCE_FIRST + EVIDENCE_LAST:
        return items
    return items[:EVIDENCE_FIRST] + items[-EVIDENCE_LAST:]


def _entry(
    action: str, principal: Principal, level: WarningLevel | None = None, note: str | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"at": clock.now().isoformat(), "action": action, "actor": principal.username}
    if level is not None:
        entry["level"] = level.value
    if note:
        entry["note"] = note
    return entry


def _log(alert: Alert, action: str, principal: Principal, note: str | None = None) -> None:
    alert.timeline = [*alert.timeline, _entry(action, principal, alert.level, note)][-TIMELINE_MAX:]


def _steps(alert: Alert) -> list[dict[str, Any]]:
    steps = alert.details.get("escalation") or []
    return [s for s in steps if isinstance(s, dict)]


def _schedule(alert: Alert, base: datetime) -> None:
    """When the next escalation step is due: step delays count from the first trigger, so the gap after
    ``base`` (the previous step, or now) is the difference between consecutive delays."""
    steps = _steps(alert)
    step = alert.escalation_step
    if step >= len(steps):
        alert.next_escalation_at = None
        return
    previous = float(steps[step - 1]["after_s"]) if step > 0 else 0.0
    alert.next_escalation_at = base + timedelta(seconds=float(steps[step]["after_s"]) - previous)


def _payload(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "type": alert.type,
        "source": alert.source,
        "source_kind": alert.source_kind.value,
        "level": alert.level.value,
        "status": alert.status.value,
        "area_id": alert.area_id,
        "district_id": alert.district_id,
        "notify": list(alert.notify),
    }


def clear_open(session: Session, source: str, type_: str, reason: str) -> Alert | None:
    """The condition is gone: clear the open alert of (source, type), if it clears on its own."""
    alert = find_open(session, source, type_)
    if alert is None or not alert.details.get("auto_clear", True):
        return None
    _clear(session, alert, SYSTEM, reason)
    return alert


def _clear(session: Session, alert: Alert, principal: Principal, reason: str | None) -> None:
    now = clock.now()
    alert.status = AlertStatus.CLEARED
    alert.cleared_at = now
    alert.cleared_by_id = principal.user_id
    alert.clear_reason = reason[:500] if reason else None
    alert.next_escalation_at = None
    alert.updated_at = now
    _log(alert, "clear", principal, reason)
    session.flush()
    publish_after_commit(session, "alerts.cleared", _payload(alert))


# ---------------------------------------------------------------- people acting on alerts


def readable(principal: Principal) -> ColumnElement[bool]:
    return policy.readable_alerts(principal)


def get(session: Session, principal: Principal, alert_id: int) -> Alert:
    alert = session.scalar(select(Alert).where(Alert.id == alert_id, readable(principal)))
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    return alert


@dataclass(frozen=True)
class AlertFilter:
    status: list[AlertStatus] | None = None
    level: WarningLevel | None = None
    min_level: WarningLevel | None = None
    source_kind: AlertSource | None = None
    type: str | None = None
    area_id: int | None = None
    device: str | None = None
    since: datetime | None = None


def _where(f: AlertFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if f.status:
        clauses.append(Alert.status.in_(f.status))
    if f.level is not None:
        clauses.append(Alert.level == f.level)
    if f.min_level is not None:
        clauses.append(Alert.level.in_([lv for lv in WarningLevel if lv.rank >= f.min_level.rank]))
    if f.source_kind is not None:
        clauses.append(Alert.source_kind == f.source_kind)
    if f.type:
        clauses.append(Alert.type.startswith(f.type[:-1]) if f.type.endswith("*") else Alert.type == f.type)
    if f.area_id is not None:
        a = f.area_id
        clauses.append(
            (Alert.district_id == a)
            | (Alert.street_id == a)
            | (Alert.community_id == a)
            | (Alert.grid_id == a)
            | (Alert.area_id == a)
        )
    if f.device:
        clauses.append(Alert.device == f.device)
    if f.since is not None:
        clauses.append(Alert.last_seen >= f.since)
    return clauses


def search(
    session: Session, principal: Principal, f: AlertFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[Alert], int]:
    where = [readable(principal), *_where(f)]
    total = session.scalar(select(func.count(Alert.id)).where(*where)) or 0
    rows = session.scalars(
        select(Alert)
        .where(*where)
        .order_by(Alert.last_seen.desc(), Alert.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), int(total)


def acknowledge(session: Session, principal: Principal, alert_id: int, note: str | None = None) -> Alert:
    """确认: someone responsible has seen the alert; escalation stops."""
    bind_principal(session, principal)
    policy.authorize(principal, "alerts.handle")
    alert = get(session, principal, alert_id)
    if alert.status is not AlertStatus.ACTIVE:
        raise Conflict(f"alert {alert_id} is {alert.status.value}; only an active alert can be acknowledged")
    now = clock.now()
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_at = now
    alert.acknowledged_by_id = principal.user_id
    alert.next_escalation_at = None
    alert.updated_at = now
    _log(alert, "acknowledge", principal, note)
    session.flush()
    publish_after_commit(session, "alerts.acknowledged", _payload(alert))
    return alert


def clear(session: Session, principal: Principal, alert_id: int, note: str | None = None) -> Alert:
    """解除: the situation is over (or was a false alarm); a new trigger opens a new alert."""
    bind_principal(session, principal)
    policy.authorize(principal, "alerts.handle")
    alert = get(session, principal, alert_id)
    if alert.status is AlertStatus.CLEARED:
        raise Conflict(f"alert {alert_id} is already cleared")
    _clear(session, alert, principal, note)
    return alert


def escalate_due(session: Session, now: datetime | None = None) -> int:
    """Escalate every active alert whose next step is due; returns how many steps were taken."""
    now = now or clock.now()
    bind_principal(session, SYSTEM)
    due = session.scalars(
        select(Alert)
        .where(Alert.status == AlertStatus.ACTIVE, Alert.next_escalation_at.is_not(None))
        .where(Alert.next_escalation_at <= now)
        .order_by(Alert.next_escalation_at)
        .limit(500)
    ).all()
    taken = 0
    for alert in due:
        while alert.next_escalation_at is not None and alert.next_escalation_at <= now:
            _escalate(session, alert, alert.next_escalation_at)
            taken += 1
    session.flush()
    return taken


def _escalate(session: Session, alert: Alert, at: datetime) -> None:
    steps = _steps(alert)
    step = steps[alert.escalation_step]
    target = str(step.get("notify", "district"))
    if target not in alert.notify:
        alert.notify = [*alert.notify, target]
    raise_to = step.get("raise_to")
    if raise_to and WarningLevel(raise_to).rank > alert.level.rank:
        alert.level = WarningLevel(raise_to)
    alert.escalation_step += 1
    alert.escalated_at = at
    alert.updated_at = clock.now()
    _log(alert, "escalate", SYSTEM, f"step {alert.escalation_step}: notify {target}")
    _schedule(alert, at)
    publish_after_commit(session, "alerts.escalated", {**_payload(alert), "step": alert.escalation_step})


def link_event(session: Session, alert: Alert, event_id: int, number: str) -> None:
    """The alert became (part of) an event: show it on the alert."""
    alert.event_id = event_id
    _log(alert, "event", SYSTEM, f"event {number}")
    session.flush()
