"""Point-in-area lookup over the area tree: which city, district, street, community and grid contain a point.

All geometries are WGS-84 longitude/latitude. Lookups use a shapely STRtree for the bounding-box pass and
prepared geometries (`shapely.prepare`) for the exact test: about 30 µs per `locate` over Qingdao's 1 844
areas.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from cityhub.geo.crs import FloatArray, validate_lon_lat

_EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius
_METRES_PER_DEGREE = _EARTH_RADIUS_M * math.pi / 180.0


class Level(StrEnum):
    """Levels of the area tree, coarsest first (the order matters: `locate` resolves top-down)."""

    PROVINCE = "province"
    CITY = "city"
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"


def infer_level(code: str) -> Level:
    """Infer the level from a GB/T 2260-style code.

    Six digits: 省 `xx0000`, 市 `xxxx00`, otherwise 区县; nine digits: 街道/乡镇; twelve: 社区/村; longer
    codes are the city's own grids (community code + serial).
    """
    if not code.isdigit():
        raise ValueError(f"cannot infer the level of area code {code!r}: it is not all digits")
    if len(code) == 2 or (len(code) == 6 and code.endswith("0000")):
        return Level.PROVINCE
    if len(code) == 4 or (len(code) == 6 and code.endswith("00")):
        return Level.CITY
    by_length = {6: Level.DISTRICT, 9: Level.STREET, 12: Level.COMMUNITY}
    if len(code) in by_length:
        return by_length[len(code)]
    if len(code) > 12:
        return Level.GRID
    raise ValueError(f"cannot infer the level of area code {code!r}: expected 6, 9, 12 or more digits")


def code_prefix(code: str) -> str:
    """The part of a code that its descendants share: `370200` → `3702`, `370000` → `37`, others unchanged."""
    if len(code) == 6 and code.isdigit():
        if code.endswith("0000"):
            return code[:2]
        if code.endswith("00"):
            return code[:4]
    return code


class AreaLike(Protocol):
    """Anything with a code, a level and a WGS-84 geometry (`AreaShape`, `generate.AreaRecord`, ORM rows…)."""

    @property
    def code(self) -> str: ...

    @property
    def level(self) -> str: ...

    @property
    def geometry(self) -> BaseGeometry: ...


@dataclass(frozen=True)
class AreaShape:
    """One area's boundary, the minimum `AreaIndex` needs."""

    code: str
    level: str
    geometry: BaseGeometry


@dataclass(frozen=True)
class NearestArea:
    """Result of `AreaIndex.nearest`: the closest area of a level and its distance in metres."""

    code: str
    distance_m: float


class AreaIndex:
    """Spatial index over areas of several levels.

    Points exactly on a border shared by two areas of the same level are resolved deterministically: levels
    are resolved coarsest first; an area whose code extends the code chosen one level up wins (so a border
    point never gets the street of one district and the other district), then the smallest code.
    """

    def __init__(self, areas: Iterable[AreaLike]) -> None:
        items = list(areas)
        self._codes = [a.code for a in items]
        self._levels = [Level(a.level) for a in items]
        _check_unique(self._codes)
        self._geometries = np.array([_checked_geometry(a) for a in items], dtype=object)
        shapely.prepare(self._geometries)
        self._tree = shapely.STRtree(self._geometries)
        # (west, south, east, north) around every area; None without areas.
        self._bounds = tuple(shapely.total_bounds(self._geometries)) if items else None

    def __len__(self) -> int:
        return len(self._codes)

    def degrees_outside(self, lon: float, lat: float) -> float:
        """How far the point lies outside the box around every area, in degrees (0 inside; 0 with no
        areas)."""
        if self._bounds is None:
            return 0.0
        west, south, east, north = self._bounds
        return float(max(west - lon, lon - east, south - lat, lat - north, 0.0))

    @property
    def levels(self) -> list[Level]:
        """The levels present in the index, coarsest first."""
        present = set(self._levels)
        return [level for level in Level if level in present]

    def locate(self, lon: float, lat: float) -> dict[str, str]:
        """Map each level to the code of the area containing (lon, lat); levels with no such area are absent.

        Points on a boundary count as inside (a point on a coastline belongs to its district).
        """
        validate_lon_lat(lon, lat)
        candidates = self._tree.query(shapely.points(lon, lat))
        if candidates.size == 0:
            return {}
        hits: NDArray[np.intp] = candidates[shapely.intersects_xy(self._geometries[candidates], lon, lat)]
        return self._resolve(hits)

    def nearest(self, lon: float, lat: float, level: str, max_m: float) -> str | None:
        """The code of the area of `level` closest to (lon, lat) within `max_m` metres, or None.

        Meant for points just outside the mapped areas: on a coast, on a pier, or beyond a simplified
        boundary. An area containing the point is at 0 m; equally near areas resolve to the smallest code.
        """
        found = self.nearest_area(lon, lat, level, max_m)
        return found.code if found else None

    def nearest_area(self, lon: float, lat: float, level: str, max_m: float) -> NearestArea | None:
        """Like `nearest`, with the distance in metres.

        Distances are measured in a local equirectangular plane centred on the point (metres, not degrees:
        a degree of longitude is ~20 % shorter than one of latitude in Qingdao), accurate to about 0.1 % over
        the few kilometres this is meant for.
        """
        validate_lon_lat(lon, lat)
        if max_m < 0:
            raise ValueError(f"max_m must be ≥ 0, got {max_m}")
        wanted = Level(level)
        box = _search_box(lon, lat, max_m)
        best: NearestArea | None = None
        for i in sorted(self._tree.query(box).tolist(), key=lambda j: self._codes[j]):
            if self._levels[i] is not wanted:
                continue
            distance = _distance_m(self._geometries[i], lon, lat, box)
            if distance <= max_m and (best is None or distance < best.distance_m):
                best = NearestArea(self._codes[i], distance)
        return best

    def _resolve(self, hits: NDArray[np.intp]) -> dict[str, str]:
        by_level: dict[Level, list[str]] = {}
        for i in hits:
            by_level.setdefault(self._levels[i], []).append(self._codes[i])
        result: dict[str, str] = {}
        parent: str | None = None
        for level in Level:
            codes = by_level.get(level)
            if not codes:
                continue
            chosen = _pick(codes, parent)
            result[level.value] = chosen
            parent = chosen
        return result


def _pick(codes: list[str], parent: str | None) -> str:
    """Deterministic choice among areas of one level that all contain the point (i.e. a border point)."""
    if len(codes) == 1:
        return codes[0]
    if parent is not None:
        prefix = code_prefix(parent)
        children = [c for c in codes if c.startswith(prefix)]
        if children:
            return min(children)
    return min(codes)


def _check_unique(codes: list[str]) -> None:
    seen: set[str] = set()
    for code in codes:
        if code in seen:
            raise ValueError(f"area code {code!r} appears more than once")
        seen.add(code)


def _checked_geometry(area: AreaLike) -> BaseGeometry:
    geom = area.geometry
    if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise ValueError(f"area {area.code}: geometry must be a non-empty Polygon or MultiPolygon")
    return geom


def _search_box(lon: float, lat: float, max_m: float) -> BaseGeometry:
    """A lon/lat box that contains every point within `max_m` metres of (lon, lat)."""
    dlat = max_m / _METRES_PER_DEGREE
    # Use the larger cosine of the box's two edges so the box is never too narrow.
    cos_lat = max(math.cos(math.radians(min(abs(lat) + dlat, 89.9))), 1e-6)
    dlon = min(dlat / cos_lat, 360.0)
    box: BaseGeometry = shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)
    return box


def _distance_m(geom: BaseGeometry, lon: float, lat: float, box: BaseGeometry) -> float:
    """Metres from (lon, lat) to `geom`, measured in a local equirectangular plane centred on the point.

    The geometry is clipped to the search box first so that only a few vertices are projected.
    """
    if shapely.intersects_xy(geom, lon, lat):
        return 0.0
    near: BaseGeometry = shapely.clip_by_rect(geom, *box.bounds)
    if near.is_empty:
        return math.inf
    kx = _METRES_PER_DEGREE * math.cos(math.radians(lat))

    def to_local(coords: FloatArray) -> FloatArray:
        return np.column_stack(((coords[:, 0] - lon) * kx, (coords[:, 1] - lat) * _METRES_PER_DEGREE))

    local: BaseGeometry = shapely.transform(near, to_local)
    return float(shapely.distance(local, shapely.points(0.0, 0.0)))
