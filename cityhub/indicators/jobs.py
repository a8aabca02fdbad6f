"""Scheduled work of the sensing domain: the stream's tick (windows slide to the clock, silent devices,
indicators over events) and the escalation of unacknowledged alerts."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cityhub.alerts import service as alerts
from cityhub.indicators.stream import TICK
from cityhub.kit.bus import publish_after_commit
from cityhub.kit.settings import Settings
from cityhub.kit.timeutil import clock
from cityhub.scheduler import Job


def tick(session: Session) -> None:
    """Ask the running stream to evaluate on the hub's clock (after this job's commit)."""
    publish_after_commit(session, TICK, {"at": clock.now().isoformat()})


def escalate(session: Session) -> int:
    return alerts.escalate_due(session, clock.now())


def sensing_jobs(settings: Settings) -> list[Job]:
    interval = settings.scheduler_interval_s
    return [Job("sensing-tick", interval, tick), Job("alert-escalation", interval, escalate)]
