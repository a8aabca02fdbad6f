"""The hub's web application: REST API under /api/v1, Open311 under /open311/v2, the scheduler."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
from cityhub.dispatch.endpoints import router as dispatch_router
from cityhub.dispatch.service import HubDispatchPolicy
from cityhub.entities.endpoints import router as entities_router
from cityhub.events.endpoints import router as events_router
from cityhub.geo.endpoints import router as geo_router
from cityhub.indicators.endpoints import router as indicators_router
from cityhub.kit.db import make_engine, make_session_factory
from cityhub.kit.http import Admission, BodyLimit, install_error_handlers
from cityhub.kit.settings import Settings, get_settings
from cityhub.open311.endpoints import router as open311_router
from cityhub.org.endpoints import router as org_router
from cityhub.rules.endpoints import router as rules_router
from cityhub.scheduler import Scheduler
from cityhub.telemetry.endpoints import router as telemetry_router
from cityhub.web import spa
from cityhub.web.endpoints import router as web_router

DESCRIPTION = """cityhub — city operations and governance hub (城市运行和治理智能中枢).

Log in at `POST /api/v1/auth/login` and send `Authorization: Bearer <access_token>`; machine clients
use API tokens. Errors are RFC 7807 problem+json."""


def create_app(
    settings: Settings | None = None,
    session_factory: sessionmaker[Session] | None = None,
    *,
    run_scheduler: bool = True,
    extra_tasks: list[Any] | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    if session_factory is None:
        session_factory = make_session_factory(make_engine(settings.effective_database_url))
    audit_hooks.install()
    scheduler = Scheduler(session_factory, settings, extra_tasks or [])

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if run_scheduler:
            scheduler.start()
        try:
            yield
        finally:
            scheduler.stop()

    app = FastAPI(title="cityhub", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
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
    _public_routes(app, session_factory)
    spa.mount(app)  # last: the dashboard's page fallback catches every path not routed above
    app.add_middleware(
        Admission,
        limit=settings.max_concurrent_requests,
        wait_s=settings.admission_wait_s,
        exempt=("/api/v1/stream",),
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app


def _public_routes(app: FastAPI, session_factory: sessionmaker[Session]) -> None:
    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness and database reachability (public)."""
        with session_factory() as session:
            session.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}
