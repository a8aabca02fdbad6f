"""Telemetry: batch ingest (JSON array or NDJSON), time series, the metric catalogue and dead letters."""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from cityhub.access import policy
from cityhub.access.deps import PrincipalDep, SessionDep, SettingsDep
from cityhub.access.principal import Principal
from cityhub.kit.errors import TooManyRequests, Unprocessable
from cityhub.kit.http import problem
from cityhub.kit.settings import Settings
from cityhub.kit.timeutil import Instant, clock
from cityhub.models.telemetry import DeadLetterStatus
from cityhub.telemetry import catalog, ingest, service
from cityhub.telemetry.runtime import telemetry_lifespan
from cityhub.telemetry.schemas import (
    MAX_SERIES_POINTS,
    DeadLetterOut,
    DeadLetterPage,
    DeviceTypeOut,
    IngestResult,
    MetricOut,
    PersonalSeriesIn,
    ReadingIn,
    RejectionOut,
    ReplayIn,
    ReplayResult,
    SeriesOut,
)

router = APIRouter(tags=["telemetry"], lifespan=telemetry_lifespan)
_limiter_lock = threading.Lock()

# NDJSON (application/x-ndjson) is accepted too: the description says so, the schema lists JSON only.
_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "array", "items": ReadingIn.model_json_schema()}},
        },
    }
}


def _limiter(request: Request, settings: Settings) -> service.InflightLimit:
    state = request.app.state
    with _limiter_lock:
        limiter: service.InflightLimit | None = getattr(state, "telemetry_limiter", None)
        if limiter is None:
            limiter = service.InflightLimit(settings.telemetry_max_inflight)
            state.telemetry_limiter = limiter
    return limiter


def _reject_body(session: SessionDep, principal: Principal, body: bytes, exc: Unprocessable) -> JSONResponse:
    """A body that is not readings at all: dead-lettered whole (nothing vanishes), answered 422."""
    rejection = ingest.Rejection(0, ingest.Reason.MALFORMED, exc.message, ingest.NotJson(body))
    ids = ingest.dead_letter(
        session, [rejection], channel=ingest.Channel.HTTP, source=principal.username, now=clock.now()
    )
    return problem(422, "Invalid readings", exc.message, dead_letter_id=ids[0])


def _rejections(outcome: ingest.Outcome) -> list[RejectionOut]:
    ids = outcome.dead_letter_ids
    return [
        RejectionOut(
            index=r.index,
            device=r.device,
            metric=r.metric,
            reason=str(r.reason),
            detail=r.detail,
            dead_letter_id=ids[i] if i < len(ids) else None,
        )
        for i, r in enumerate(outcome.rejections)
    ]


@router.post(
    "/telemetry",
    response_model=IngestResult,
    openapi_extra=_BODY_DOC,
    responses={429: {"description": "at the ingest limit: retry after Retry-After seconds"}},
)
async def ingest_readings(
    request: Request, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> IngestResult | JSONResponse:
    """Ingest a batch: a JSON array of `{device, metric, ts, value}` (unit and quality optional) or NDJSON
    (`Content-Type: application/x-ndjson`). Each reading is checked; rejected ones go to the dead-letter store
    with the reason. The answer (accepted/rejected counts, reasons per reading) comes after the commit."""
    policy.authorize(principal, "telemetry.ingest")
    body = await request.body()
    try:
        items = service.parse_body(body, request.headers.get("content-type", "application/json"))
    except Unprocessable as exc:
        return await run_in_threadpool(_reject_body, session, principal, body, exc)
    try:
        outcome = await run_in_threadpool(
            service.ingest_batch,
            session,
            principal,
            items,
            channel=ingest.Channel.HTTP,
            limits=ingest.Limits.of(settings),
            limiter=_limiter(request, settings),
        )
    except TooManyRequests as exc:
        response = problem(429, exc.title, exc.message, code=exc.code)
        response.headers["Retry-After"] = "1"
        return response
    return IngestResult(
        accepted=outcome.accepted, rejected=len(outcome.rejections), rejections=_rejections(outcome)
    )


@router.get(
    "/telemetry/series",
    response_model=SeriesOut,
    responses={
        403: {
            "description": "a meter that serves a registered person: read it with a purpose, "
            "POST /telemetry/series/personal (named in `endpoint`)"
        },
        404: {"description": "no such device, or no readings of it for this reader"},
    },
)
def get_series(
    principal: PrincipalDep,
    session: SessionDep,
    device: Annotated[str, Query(max_length=40, description="the device's city code")],
    metric: Annotated[str, Query(min_length=1, max_length=40)],
    since: Instant | None = None,
    until: Instant | None = None,
    resolution: Annotated[str, Query(pattern="^(raw|1m|1h)$")] = "raw",
    limit: Annotated[int, Query(ge=1, le=MAX_SERIES_POINTS)] = 10_000,
) -> SeriesOut:
    """One metric of one device over `[since, until)` (default: the last 24 h), raw or rolled up to
    1 min / 1 h (min, max, avg, count, last). Rollups trail the raw data by at most the rollup interval.
    A meter that serves a registered person is read with a purpose: `POST /telemetry/series/personal`."""
    start, end = service.window_bounds(since, until)
    return service.series(
        session, principal, service.SeriesQuery(device, metric, start, end, resolution, limit)
    )


@router.post(
    "/telemetry/series/personal",
    response_model=SeriesOut,
    responses={
        404: {
            "description": "no such device, or its readings are not for this reader (only the grid "
            "workers of the person's community read them)"
        },
        422: {
            "description": "no purpose (2 to 200 characters), a bad window or metric, or a device that "
            "serves no registered person"
        },
    },
)
def read_personal_series(body: PersonalSeriesIn, principal: PrincipalDep, session: SessionDep) -> SeriesOut:
    """The series of a meter that serves a registered person (独居老人: a long flat line is the welfare
    alarm), for a grid worker of their community, who says why in ``purpose`` (e.g. 关爱探视). The same
    parameters as `GET /telemetry/series`, in the body so that the purpose stays out of URLs and access
    logs. The read — device, metric, window, whose meter — and its purpose go into the audit log."""
    start, end = service.window_bounds(body.since, body.until)
    q = service.SeriesQuery(body.device, body.metric, start, end, body.resolution, body.limit)
    return service.personal_series(session, principal, q, body.purpose)


@router.get("/telemetry/metrics", response_model=list[DeviceTypeOut])
def list_metrics(principal: PrincipalDep) -> list[DeviceTypeOut]:
    """The device types and the metrics each reports: unit and physically possible range."""
    policy.authorize(principal, "telemetry.read")
    return [
        DeviceTypeOut(
            key=t.key,
            name=t.name,
            metrics=[
                MetricOut(name=m.name, unit=m.unit, min=_finite(m.min), max=_finite(m.max))
                for m in t.metrics.values()
            ],
        )
        for t in catalog.device_types().values()
    ]


def _finite(value: float) -> float | None:
    return value if abs(value) != float("inf") else None


@router.get("/telemetry/dead-letters", response_model=DeadLetterPage)
def list_dead_letters(
    principal: PrincipalDep,
    session: SessionDep,
    reason: Annotated[str | None, Query(max_length=24)] = None,
    device: Annotated[str | None, Query(max_length=60)] = None,
    channel: Annotated[str | None, Query(max_length=12)] = None,
    status: DeadLetterStatus | None = None,
    since: Instant | None = None,
    until: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> DeadLetterPage:
    """Rejected readings with the reason and the raw reading, newest first."""
    f = service.DeadLetterFilter(
        reason=reason, device=device, channel=channel, status=status, since=since, until=until
    )
    rows, total = service.dead_letters(session, principal, f, limit=limit, offset=offset)
    items = [DeadLetterOut.model_validate(r, from_attributes=True) for r in rows]
    return DeadLetterPage(items=items, total=total, limit=limit, offset=offset)


@router.post("/telemetry/dead-letters/replay", response_model=ReplayResult)
def replay_dead_letters(
    body: ReplayIn, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> ReplayResult:
    """Run pending dead letters (by ids or filter) through the checks again, after the cause was fixed
    (device registered, metric declared, clock corrected). Accepted ones are stored and marked replayed."""
    f = service.DeadLetterFilter(
        ids=body.ids,
        reason=body.reason,
        device=body.device,
        channel=body.channel,
        since=body.since,
        until=body.until,
    )
    replayed, still = service.replay(
        session, principal, f, limits=ingest.Limits.of(settings), limit=body.limit
    )
    return ReplayResult(
        replayed=replayed,
        still_rejected=len(still),
        rejections=[
            RejectionOut(
                index=i,
                device=letter.device,
                metric=letter.metric,
                reason=str(r.reason),
                detail=r.detail,
                dead_letter_id=letter.id,
            )
            for i, (letter, r) in enumerate(still[:1000])
        ],
    )
