"""Prometheus metrics: what the hub's requests and background jobs do, for the city's monitoring.

Counters and histograms live in the process that counts them. A scale-out hub (``cityhub serve --workers N``)
is several processes and a scrape reaches one of them, so ``serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before
they start: each process writes its values to files there and whichever answers the scrape adds them all up
(prometheus_client's multiprocess mode). Gauges of the city's state (open events, overdue ones…) are read from
the database at scrape time (``cityhub.metrics``), so every process tells the same.

Request metrics are labelled by the route's template (``/api/v1/events/{event_id}``), never the raw path: a
client probing random paths must not grow the metrics without bound.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
DIRECTORY = "metrics"  # under the data directory

REQUESTS = Counter(
    "cityhub_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
DURATION = Histogram(
    "cityhub_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
JOB_RUNS = Counter(
    "cityhub_scheduler_job_runs",
    "Runs of the scheduler's periodic jobs, by job and outcome",
    ["job", "outcome"],
)
JOB_DURATION = Histogram(
    "cityhub_scheduler_job_duration_seconds",
    "How long each periodic job ran",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0),
)

UNMATCHED = "unmatched"  # no route took the path (404s of unknown paths, the dashboard's pages)


def prepare_multiprocess(directory: Path) -> None:
    """Before a scale-out hub starts its processes: they count into files in ``directory``, emptied first
    (values of a previous run would be added to this one's)."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROCESS_ENV] = str(directory)


def exposition(collectors: Iterable[Collector] = ()) -> bytes:
    """The text a scrape gets: this process's metrics (or every process's, in multiprocess mode), the
    process and platform collectors of single-process mode, and ``collectors`` read now."""
    if os.environ.get(MULTIPROCESS_ENV):
        counted = CollectorRegistry()
        MultiProcessCollector(counted)  # type: ignore[no-untyped-call]
    else:
        counted = REGISTRY
    now = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        now.register(collector)
    return generate_latest(counted) + generate_latest(now)  # the text format is a list of families


def route_template(scope: Scope) -> str:
    """The template of the route that took the request (``/api/v1/events/{event_id}``), or ``UNMATCHED``.

    A route of an included router knows only its path within that router; FastAPI keeps the path with
    every prefix on the request's effective route context (pinned FastAPI: a test checks it).
    """
    effective = (scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(effective, "path", None) or getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class RequestMetrics:
    """Counts every HTTP request and times it until its answer is sent (pure ASGI: no body buffering)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception before the answer began: the server answers 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            template = route_template(scope)
            method = scope.get("method", "GET")
            REQUESTS.labels(method, template, str(status)).inc()
            DURATION.labels(method, template).observe(time.perf_counter() - started)
