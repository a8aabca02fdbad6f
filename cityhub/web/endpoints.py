"""The dashboard's read-only endpoints (map payloads by zoom level, today's figures, an event's relatives,
the browser's configuration) and the live stream ``GET /api/v1/stream`` (server-sent events)."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

import jwt
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.routing import Match

from cityhub.access import tokens
from cityhub.access.deps import (
    PrincipalDep,
    SessionDep,
    SettingsDep,
    app_settings,
    client_address,
    current_principal,
    principal_of,
)
from cityhub.access.principal import Principal
from cityhub.access.tokens import API_TOKEN_PREFIX
from cityhub.events.schemas import EventPage
from cityhub.kit import bus as kit_bus
from cityhub.kit.errors import Unauthorized, Unprocessable
from cityhub.kit.timeutil import clock
from cityhub.web import sensors, service, stream
from cityhub.web.schemas import MapOut, RelatedOut, SensorMapOut, StreamTicketOut, SummaryOut, UiConfig

router = APIRouter(tags=["dashboard"])

_bearer = HTTPBearer(auto_error=False)
AreaCode = Annotated[str, Path(min_length=1, max_length=20, description="an area code (GB/T 2260 or grid)")]


@router.get("/dashboard/config", response_model=UiConfig)
def ui_config(request: Request, session: SessionDep, settings: SettingsDep) -> UiConfig:
    """What the browser needs before login (public): version, mode, city, optional features; in demo mode
    also the demo accounts (user names and roles, never passwords)."""
    return service.config(session, settings, _optional_paths(request.app))


def _optional_paths(app: FastAPI) -> list[str]:
    """Asked of the router once per app (its routes do not change), without building the OpenAPI schema."""
    cached: list[str] | None = getattr(app.state, "dashboard_optional_paths", None)
    if cached is None:
        cached = app.state.dashboard_optional_paths = service.served(lambda m, p: _routes_to(app, m, p))
    return cached


def _routes_to(app: FastAPI, method: str, path: str) -> bool:
    """Whether a route other than the page fallback takes ``method path``."""
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    for route in app.router.routes:
        if getattr(route, "path", None) == "/{path:path}":
            continue  # the dashboard's own page fallback
        match, _child = route.matches(scope)
        if match is Match.FULL:
            return True
    return False


@router.get("/dashboard/map/{code}", response_model=MapOut)
def map_view(
    code: AreaCode,
    principal: PrincipalDep,
    session: SessionDep,
    heat_days: Annotated[int, Query(ge=1, le=366, description="days of reports in the heat map")] = 30,
) -> Response:
    """The map of an area at its zoom level: open events counted per child area (city → districts,
    district → streets, street → grids) by status, urgency and deadline; the open events as markers (one
    row per event, or per grid cell above 20 000); and the heat of citizens' reports per grid cell."""
    payload = service.map_view(session, principal, code, heat_days=heat_days, now=clock.now())
    # Serialised once by pydantic: tens of thousands of rows would otherwise be validated and encoded twice.
    return Response(payload.model_dump_json(), media_type="application/json")


@router.get("/dashboard/map/{code}/grids.geojson")
def grids_geojson(code: AreaCode, _principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    """The boundaries of the grids below an area (WGS-84 GeoJSON), for the street zoom level."""
    return service.grids_geojson(session, code)


@router.get("/sensors", response_model=SensorMapOut)
def sensor_map(
    principal: PrincipalDep,
    session: SessionDep,
    area: Annotated[
        str | None, Query(min_length=1, max_length=20, description="an area code (default: the city)")
    ] = None,
    health: Annotated[
        list[sensors.Health] | None, Query(max_length=4, description="only sensors in these states")
    ] = None,
    kind: Annotated[
        str | None, Query(min_length=1, max_length=40, description="a device type, e.g. water_depth")
    ] = None,
) -> Response:
    """The sensors of an area at its zoom level (city → districts, district → streets, street → grids)
    with their health — online, stale (no reading within the expected interval of its type), alarming (an
    open alert you may read), offline (silent four intervals or more, or never reported): counts per child
    area, and the devices as markers (one row each, or per grid cell above 20 000)."""
    city = None if area else service.city_code(session)
    payload = sensors.sensor_map(
        session,
        principal,
        sensors.SensorFilter(area=area, health=tuple(health or ()), kind=kind),
        city_code=city,
        now=clock.now(),
    )
    return Response(payload.model_dump_json(), media_type="application/json")


@router.get("/dashboard/summary", response_model=SummaryOut)
def summary(
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    area: Annotated[str | None, Query(min_length=1, max_length=20, description="an area code")] = None,
) -> SummaryOut:
    """Today's intake, dispatches and resolutions (local day) and the open, near-deadline (临期) and overdue
    (超期) events, within an area when one is given."""
    return service.summary(session, principal, area, now=clock.now(), tz=ZoneInfo(settings.timezone))


@router.get("/dashboard/extension-requests", response_model=EventPage)
def extension_requests(
    principal: PrincipalDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> EventPage:
    """Events whose department asked for an extension (延期) that nobody has decided yet, oldest first."""
    return service.extension_requests(session, principal, limit=limit, offset=offset)


@router.get("/dashboard/events/{event_id}/related", response_model=RelatedOut)
def related(
    event_id: Annotated[int, Path(ge=1, le=2**63 - 1)], principal: PrincipalDep, session: SessionDep
) -> RelatedOut:
    """The duplicates merged into an event (一事多诉), the event it was merged into, its alerts and the
    sensor series behind them (devices and metrics to read from `GET /api/v1/telemetry/series`)."""
    return service.related(session, principal, event_id, now=clock.now())


# ---------------------------------------------------------------- the live stream


def _stream_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ticket: Annotated[str | None, Query(max_length=2000)] = None,
) -> tuple[Principal, float | None]:
    """The bearer token from the header or, for EventSource (which cannot set headers), a stream ticket."""
    if ticket:
        claims = tokens.decode_stream_ticket(app_settings(request), ticket)
        return principal_of(
            session, claims, client_address(request)
        ), None  # lives as long as its session (checked as it runs)
    if credentials is None or not credentials.credentials:
        raise Unauthorized(
            "log in first: send 'Authorization: Bearer <token>', or ?ticket= from POST /api/v1/stream/ticket"
        )
    return current_principal(request, session, credentials), _expiry(credentials.credentials)


def _expiry(token: str) -> float | None:
    """When an access token expires (its signature was checked above); API tokens: no expiry here."""
    if token.startswith(API_TOKEN_PREFIX):
        return None
    claims = jwt.decode(token, options={"verify_signature": False})
    exp = claims.get("exp")
    return float(exp) if isinstance(exp, int | float) else None


@router.post("/stream/ticket", response_model=StreamTicketOut)
def stream_ticket(principal: PrincipalDep, settings: SettingsDep) -> StreamTicketOut:
    """A ticket to open the live stream from a browser: `GET /api/v1/stream?ticket=…` within a minute.
    EventSource cannot send an Authorization header, and an access token in a URL ends up in logs."""
    if principal.user_id is None or principal.session_id is None:
        raise Unprocessable("machine clients open the stream with their Authorization header, not a ticket")
    ticket = tokens.issue_stream_ticket(settings, principal.user_id, principal.session_id)
    return StreamTicketOut(ticket=ticket, expires_in=tokens.STREAM_TICKET_SECONDS)


@router.get("/stream", include_in_schema=False)
def live_stream(
    request: Request, who: Annotated[tuple[Principal, float | None], Depends(_stream_principal)]
) -> StreamingResponse:
    """Server-sent events (text/event-stream). Every message is ``data: {"topic": …, "data": …}``:
    ``events.<action>`` with ``{"id","number","action","status"}`` for each change to an event the principal
    may read, ``alerts.<action>`` for alerts it may read, ``hello`` first, ``resync`` when the browser should
    reload its view, ``bye`` before the stream ends (token expiry, logout, at most an hour, or shutdown;
    reconnect with a fresh token). Authenticate with the Authorization header or, from EventSource (which
    cannot send headers), ``?ticket=`` from ``POST /api/v1/stream/ticket``.

    Not in the OpenAPI schema: the stream never ends on its own, which OpenAPI clients cannot describe."""
    principal, expires_at = who
    events = stream.relay(kit_bus.bus, request.app.state.session_factory, principal, expires_at)
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
