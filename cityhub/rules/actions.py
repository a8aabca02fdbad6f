"""What a linkage rule does: raise an alert, create an event through the event service, call webhooks.

Events go through ``events.service.create`` and ``dispatch`` acting as the system, so the category, the
SLA deadlines, the assignments of the lead and co-handling departments and the audit log are exactly
those of any event. Each action's outcome is recorded on the firing; a failing action is recorded,
never raised.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.orm import Session

from cityhub.access.principal import SYSTEM
from cityhub.events import service as events
from cityhub.events.schemas import EventIn, LocationIn
from cityhub.indicators.areas import AreaInfo
from cityhub.kit.errors import CityHubError, Unprocessable
from cityhub.models.event import Channel, Event
from cityhub.rules.spec import RuleEvent, RuleWebhook

log = logging.getLogger(__name__)

# Never dispatched on a suggestion: the rule names its departments (or asks the routing table itself).
NO_AUTO_DISPATCH = events.DispatchPolicy(review_threshold=math.inf)


@dataclass(frozen=True)
class Place:
    """Where a rule holds: the area (its centre locates the event) and its full name."""

    area: AreaInfo | None
    name: str


def fill(template: str, fields: dict[str, str]) -> str:
    try:
        return template.format(**fields)
    except (KeyError, IndexError, ValueError):
        return template


def create_event(
    session: Session,
    spec: RuleEvent,
    place: Place,
    fields: dict[str, str],
    description: str,
    departments: dict[str, int],
) -> tuple[Event, dict[str, Any]]:
    """Create the event (受理), then dispatch it to the rule's departments; an event that cannot be
    dispatched stays in the review queue and the failure is reported."""
    lead, co = _departments(spec, departments)
    location = None
    if place.area is not None and place.area.center is not None:
        location = LocationIn(lon=place.area.center[0], lat=place.area.center[1])
    data = EventIn(
        title=fill(spec.title, fields)[:200],
        description="\n".join(p for p in (fill(spec.description, fields), description) if p)[:5000],
        channel=Channel.SENSOR,
        category=spec.category,
        urgency=spec.urgency,
        grade=spec.grade,
        location=location,
        address=place.name[:300] or None,
    )
    with session.begin_nested():
        event = events.create(session, SYSTEM, data, NO_AUTO_DISPATCH)
    outcome: dict[str, Any] = {"action": "event", "ok": True, "event_id": event.id, "number": event.number}
    try:
        with session.begin_nested():
            events.dispatch(
                session,
                SYSTEM,
                event.id,
                NO_AUTO_DISPATCH,
                department_id=lead,
                co_department_ids=co,
                note="协同联动规则派单 (linkage rule)",
            )
        outcome["lead"] = spec.lead
        outcome["co"] = list(spec.co)
    except CityHubError as exc:
        session.refresh(event)
        outcome.update(ok=False, error=f"not dispatched: {exc.message}")
    return event, outcome


def _departments(spec: RuleEvent, departments: dict[str, int]) -> tuple[int | None, list[int]]:
    missing = [code for code in (spec.lead, *spec.co) if code and code not in departments]
    if missing:
        raise Unprocessable(f"unknown department code(s): {', '.join(missing)}")
    lead = departments[spec.lead] if spec.lead else None
    return lead, [departments[code] for code in spec.co]


def call_webhook(
    hook: RuleWebhook, payload: dict[str, Any], client: httpx.Client | None = None
) -> dict[str, Any]:
    """POST the payload; the outcome (status or error) is returned, never raised."""
    result: dict[str, Any] = {"action": "webhook", "url": hook.url}
    try:
        if client is not None:
            response = client.post(hook.url, json=payload, headers=hook.headers, timeout=hook.timeout_s)
        else:
            response = httpx.post(hook.url, json=payload, headers=hook.headers, timeout=hook.timeout_s)
        result.update(ok=response.is_success, status=response.status_code)
    except httpx.HTTPError as exc:
        result.update(ok=False, error=f"{type(exc).__name__}: {exc}"[:300])
    except Exception as exc:  # a webhook must never take the stream down
        log.exception("webhook %s failed", hook.url)
        result.update(ok=False, error=f"{type(exc).__name__}: {exc}"[:300])
    return result
