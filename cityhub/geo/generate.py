"""Generate plausible street, community and grid boundaries where a city only publishes codes and names.

The demo city has real district boundaries but no street boundaries and no grids. Each parent polygon is split
into the wanted number of cells with a centroidal Voronoi tessellation: seed points are refined by Lloyd's
algorithm (k-means over points sampled uniformly inside the parent), which makes the cells compact and of
roughly equal area, then the Voronoi cells are clipped to the parent. Voronoi cells partition the plane, so
the clipped cells cover the parent exactly without overlapping. Everything is seeded: the same seed gives the
same city.

Generated boundaries are fiction for demos and tests; they must never be shown as official boundaries.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPoint, MultiPolygon
from shapely.geometry.base import BaseGeometry

from cityhub.geo.crs import FloatArray
from cityhub.geo.spatial import Level

DEFAULT_COMMUNITIES_PER_STREET = 3
DEFAULT_GRIDS_PER_COMMUNITY = 3
_LLOYD_ITERATIONS = 12
_SAMPLES_PER_CELL = 250
_MIN_SAMPLES = 600


@dataclass(frozen=True)
class AreaRecord:
    """One node of the area tree with its WGS-84 boundary.

    `center` (lon, lat) is where to put the label or centre the map: the seat of government when the source
    gives one (DataV districts), otherwise a point inside the boundary.
    """

    code: str
    name: str
    level: str
    parent_code: str | None
    geometry: BaseGeometry
    center: tuple[float, float]


def partition(geom: BaseGeometry, n: int, rng: np.random.Generator) -> list[BaseGeometry]:
    """Split a (Multi)Polygon into `n` compact, roughly equal-area cells that cover it exactly.

    Every cell is a valid, non-empty Polygon or MultiPolygon (a cell may take in a nearby island).
    """
    if n < 1:
        raise ValueError(f"cannot split an area into {n} cells")
    if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise ValueError("only non-empty Polygon or MultiPolygon geometries can be partitioned")
    if n == 1:
        return [geom]
    # Work in a plane where a unit is the same distance east-west as north-south, so cells are compact on
    # the ground rather than in degrees (a degree of longitude is ~0.8 of a degree of latitude in Qingdao).
    kx = math.cos(math.radians(shapely.centroid(geom).y))
    samples = _sample_inside(_seed_region(geom, n), max(_MIN_SAMPLES, _SAMPLES_PER_CELL * n), rng)
    samples[:, 0] *= kx
    seeds = _lloyd(samples, n, rng)
    return _clipped_voronoi(geom, seeds, kx)


def label_point(geom: BaseGeometry) -> tuple[float, float]:
    """A point inside `geom` for labels and map centring.

    The largest part's centroid when it lies inside, otherwise a point on that part's surface.
    """
    parts = list(shapely.get_parts(geom))
    largest = max(parts, key=lambda p: p.area)
    point = largest.centroid
    if not largest.contains(point):
        point = largest.point_on_surface()
    return float(point.x), float(point.y)


def polygonal(geom: BaseGeometry) -> BaseGeometry:
    """The areal part of `geom` as a valid Polygon or MultiPolygon; ValueError if nothing areal is left.

    Repairs invalid rings with make_valid and drops the stray points and lines an intersection leaves where
    two shapes merely touch.
    """
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    parts: list[BaseGeometry] = []
    for part in shapely.get_parts(geom):
        if part.geom_type == "MultiPolygon":
            parts.extend(part.geoms)
        elif part.geom_type == "Polygon" and part.area > 0:
            parts.append(part)
    if not parts:
        raise ValueError("the geometry has no area")
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def split_area(
    parent: AreaRecord, children: Sequence[tuple[str, str]], level: str, *, seed: int = 0
) -> list[AreaRecord]:
    """Give each (code, name) child of `parent` a generated cell of the parent's boundary.

    Children are matched to cells in order of distance from the parent's center, so the first codes get the
    cells nearest the seat: GB/T 2260 numbers 街道 (0xx) before 镇 (1xx), which puts the urban streets around
    the district government and the towns further out, as in most real districts.
    """
    if not children:
        return []
    cells = partition(parent.geometry, len(children), _rng(seed, parent.code))
    placed = sorted(((label_point(c), c) for c in cells), key=lambda pc: _distance2(parent.center, pc[0]))
    return [
        AreaRecord(code, name, Level(level).value, parent.code, cell, center)
        for (code, name), (center, cell) in zip(children, placed, strict=True)
    ]


def community_children(street: AreaRecord, count: int, *, seed: int = 0) -> list[tuple[str, str]]:
    """Codes (street code + 3-digit serial from 001: GB/T 2260's twelve digits) and names for communities."""
    names = _community_names(street.name, count, _rng(seed, "names:" + street.code))
    return [(f"{street.code}{i:03d}", name) for i, name in enumerate(names, start=1)]


def grid_children(community: AreaRecord, count: int) -> list[tuple[str, str]]:
    """Codes (community code + 3-digit serial) and names (`<community>第N网格`) for a community's grids."""
    return [
        (f"{community.code}{i:03d}", f"{community.name}第{chinese_numeral(i)}网格")
        for i in range(1, count + 1)
    ]


def generate_tree(
    districts: Sequence[AreaRecord],
    streets: Sequence[tuple[str, str, str]],
    *,
    seed: int = 0,
    communities_per_street: int = DEFAULT_COMMUNITIES_PER_STREET,
    grids_per_community: int = DEFAULT_GRIDS_PER_COMMUNITY,
) -> list[AreaRecord]:
    """Generate streets (from (code, name, district code) rows), their communities and their grids.

    Returns streets, then communities, then grids, each sorted by code, so parents always precede children.
    Each parent draws from its own random stream (seed + parent code), so adding a district does not change
    the cells generated for the others.
    """
    _check_counts(communities_per_street, grids_per_community)
    by_district: dict[str, list[tuple[str, str]]] = {}
    for code, name, district_code in streets:
        by_district.setdefault(district_code, []).append((code, name))
    unknown = sorted(set(by_district) - {d.code for d in districts})
    if unknown:
        raise ValueError(f"streets refer to districts that were not given: {', '.join(unknown)}")
    street_records = _sorted(
        [r for d in districts for r in split_area(d, by_district.get(d.code, []), Level.STREET, seed=seed)]
    )
    communities = _sorted(
        [
            r
            for s in street_records
            for r in split_area(
                s, community_children(s, communities_per_street, seed=seed), Level.COMMUNITY, seed=seed
            )
        ]
    )
    grids = _sorted(
        [
            r
            for c in communities
            for r in split_area(c, grid_children(c, grids_per_community), Level.GRID, seed=seed)
        ]
    )
    return street_records + communities + grids


def chinese_numeral(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 25 → 二十五 (1…99); larger numbers stay Arabic."""
    digits = "零一二三四五六七八九"
    if not 1 <= n <= 99:
        return str(n)
    tens, ones = divmod(n, 10)
    if tens == 0:
        return digits[ones]
    head = "十" if tens == 1 else digits[tens] + "十"
    return head + (digits[ones] if ones else "")


# Name pools for generated communities. Urban 社区 are typically named after a road, an estate or an
# auspicious phrase; rural communities in Shandong's towns grew out of villages such as 王家疃 or 李家庄.
_URBAN_STEMS = (
    "福州", "南京", "徐州", "镇江", "桂林", "太平", "延安", "宁夏", "燕儿岛", "金湖", "云霄", "香港",
    "锦华", "明珠", "海岸", "翠湖", "阳光", "和平", "幸福", "长安", "兴隆", "东方", "春和", "金海",
    "丽景", "华阳", "绿城", "南山", "清风", "瑞安", "嘉和", "泰和", "万福", "永宁", "新华", "朝阳",
)  # fmt: skip
_URBAN_SUFFIXES = ("路社区", "花园社区", "新村社区", "苑社区", "里社区", "家园社区", "山庄社区", "湾社区")
_RURAL_SURNAMES = (
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "孙", "马", "朱", "胡", "郭", "高",
    "林", "于", "姜", "宋", "邵", "崔", "孔", "韩",
)  # fmt: skip
_RURAL_SUFFIXES = ("家庄社区", "家疃社区", "家村社区", "家屯社区", "家埠社区")


def _community_names(street_name: str, count: int, rng: np.random.Generator) -> list[str]:
    """`count` distinct, realistic names, deterministic for a given random stream."""
    if street_name.endswith("镇"):
        pool = [s + suffix for s in _RURAL_SURNAMES for suffix in _RURAL_SUFFIXES]
    else:
        pool = [s + suffix for s in _URBAN_STEMS for suffix in _URBAN_SUFFIXES]
    picked = [pool[int(i)] for i in rng.permutation(len(pool))[:count]]
    # More communities than the pool holds only happens with unusual settings; number the rest.
    stem = street_name.removesuffix("街道").removesuffix("镇")
    picked += [f"{stem}第{chinese_numeral(i)}社区" for i in range(len(picked) + 1, count + 1)]
    return picked


def _distance2(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Squared ground distance in degrees of latitude (longitude shrunk by cos(latitude))."""
    kx = math.cos(math.radians(a[1]))
    return ((a[0] - b[0]) * kx) ** 2 + (a[1] - b[1]) ** 2


def _rng(seed: int, key: str) -> np.random.Generator:
    # crc32 rather than hash(): str hashes are salted per process, which would break determinism.
    return np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])


def _sorted(records: list[AreaRecord]) -> list[AreaRecord]:
    return sorted(records, key=lambda r: r.code)


def _check_counts(communities_per_street: int, grids_per_community: int) -> None:
    # Three-digit serials: 999 is the most a parent can hold.
    for label, value in (
        ("communities_per_street", communities_per_street),
        ("grids_per_community", grids_per_community),
    ):
        if not 1 <= value <= 999:
            raise ValueError(f"{label} must be between 1 and 999, got {value}")


def _seed_region(geom: BaseGeometry, n: int) -> BaseGeometry:
    """The parts of `geom` big enough to deserve a cell of their own.

    k-means spends a centre on any remote cluster of samples, so a far-off islet would become a cell of 2 %
    of the parent's area. Parts smaller than half a cell get no seed; the Voronoi clip still gives them to
    the nearest cell. An archipelago of small parts keeps them all.
    """
    parts = list(shapely.get_parts(geom))
    big = [p for p in parts if p.area >= 0.5 * geom.area / n]
    if sum(p.area for p in big) < 0.5 * geom.area:
        return geom
    return big[0] if len(big) == 1 else MultiPolygon(big)


def _sample_inside(geom: BaseGeometry, count: int, rng: np.random.Generator) -> FloatArray:
    """`count` points drawn uniformly inside `geom` (rejection sampling in its bounding box)."""
    shapely.prepare(geom)
    minx, miny, maxx, maxy = geom.bounds
    found: list[FloatArray] = []
    total = 0
    for _ in range(1000):
        batch = rng.uniform((minx, miny), (maxx, maxy), size=(count, 2))
        batch = batch[shapely.contains_xy(geom, batch[:, 0], batch[:, 1])]
        found.append(batch)
        total += len(batch)
        if total >= count:
            return np.concatenate(found)[:count]
    raise ValueError("could not sample points inside the geometry: is it degenerate?")


def _lloyd(samples: FloatArray, n: int, rng: np.random.Generator) -> FloatArray:
    """k-means over uniform samples (Lloyd's algorithm), returning `n` distinct seed points, each a sample.

    Snapping each final centre to the nearest sample of its own cluster keeps seeds inside the parent (a
    centroid of a crescent-shaped cluster may fall outside), so every clipped Voronoi cell is non-empty.
    """
    centres = _kmeans_plus_plus(samples, n, rng)
    previous: NDArray[np.intp] | None = None
    for _ in range(_LLOYD_ITERATIONS):
        labels = _nearest_centre(samples, centres)
        if previous is not None and np.array_equal(labels, previous):
            break  # converged: the centres would not move again
        previous = labels
        counts = np.bincount(labels, minlength=n)
        occupied = counts > 0
        for axis in (0, 1):
            sums = np.bincount(labels, weights=samples[:, axis], minlength=n)
            centres[occupied, axis] = sums[occupied] / counts[occupied]
    return _snap_to_samples(samples, centres)


def _kmeans_plus_plus(samples: FloatArray, n: int, rng: np.random.Generator) -> FloatArray:
    """k-means++ initial centres: spread out, so Lloyd's algorithm starts near a good tessellation."""
    chosen = [int(rng.integers(len(samples)))]
    d2 = np.sum((samples - samples[chosen[0]]) ** 2, axis=1)
    for _ in range(1, n):
        total = float(d2.sum())
        index = int(rng.choice(len(samples), p=d2 / total)) if total > 0 else int(rng.integers(len(samples)))
        chosen.append(index)
        d2 = np.minimum(d2, np.sum((samples - samples[index]) ** 2, axis=1))
    centres: FloatArray = samples[chosen].copy()
    return centres


def _nearest_centre(samples: FloatArray, centres: FloatArray) -> NDArray[np.intp]:
    # |s − c|² = |s|² − 2 s·c + |c|²; |s|² is the same for every centre, so it can be left out of the argmin.
    score = (centres**2).sum(axis=1) - 2.0 * (samples @ centres.T)
    labels: NDArray[np.intp] = np.argmin(score, axis=1)
    return labels


def _snap_to_samples(samples: FloatArray, centres: FloatArray) -> FloatArray:
    labels = _nearest_centre(samples, centres)
    used: set[int] = set()
    seeds = np.empty_like(centres)
    for j, centre in enumerate(centres):
        d2 = np.sum((samples - centre) ** 2, axis=1)
        own = labels == j
        # Prefer the centre's own cluster; a centre that lost all its samples takes the nearest free sample.
        if own.any():
            d2[~own] = np.inf
        d2[list(used)] = np.inf
        index = int(np.argmin(d2))
        used.add(index)
        seeds[j] = samples[index]
    return seeds


def _clipped_voronoi(geom: BaseGeometry, seeds: FloatArray, kx: float) -> list[BaseGeometry]:
    """Voronoi cells of `seeds` (in the scaled plane), scaled back to degrees and clipped to `geom`."""
    minx, miny, maxx, maxy = geom.bounds
    pad = max(maxx - minx, maxy - miny)
    frame = shapely.box((minx - pad) * kx, miny - pad, (maxx + pad) * kx, maxy + pad)
    diagram = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=frame, ordered=True)
    cells = shapely.transform(shapely.get_parts(diagram), lambda xy: xy / np.array([kx, 1.0]))
    return [polygonal(cell) for cell in shapely.intersection(cells, geom)]
