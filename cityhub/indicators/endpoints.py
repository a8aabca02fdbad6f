"""Indicators (城市体征): definitions, current values per area, history and the city summary."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import Response

from cityhub.access.deps import PrincipalDep, SessionDep
from cityhub.indicators import service
from cityhub.indicators.schemas import (
    DomainOut,
    IndicatorOut,
    IndicatorSummaryOut,
    StateOut,
    StatePage,
    SummaryOut,
    ValueOut,
    WatchOut,
    level_out,
)
from cityhub.indicators.spec import IndicatorSpec, WatchSpec
from cityhub.kit.errors import Unprocessable
from cityhub.kit.timeutil import LocalInstant, clock
from cityhub.models.indicator import Indicator, IndicatorState, WarningLevel
from cityhub.rules.runtime import sensing_lifespan

router = APIRouter(tags=["indicators"], lifespan=sensing_lifespan)

IndicatorKey = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_.\-]{1,79}$", description="the indicator's key")]
MAX_DEFINITION_BYTES = 1_000_000


def _out(row: Indicator) -> IndicatorOut:
    return IndicatorOut(
        key=row.key,
        name_zh=row.name_zh,
        name_en=row.name_en,
        domain=row.domain,
        unit=row.unit,
        enabled=row.enabled,
        origin=row.origin,
        spec=row.spec,
        updated_at=row.updated_at,
    )


def _state(row: IndicatorState) -> StateOut:
    return StateOut(
        subject=row.subject,
        scope=row.scope,
        area_id=row.area_id,
        value=row.value,
        level=level_out(row.level),
        level_since=row.level_since,
        at=row.at,
    )


@router.get("/indicators/summary", response_model=SummaryOut)
def city_summary(
    principal: PrincipalDep,
    session: SessionDep,
    district: Annotated[str | None, Query(max_length=20, description="a district code")] = None,
) -> SummaryOut:
    """The city's vital signs: per domain (水务, 燃气, 排水, 交通, 环境, 安全, 民生 …) the worst
    warning level, and per indicator its worst subject and how many subjects are at each level."""
    domains = service.summary(session, principal, district=district)
    items = [
        DomainOut(
            domain=d.domain,
            level=level_out(d.level),
            indicators=[
                IndicatorSummaryOut(
                    key=i.key,
                    name_zh=i.name_zh,
                    name_en=i.name_en,
                    unit=i.unit,
                    level=level_out(i.level),
                    value=i.value,
                    subject=i.subject,
                    subjects=i.subjects,
                    by_level=i.by_level,
                )
                for i in d.indicators
            ],
        )
        for d in domains
    ]
    worst = WarningLevel.worst([d.level for d in domains])
    return SummaryOut(at=clock.now(), level=level_out(worst), domains=items)


@router.get("/indicators", response_model=list[IndicatorOut])
def list_indicators(
    principal: PrincipalDep,
    session: SessionDep,
    domain: Annotated[str | None, Query(max_length=20)] = None,
) -> list[IndicatorOut]:
    """Every indicator definition (enabled or not), by domain."""
    return [_out(row) for row in service.listing(session, principal, domain=domain)]


@router.post("/indicators", response_model=IndicatorOut, status_code=status.HTTP_201_CREATED)
def put_indicator(body: IndicatorSpec, principal: PrincipalDep, session: SessionDep) -> IndicatorOut:
    """Create an indicator, or replace the definition of the one with the same key (its values stay)."""
    return _out(service.upsert(session, principal, body))


@router.post("/indicators/import", response_model=list[IndicatorOut])
async def import_indicators(
    request: Request, principal: PrincipalDep, session: SessionDep
) -> list[IndicatorOut]:
    """Load a YAML or JSON document (a list of indicators, or ``indicators:`` and ``watches:``); all or
    nothing."""
    body = await request.body()
    if len(body) > MAX_DEFINITION_BYTES:
        raise Unprocessable("the document is too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unprocessable("the document must be UTF-8 text") from exc
    indicators, watches = service.specs_from(service.parse_document(text))
    rows = [service.upsert(session, principal, spec, origin="import") for spec in indicators]
    for watch in watches:
        service.upsert_watch(session, principal, watch, origin="import")
    return [_out(row) for row in rows]


@router.get("/indicators/{key}", response_model=StatePage)
def get_indicator(
    key: IndicatorKey,
    principal: PrincipalDep,
    session: SessionDep,
    area: Annotated[str | None, Query(max_length=20, description="a district (or exact area) code")] = None,
    min_level: WarningLevel | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> StatePage:
    """The definition and the current value of each subject (area or entity), worst first."""
    row = service.get(session, principal, key)
    items, total = service.states(
        session, principal, row, area=area, min_level=min_level, limit=limit, offset=offset
    )
    return StatePage(
        indicator=_out(row), items=[_state(s) for s in items], total=total, limit=limit, offset=offset
    )


@router.get("/indicators/{key}/history", response_model=list[ValueOut])
def indicator_history(
    key: IndicatorKey,
    principal: PrincipalDep,
    session: SessionDep,
    subject: Annotated[str, Query(min_length=1, max_length=60, description="an area code or a city code")],
    since: LocalInstant | None = None,
    until: LocalInstant | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[ValueOut]:
    """Stored values of one subject, oldest first (times without an offset are Asia/Shanghai)."""
    row = service.get(session, principal, key)
    values = service.history(session, principal, row, subject, since=since, until=until, limit=limit)
    return [ValueOut(at=v.at, value=v.value, level=v.level.value if v.level else None) for v in values]


@router.delete("/indicators/{key}", status_code=status.HTTP_204_NO_CONTENT)
def disable_indicator(key: IndicatorKey, principal: PrincipalDep, session: SessionDep) -> Response:
    """Stop evaluating the indicator (its values and history stay; post it again to enable it)."""
    service.disable(session, principal, key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/metric-watches", response_model=list[WatchOut])
def list_watches(principal: PrincipalDep, session: SessionDep) -> list[WatchOut]:
    """How each metric is watched: device health (silent, frozen, jump) and anomaly detection."""
    return [
        WatchOut(metric=w.metric, enabled=w.enabled, origin=w.origin, spec=w.spec)
        for w in service.watches(session, principal)
    ]


@router.post("/metric-watches", response_model=WatchOut, status_code=status.HTTP_201_CREATED)
def put_watch(body: WatchSpec, principal: PrincipalDep, session: SessionDep) -> WatchOut:
    """Create or replace the watch of a metric."""
    row = service.upsert_watch(session, principal, body)
    return WatchOut(metric=row.metric, enabled=row.enabled, origin=row.origin, spec=row.spec)
