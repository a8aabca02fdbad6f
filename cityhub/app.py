"""The hub's web application: REST API under /api/v1, Open311 under /open311/v2, the scheduler.

A process has a role (``Role``). The embedded default is one process doing everything. A scale-out hub
(``cityhub serve --workers N``, decision 0011) runs N API processes — requests and the live stream only —
and one worker process with the background work: the scheduler, the sensing pipeline and the MQTT
subscription; their buses are relayed through NATS (``cityhub.kit.natsbus``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, FastAPI
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from cityhub import __version__
from cityhub.access.endpoints import router as auth_router
from cityhub.alerts.endpoints import router as alerts_router
from cityhub.audit import hooks as audit_hooks
from cityhub.audit.endpoints import router as audit_router
from cityhub.catalog.endpoints import router as catalog_router
from cityhub.dispatch import gazetteer
from cityhub.dispatch.endpoints import router as dispatch_router
from cityhub.dispatch.service import HubDispatchPolicy
from cityhub.entities.endpoints import router as entities_router
from cityhub.events.endpoints import router as events_router
from cityhub.geo.endpoints import router as geo_router
from cityhub.indicators.endpoints import router as indicators_router
from cityhub.kit import bus as kit_bus
from cityhub.kit.db import make_engine, make_session_factory
from cityhub.kit.http import Admission, BodyLimit, install_error_handlers
from cityhub.kit.metrics import RequestMetrics
from cityhub.kit.natsbus import NatsBridge
from cityhub.kit.settings import Settings, get_settings
from cityhub.metrics import router as metrics_router
from cityhub.open311.endpoints import router as open311_router
from cityhub.org.endpoints import router as org_router
from cityhub.rules.endpoints import router as rules_router
from cityhub.scheduler import Scheduler
from cityhub.telemetry.endpoints import router as telemetry_router
from cityhub.web import spa
from cityhub.web.endpoints import router as web_router

log = logging.getLogger(__name__)

DESCRIPTION = """cityhub — city operations and governance hub (城市运行和治理智能中枢).

Log in at `POST /api/v1/auth/login` and send `Authorization: Bearer <access_token>`; machine clients
use API tokens. Errors are RFC 7807 problem+json."""


class Role(StrEnum):
    """What a process of the hub does."""

    ALL = "all"  # the embedded default: API, scheduler, sensing pipeline, MQTT ingest
    API = "api"  # one of the API processes of a scale-out hub: requests and the live stream only
    WORKER = "worker"  # the one background process of a scale-out hub: no HTTP

    @property
    def runs_background(self) -> bool:
        return self is not Role.API


def create_app(
    settings: Settings | None = None,
    session_factory: sessionmaker[Session] | None = None,
    *,
    run_scheduler: bool = True,
    extra_tasks: list[Any] | None = None,
    role: Role = Role.ALL,
) -> FastAPI:
    settings = settings or get_settings()
    if role is Role.API:
        # The MQTT subscription is the worker's (the telemetry router's lifespan starts it when this is set).
        settings = settings.model_copy(update={"mqtt_url": None})
    if session_factory is None:
        session_factory = make_session_factory(make_engine(settings.effective_database_url))
    audit_hooks.install()
    scheduler = Scheduler(session_factory, settings, extra_tasks or [])
    bridge = _bridge(settings, role)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Entered before the routers' lifespans (the sensing pipeline, MQTT), left after them.
        if bridge is not None:
            bridge.start()  # BusUnavailable: the process does not start
        if run_scheduler and role.runs_background:
            scheduler.start()
        threading.Thread(target=gazetteer.segmenter.warm, name="cityhub-warm-segmenter", daemon=True).start()
        try:
            yield
        finally:
            scheduler.stop()
            if bridge is not None:
                bridge.stop()

    app = FastAPI(title="cityhub", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.role = role  # the sensing pipeline's lifespan asks it whether this process runs background work
    app.state.session_factory = session_factory
    # Routing table + active classifier, duplicates merged, gazetteer notes (cityhub.dispatch.service).
    app.state.dispatch_policy = HubDispatchPolicy(settings)
    app.state.scheduler = scheduler
    install_error_handlers(app)
    api = APIRouter(prefix="/api/v1")
    for router in (
        auth_router,
        org_router,
        geo_router,
        events_router,
        dispatch_router,
        audit_router,
        catalog_router,
        indicators_router,  # its lifespan runs the sensing pipeline (cityhub/rules/runtime.py)
        alerts_router,
        rules_router,
        entities_router,
        telemetry_router,  # its lifespan runs the MQTT subscription when CITYHUB_MQTT_URL is set
        web_router,
    ):
        api.include_router(router)
    app.include_router(api)
    app.include_router(open311_router)
    app.include_router(metrics_router)  # GET /metrics (Prometheus), for a monitor user's API token
    _public_routes(app, session_factory)
    spa.mount(app)  # last: the dashboard's page fallback catches every path not routed above
    app.add_middleware(
        Admission,
        limit=settings.max_concurrent_requests,
        wait_s=settings.admission_wait_s,
        exempt=("/api/v1/stream",),
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetrics)  # outermost: the 413s and 503s above are counted too
    return app


def _bridge(settings: Settings, role: Role) -> NatsBridge | None:
    """The NATS relay of this process's bus, when the hub runs as several processes."""
    if settings.bus_url is None:
        return None
    return NatsBridge(
        settings.bus_url,
        kit_bus.bus,
        namespace=settings.bus_namespace,
        consume_durable=role.runs_background,  # the process with the sensing pipeline takes the readings
        name=f"cityhub-{role.value}",
    )


def api_process() -> FastAPI:
    """The application of one API process of a scale-out hub (uvicorn's factory, settings from the
    environment; the database is migrated by the command that starts the processes)."""
    return create_app(get_settings(), role=Role.API)


def run_worker(settings: Settings, session_factory: sessionmaker[Session]) -> None:
    """The worker process: the application's lifespans — the bus relay, the scheduler, the sensing
    pipeline, the MQTT subscription — without an HTTP server, until SIGINT or SIGTERM."""
    app = create_app(settings, session_factory, role=Role.WORKER)
    asyncio.run(_background(app))


async def _background(app: FastAPI) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    async with app.router.lifespan_context(app):
        mqtt = "on" if app.state.settings.mqtt_url else "off (CITYHUB_MQTT_URL unset)"
        log.info("cityhub worker running: scheduler, sensing pipeline, MQTT ingest %s", mqtt)
        await stopping.wait()
        log.info("cityhub worker stopping")


def _public_routes(app: FastAPI, session_factory: sessionmaker[Session]) -> None:
    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness and database reachability (public; HEAD too, for monitors that only ask)."""
        with session_factory() as session:
            session.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    # The same check for HEAD, outside the schema (one operation per path and method there).
    app.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)
