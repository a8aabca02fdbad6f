"""The area tree, boundaries as GeoJSON and point-in-area lookup."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from cityhub.access.deps import PrincipalDep, SessionDep
from cityhub.geo import service
from cityhub.geo.crs import CRS
from cityhub.models.area import Area, AreaLevel

router = APIRouter(tags=["geography"])


class AreaOut(BaseModel):
    id: int
    code: str
    name: str
    level: str
    parent_id: int | None
    center_lon: float | None
    center_lat: float | None


class LocateOut(BaseModel):
    lon: float | None
    lat: float | None
    areas: dict[str, AreaOut]


@router.get("/areas", response_model=list[AreaOut])
def list_areas(
    _principal: PrincipalDep,
    session: SessionDep,
    level: AreaLevel | None = None,
    parent: Annotated[str | None, Query(max_length=20, description="parent area code")] = None,
) -> list[AreaOut]:
    """Areas by level and/or parent code."""
    stmt = select(Area).order_by(Area.code)
    if level is not None:
        stmt = stmt.where(Area.level == level)
    if parent is not None:
        stmt = stmt.where(Area.parent_id == service.get_area(session, parent).id)
    return [AreaOut.model_validate(a, from_attributes=True) for a in session.scalars(stmt)]


@router.get("/areas/{code}", response_model=AreaOut)
def get_area(code: str, _principal: PrincipalDep, session: SessionDep) -> AreaOut:
    """One area by its code."""
    return AreaOut.model_validate(service.get_area(session, code), from_attributes=True)


@router.get("/areas/{code}/children.geojson")
def children_geojson(code: str, _principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    """The boundaries of an area's children as a GeoJSON FeatureCollection (WGS-84), for maps."""
    parent = service.get_area(session, code)
    return service.feature_collection(service.with_boundaries(session, Area.parent_id == parent.id))


@router.get("/geo/locate", response_model=LocateOut)
def locate(
    _principal: PrincipalDep,
    session: SessionDep,
    lon: Annotated[float, Query(ge=-180, le=180)],
    lat: Annotated[float, Query(ge=-90, le=90)],
    crs: CRS = CRS.WGS84,
) -> LocateOut:
    """Which district, street, community and grid a point lies in (the point is converted to WGS-84)."""
    found = service.locate(session, lon, lat, crs)
    areas = {
        str(level): AreaOut.model_validate(session.get(Area, area_id), from_attributes=True)
        for level, area_id in found.areas.items()
    }
    return LocateOut(lon=found.lon, lat=found.lat, areas=areas)
