"""Dispatch API: the routing table, the gazetteer, duplicates (一事多诉), hot spots and classifier models."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, Query, UploadFile, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from cityhub.access import policy
from cityhub.access.deps import PrincipalDep, SessionDep, SettingsDep
from cityhub.alerts import views as alert_views
from cityhub.alerts.schemas import AlertOut
from cityhub.audit.hooks import bind_principal
from cityhub.dispatch import gazetteer, hotspots, routing, service
from cityhub.dispatch.schemas import (
    DuplicatesOut,
    EscalateIn,
    HotspotAlertIn,
    HotspotOut,
    HotspotsOut,
    ImportOut,
    ModelOut,
    PlaceIn,
    PlaceOut,
    ResolveOut,
    RetrainIn,
)
from cityhub.events import categories, views
from cityhub.events.endpoints import PolicyDep
from cityhub.events.schemas import EventOut
from cityhub.geo import service as geo
from cityhub.geo.crs import CRS
from cityhub.kit.errors import BadRequest
from cityhub.kit.text import Input
from cityhub.kit.timeutil import clock
from cityhub.models.area import Area
from cityhub.models.indicator import WarningLevel
from cityhub.models.routing import RoutingRule

router = APIRouter(tags=["dispatch"])
MAX_PLACES_BYTES = 5_000_000
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


class RuleIn(Input):
    category: str | None = Field(None, max_length=300, description="category code or path; empty = any")
    area: str | None = Field(None, max_length=20, description="area code; empty = anywhere")
    lead_department_id: int
    co_department_ids: list[int] = Field(default_factory=list, max_length=20)


class RuleOut(BaseModel):
    id: int
    category_id: int | None
    area_id: int | None
    lead_department_id: int
    co_department_ids: list[int]


@router.get("/routing-rules", response_model=list[RuleOut])
def list_rules(principal: PrincipalDep, session: SessionDep) -> list[RuleOut]:
    """The routing table."""
    policy.authorize(principal, "routing.manage")
    return [RuleOut.model_validate(r, from_attributes=True) for r in session.scalars(select(RoutingRule))]


@router.post("/routing-rules", response_model=RuleOut, status_code=status.HTTP_201_CREATED)
def put_rule(body: RuleIn, principal: PrincipalDep, session: SessionDep) -> RuleOut:
    """Add a rule, or replace the departments of the rule for the same category and area."""
    policy.authorize(principal, "routing.manage")
    bind_principal(session, principal)
    rule = routing.add_rule(
        session,
        lead_department_id=body.lead_department_id,
        category_id=categories.find(session, body.category).id if body.category else None,
        area_id=geo.get_area(session, body.area).id if body.area else None,
        co_department_ids=tuple(body.co_department_ids),
    )
    return RuleOut.model_validate(rule, from_attributes=True)


@router.delete("/routing-rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_rule(rule_id: int, principal: PrincipalDep, session: SessionDep) -> None:
    """Remove a rule."""
    policy.authorize(principal, "routing.manage")
    bind_principal(session, principal)
    routing.delete_rule(session, rule_id)


# ---------------------------------------------------------------- gazetteer


@router.get("/gazetteer/places", response_model=list[PlaceOut])
def list_places(
    principal: PrincipalDep,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=100, description="part of the name")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[PlaceOut]:
    """Gazetteer places (roads, landmarks, estates) that addresses are matched against."""
    policy.authorize(principal, "gazetteer.read")
    rows = gazetteer.list_places(session, q=q, limit=limit, offset=offset)
    return [PlaceOut.model_validate(p, from_attributes=True) for p in rows]


@router.post("/gazetteer/places", response_model=PlaceOut, status_code=status.HTTP_201_CREATED)
def put_place(body: PlaceIn, principal: PrincipalDep, session: SessionDep) -> PlaceOut:
    """Add a place, or update the place of the same name in the same area."""
    policy.authorize(principal, "gazetteer.manage")
    bind_principal(session, principal)
    if (body.lon is None) != (body.lat is None):
        raise BadRequest("give both lon and lat, or neither")
    row = gazetteer.PlaceIn(
        name=body.name,
        kind=body.kind,
        area_code=body.area,
        lon=body.lon,
        lat=body.lat,
        crs=body.crs,
        aliases=tuple(a.strip() for a in body.aliases if a.strip()),
    )
    return PlaceOut.model_validate(gazetteer.add_places(session, [row])[0], from_attributes=True)


@router.post("/gazetteer/places/import", response_model=ImportOut)
async def import_places(file: UploadFile, principal: PrincipalDep, session: SessionDep) -> ImportOut:
    """Import places from CSV: ``name,kind,area_code[,lon,lat,crs,aliases]`` (aliases separated by |)."""
    policy.authorize(principal, "gazetteer.manage")
    bind_principal(session, principal)
    raw = await file.read(MAX_PLACES_BYTES + 1)
    if len(raw) > MAX_PLACES_BYTES:
        raise BadRequest(f"the places file is larger than {MAX_PLACES_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("the places file must be UTF-8 CSV") from exc
    return ImportOut(saved=len(gazetteer.add_places(session, gazetteer.parse_csv(text))))


@router.delete("/gazetteer/places/{place_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_place(place_id: Id, principal: PrincipalDep, session: SessionDep) -> None:
    """Remove a place from the gazetteer."""
    policy.authorize(principal, "gazetteer.manage")
    bind_principal(session, principal)
    gazetteer.delete_place(session, place_id)


@router.get("/gazetteer/resolve", response_model=ResolveOut)
def resolve(
    principal: PrincipalDep,
    session: SessionDep,
    address: Annotated[str | None, Query(max_length=300)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    crs: CRS = CRS.WGS84,
) -> ResolveOut:
    """How intake would locate this address (and point): areas, the places named, notes."""
    policy.authorize(principal, "gazetteer.read")
    if (lon is None) != (lat is None):
        raise BadRequest("give both lon and lat, or neither")
    point = geo.locate(session, lon, lat, crs) if lon is not None and lat is not None else None
    placed = gazetteer.place(session, point, address)
    areas = {
        str(level): {"id": a.id, "code": a.code, "name": a.name}
        for level, area_id in placed.located.areas.items()
        if (a := session.get(Area, area_id)) is not None
    }
    return ResolveOut(
        areas=areas,
        source=placed.source,
        places=[p.name for p in placed.address.places],
        words=gazetteer.cut(session, address) if address else [],
        mentions=list(placed.address.mentions),
        notes=list(placed.notes),
    )


# ---------------------------------------------------------------- duplicates (一事多诉)


@router.get("/events/{event_id}/duplicates", response_model=DuplicatesOut)
def event_duplicates(event_id: Id, principal: PrincipalDep, session: SessionDep) -> DuplicatesOut:
    """一事多诉 around an event: for a merged report, the event carrying the problem and its result; for
    any event, the reports merged into it and the open events it may duplicate (proposed at intake)."""
    return service.duplicates_of(session, principal, event_id)


@router.post("/events/{event_id}/duplicates/{candidate_id}/dismiss", response_model=DuplicatesOut)
def dismiss_duplicate(
    event_id: Id, candidate_id: Id, principal: PrincipalDep, session: SessionDep
) -> DuplicatesOut:
    """Not the same problem: the proposal is kept as dismissed. (To merge, POST /events/{id}/merge.)"""
    return service.dismiss_duplicate(session, principal, event_id, candidate_id)


# ---------------------------------------------------------------- hot spots (民生诉求热点)


@router.get("/hotspots", response_model=HotspotsOut)
def list_hotspots(
    principal: PrincipalDep,
    session: SessionDep,
    days: Annotated[int, Query(ge=1, le=90, description="the period: the last N days")] = 7,
) -> HotspotsOut:
    """Clusters of related reports (same category, close together) in the last ``days``, biggest first,
    with the trend against the period before and a representative report."""
    until = clock.now()
    spots = hotspots.find(session, principal, days=days, now=until)
    return HotspotsOut(days=days, until=until, items=[HotspotOut.model_validate(asdict(h)) for h in spots])


@router.post("/hotspots/escalate", response_model=EventOut, status_code=status.HTTP_201_CREATED)
def escalate_hotspot(
    body: EscalateIn, principal: PrincipalDep, session: SessionDep, dp: PolicyDep
) -> EventOut:
    """Turn a hot spot into one supervised event (督办) that a department answers for."""
    event = hotspots.escalate(session, principal, dp, body.key, days=body.days, note=body.note)
    return views.detail(session, principal, event)


@router.post("/hotspots/alert", response_model=AlertOut, status_code=status.HTTP_201_CREATED)
def alert_hotspot(body: HotspotAlertIn, principal: PrincipalDep, session: SessionDep) -> AlertOut:
    """Raise a hot spot as an alert (预警) at the chosen colour; it stays open until someone clears it."""
    alert = hotspots.raise_alert(
        session, principal, body.key, days=body.days, level=WarningLevel(body.level), note=body.note
    )
    return alert_views.page(session, principal, [alert], detail=True)[0]


# ---------------------------------------------------------------- classifier models


@router.get("/dispatch/models", response_model=list[ModelOut])
def list_models(principal: PrincipalDep, session: SessionDep) -> list[ModelOut]:
    """Trained classifier versions, newest first; at most one is active."""
    return [ModelOut.model_validate(m, from_attributes=True) for m in service.list_models(session, principal)]


@router.post("/dispatch/models/retrain", response_model=ModelOut, status_code=status.HTTP_201_CREATED)
def retrain(body: RetrainIn, principal: PrincipalDep, session: SessionDep, settings: SettingsDep) -> ModelOut:
    """Train a new version on the hub's handled and corrected events (may take a minute on a large hub);
    it becomes active unless it is worse than the active one on the same held-back events."""
    row = service.retrain(
        session, principal, settings.data_dir, target_precision=body.target_precision, seed=body.seed
    )
    return ModelOut.model_validate(row, from_attributes=True)


@router.post("/dispatch/models/{version}/activate", response_model=ModelOut)
def activate_model(
    version: Annotated[str, Path(max_length=60)], principal: PrincipalDep, session: SessionDep
) -> ModelOut:
    """Make a version the active one (e.g. roll back to the previous model)."""
    return ModelOut.model_validate(service.activate(session, principal, version), from_attributes=True)
