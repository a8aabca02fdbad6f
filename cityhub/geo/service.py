"""Persisting the area tree and answering "which district, street, community and grid is this?"."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from shapely.geometry import mapping, shape
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, undefer

from cityhub.geo.crs import CRS, to_wgs84
from cityhub.geo.generate import AreaRecord
from cityhub.geo.spatial import AreaIndex, AreaShape
from cityhub.kit.cache import PerDatabase
from cityhub.kit.errors import BadRequest, NotFound, Unprocessable
from cityhub.models.area import Area, AreaLevel

NEAREST_TOLERANCE_M = 2_000.0
# A point this far (degrees, ~50 km) beyond the box around the hub's areas cannot be in its city: a
# mistyped, swapped (lat, lon) or wrongly declared coordinate, refused where things are placed in the city.
FAR_OUTSIDE_DEG = 0.5


@dataclass(frozen=True)
class Located:
    """The areas a point or an address falls in, by level (area ids)."""

    areas: dict[AreaLevel, int]
    lon: float | None = None
    lat: float | None = None

    def get(self, level: AreaLevel) -> int | None:
        return self.areas.get(level)


def import_records(session: Session, records: Sequence[AreaRecord]) -> int:
    """Insert or update areas by code; parents must come before their children or already exist."""
    by_code = {a.code: a for a in session.scalars(select(Area))}
    for record in records:
        parent = by_code.get(record.parent_code) if record.parent_code else None
        if record.parent_code and parent is None:
            raise BadRequest(f"area {record.code}: parent {record.parent_code} is unknown; import it first")
        if parent is not None and parent.id is None:
            session.flush()
        area = by_code.get(record.code) or Area(code=record.code)
        area.name = record.name
        area.level = AreaLevel(record.level)
        area.parent_id = parent.id if parent is not None else None
        area.geometry = json.dumps(mapping(record.geometry), ensure_ascii=False)
        area.center_lon, area.center_lat = record.center
        if area.id is None:
            session.add(area)
            by_code[record.code] = area
    session.flush()
    return len(records)


@dataclass(frozen=True)
class _Tree:
    """The boundaries' spatial index and each area's id, level and parent, kept in memory."""

    index: AreaIndex
    by_code: dict[str, int]
    nodes: dict[int, tuple[AreaLevel, int | None]]  # id → (level, parent id)

    def areas(self, codes: Iterable[str]) -> dict[AreaLevel, int]:
        return {self.nodes[i][0]: i for code in codes if (i := self.by_code.get(code)) is not None}

    def with_ancestors(self, code: str) -> dict[AreaLevel, int]:
        out: dict[AreaLevel, int] = {}
        area_id = self.by_code.get(code)
        while area_id is not None and area_id not in out.values():
            level, parent = self.nodes[area_id]
            out[level] = area_id
            area_id = parent
        return out


def _build(session: Session) -> _Tree:
    shapes: list[AreaShape] = []
    by_code: dict[str, int] = {}
    nodes: dict[int, tuple[AreaLevel, int | None]] = {}
    for area in session.scalars(select(Area).options(undefer(Area.geometry))):
        by_code[area.code] = area.id
        nodes[area.id] = (AreaLevel(area.level), area.parent_id)
        if area.geometry:
            shapes.append(AreaShape(area.code, str(area.level), shape(json.loads(area.geometry))))
    return _Tree(AreaIndex(shapes), by_code, nodes)


_cache = PerDatabase(_build)


@dataclass(frozen=True)
class AreaRow:
    """What the event views show of an area."""

    id: int
    code: str
    name: str


def _rows(session: Session) -> dict[int, AreaRow]:
    return {
        r.id: AreaRow(r.id, r.code, r.name) for r in session.execute(select(Area.id, Area.code, Area.name))
    }


_rows_cache = PerDatabase(_rows)


def area_rows(session: Session) -> dict[int, AreaRow]:
    """Every area's id, code and name (kept in memory: every event shown names its areas)."""
    return _rows_cache.get(session)


def locate(session: Session, lon: float, lat: float, crs: CRS = CRS.WGS84) -> Located:
    """Convert the point to WGS-84 and find every area containing it (or the nearest, on a border)."""
    try:
        wlon, wlat = to_wgs84(lon, lat, crs)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    tree = _cache.get(session)
    found = tree.index.locate(wlon, wlat)
    if not found:
        # Simplified boundaries leave slivers along coasts and borders: take the nearest grid close by.
        near = tree.index.nearest(wlon, wlat, AreaLevel.GRID.value, NEAREST_TOLERANCE_M)
        if near is not None:
            return Located(tree.with_ancestors(near), wlon, wlat)
    return Located(tree.areas(found.values()), wlon, wlat)


def place(session: Session, lon: float, lat: float, crs: CRS = CRS.WGS84) -> Located:
    """``locate`` for something being placed in the city (a report, a registered object): a point far
    outside every area is refused (422) rather than stored beside areas it does not lie in."""
    located = locate(session, lon, lat, crs)
    assert located.lon is not None and located.lat is not None
    if (
        not located.areas
        and _cache.get(session).index.degrees_outside(located.lon, located.lat) > FAR_OUTSIDE_DEG
    ):
        raise Unprocessable(
            f"the point ({lon}, {lat}) lies far outside the areas this hub covers: check the coordinates, "
            f"their order (longitude first) and their coordinate system (crs: {crs.value})"
        )
    return located


def resolve_address(session: Session, text: str) -> Located:
    """Match area names in free address text (longest names first), down the tree as far as it goes."""
    areas: dict[AreaLevel, int] = {}
    parent: int | None = None
    candidates = session.execute(select(Area.id, Area.name, Area.level, Area.parent_id)).all()
    for level in (AreaLevel.DISTRICT, AreaLevel.STREET, AreaLevel.COMMUNITY):
        names = sorted(
            (row for row in candidates if row.level == level and (parent is None or row.parent_id == parent)),
            key=lambda row: -len(row.name),
        )
        match = next((row for row in names if _name_in(row.name, text)), None)
        if match is None:
            break
        areas[level] = match.id
        parent = match.id
    return Located(areas)


def _name_in(name: str, text: str) -> bool:
    if name in text:
        return True
    # 市南区 is often written 市南; 香港中路街道 as 香港中路.
    for suffix in ("街道", "社区", "区", "镇"):
        if name.endswith(suffix) and len(name) - len(suffix) >= 2 and name[: -len(suffix)] in text:
            return True
    return False


def get_area(session: Session, code: str) -> Area:
    area = session.scalar(select(Area).where(Area.code == code))
    if area is None:
        raise NotFound(f"no area with code {code}")
    return area


def ancestors(session: Session, area: Area) -> list[Area]:
    chain = [area]
    while chain[-1].parent_id is not None:
        parent = session.get(Area, chain[-1].parent_id)
        if parent is None:
            break
        chain.append(parent)
    return chain


def with_boundaries(session: Session, *where: ColumnElement[bool]) -> list[Area]:
    """Areas with their boundaries loaded (the geometry is deferred otherwise), ordered by code."""
    stmt = select(Area).where(*where).options(undefer(Area.geometry)).order_by(Area.code)
    return list(session.scalars(stmt))


def feature_collection(areas: Sequence[Area]) -> dict[str, Any]:
    """Areas as a GeoJSON FeatureCollection (WGS-84), as the maps draw them."""
    features = [
        {
            "type": "Feature",
            "id": a.code,
            "properties": {"code": a.code, "name": a.name, "level": a.level},
            "geometry": json.loads(a.geometry) if a.geometry else None,
        }
        for a in areas
    ]
    return {"type": "FeatureCollection", "features": features}
