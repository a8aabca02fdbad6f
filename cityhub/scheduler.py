"""The scheduler: periodic jobs, each its own transaction, on threads of the process that does the
background work (the one process of the embedded default, the worker of a scale-out hub)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cityhub.access import tokens
from cityhub.events import deadlines, evaluation
from cityhub.kit import metrics
from cityhub.kit.db import unit_of_work
from cityhub.kit.settings import Settings
from cityhub.kit.timeutil import clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    interval_s: float
    run: Callable[[Session], object]


def relocate_pending(session: Session) -> int:
    """Events known only by address: try to place them again (areas or names may have been added)."""
    from cityhub.events.service import relocate
    from cityhub.models.event import Event

    pending = session.scalars(
        select(Event).where(Event.location_resolved.is_(False), Event.address.is_not(None)).limit(500)
    )
    return sum(1 for event in pending if relocate(session, event))


def _catalog_quality(session: Session) -> int:
    from cityhub.catalog.quality import scheduled_run  # registers the hub's own data, runs due checks

    return scheduled_run(session)


def _telemetry_jobs(settings: Settings) -> list[Job]:
    from cityhub.telemetry.runtime import maintenance_job  # rollups raw → 1 min → 1 h, then retention

    name, interval, run = maintenance_job(settings)
    return [Job(name, interval, run)]


def _sensing_jobs(settings: Settings) -> list[Job]:
    from cityhub.indicators.jobs import sensing_jobs  # the sensing domain builds on this module

    return sensing_jobs(settings)


class Scheduler:
    """Runs jobs on a daemon thread; a failing job is logged and retried at its next turn."""

    def __init__(self, session_factory: sessionmaker[Session], settings: Settings, extra: list[Job]) -> None:
        self._factory = session_factory
        near = settings.near_deadline_fraction
        self.jobs = [
            Job("deadlines", settings.scheduler_interval_s, lambda s: deadlines.scan(s, clock.now(), near)),
            Job("relocate", settings.scheduler_interval_s * 5, relocate_pending),
            Job("evaluation-rollup", settings.scheduler_interval_s, evaluation.refresh),  # decision 0009
            Job("catalog-quality", settings.scheduler_interval_s * 5, _catalog_quality),
            Job("login-sessions", settings.scheduler_interval_s * 60, lambda s: tokens.prune(s, settings)),
            *_sensing_jobs(settings),
            *_telemetry_jobs(settings),
            *extra,
        ]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def run_once(self, name: str) -> object:
        return self._run(next(j for j in self.jobs if j.name == name))

    def _run(self, job: Job) -> object:
        """One run of ``job`` in its own transaction, counted with its outcome and timed (``/metrics``)."""
        started, outcome = time.perf_counter(), "failed"
        try:
            with unit_of_work(self._factory) as session:
                result = job.run(session)
            outcome = "ok"
            return result
        finally:
            metrics.JOB_RUNS.labels(job.name, outcome).inc()
            metrics.JOB_DURATION.labels(job.name).observe(time.perf_counter() - started)

    def _loop(self, job: Job) -> None:
        while not self._stop.wait(job.interval_s):
            try:
                self._run(job)
            except Exception:
                log.exception("scheduled job %s failed; it runs again in %.0f s", job.name, job.interval_s)

    def start(self) -> None:
        self._stop.clear()
        for job in self.jobs:
            thread = threading.Thread(target=self._loop, args=(job,), name=f"cityhub-{job.name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
