"""Bulk import of entities from CSV and GeoJSON (API and ``cityhub entities import``).

Columns (CSV) or properties (GeoJSON): ``code`` (optional: allocated when absent), ``type``, ``area``,
``name``, ``lon``/``lat`` (CSV; GeoJSON takes the feature's geometry), ``crs`` (per row; else the import's),
``source_id`` (the record's id in the source system); every other column is an attribute of the type.
Rows are upserted by code, each in its own savepoint: a bad row is reported with its line and the rest load.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from cityhub.access.principal import Principal
from cityhub.entities import service
from cityhub.entities import types as entity_types
from cityhub.entities.schemas import EntityIn, EntityPatch, PointIn, SourceIn
from cityhub.geo.crs import CRS
from cityhub.kit import csvtext
from cityhub.kit.errors import CityHubError, Unprocessable

RESERVED = frozenset({"code", "type", "area", "name", "lon", "lat", "crs", "source_id"})
MAX_ROWS = 200_000
MAX_REPORTED = 1_000


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)


Row = tuple[int, dict[str, Any], dict[str, Any] | None]  # line, properties, GeoJSON geometry


def read(content: bytes, filename: str = "") -> Iterator[Row]:
    """Rows of a CSV (UTF-8, with or without BOM) or a GeoJSON FeatureCollection, told apart by content."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unprocessable(f"{filename or 'the file'} is not UTF-8 text: {exc}") from exc
    if text.lstrip().startswith("{"):
        return _geojson_rows(text)
    return _csv_rows(text)


def _csv_rows(text: str) -> Iterator[Row]:
    reader = csvtext.records(text)
    if not reader.fieldnames or "name" not in reader.fieldnames:
        raise Unprocessable("the CSV needs a header row with at least a `name` column (and `type` or `code`)")
    for number, row in enumerate(reader, start=2):
        if number - 1 > MAX_ROWS:
            raise Unprocessable(f"more than {MAX_ROWS} rows: split the file")
        if None in row:
            yield number, {"__error__": "more cells than header columns"}, None
            continue
        yield number, {k.strip(): (v or "").strip() for k, v in row.items() if k}, None


def _geojson_rows(text: str) -> Iterator[Row]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Unprocessable(f"not valid JSON: {exc}") from exc
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        raise Unprocessable("GeoJSON must be a FeatureCollection with a `features` array")
    if len(features) > MAX_ROWS:
        raise Unprocessable(f"more than {MAX_ROWS} features: split the file")
    for number, feature in enumerate(features, start=1):
        if not isinstance(feature, dict) or not isinstance(feature.get("properties") or {}, dict):
            yield number, {"__error__": "a feature must be an object with object properties"}, None
            continue
        geometry = feature.get("geometry")
        yield number, dict(feature.get("properties") or {}), geometry if isinstance(geometry, dict) else None


def import_rows(
    session: Session,
    principal: Principal,
    rows: Iterator[Row],
    *,
    crs: CRS = CRS.WGS84,
    source: str | None = None,
    type_code: str | None = None,
) -> ImportReport:
    """Upsert every row by code; collect per-row errors instead of failing the whole file."""
    report = ImportReport()
    for line, props, geometry in rows:
        try:
            with session.begin_nested():
                code, created = _import_one(session, principal, props, geometry, crs, source, type_code)
        except CityHubError as exc:
            report.errors.append((line, exc.message))
            continue
        except ValidationError as exc:
            report.errors.append((line, _pydantic_message(exc)))
            continue
        report.created += created
        report.updated += not created
        if len(report.codes) < MAX_REPORTED:
            report.codes.append(code)
    return report


def _import_one(
    session: Session,
    principal: Principal,
    props: dict[str, Any],
    geometry: dict[str, Any] | None,
    crs: CRS,
    source: str | None,
    type_code: str | None,
) -> tuple[str, bool]:
    if "__error__" in props:
        raise Unprocessable(str(props["__error__"]))
    row_crs = CRS(props["crs"]) if props.get("crs") else crs
    attributes = {k: v for k, v in props.items() if k not in RESERVED and v not in (None, "")}
    point = _point(props)
    code = str(props.get("code") or "").strip()
    existing = service.by_code(session, service.parse_code(code).code) if code else None
    if existing is None:
        entity = service.create(
            session,
            principal,
            EntityIn(
                code=code or None,
                type=str(props.get("type") or type_code or "") or None,
                area=str(props["area"]) if props.get("area") else None,
                name=str(props.get("name") or ""),
                location=point,
                geometry=geometry if point is None else None,
                crs=row_crs,
                attributes=attributes,
            ),
        )
    else:
        entity = existing
        service.update(
            session,
            principal,
            entity.code,
            EntityPatch(
                name=str(props["name"]) if props.get("name") else None,
                location=point,
                geometry=geometry if point is None else None,
                crs=row_crs,
                attributes=_registry_owned(entity.type, attributes, source, existing=True),
            ),
        )
    if source:
        record_id = str(props.get("source_id") or entity.code)
        service.record_source(
            session,
            principal,
            entity.code,
            SourceIn(system=source, record_id=record_id, attributes=attributes),
        )
    return entity.code, existing is None


def _registry_owned(
    type_code: str, attributes: dict[str, Any], source: str | None, *, existing: bool
) -> dict[str, Any]:
    """On create every attribute is taken (the source record then claims its own). On update only the ones
    the registry owns: the others change through their source system's record (一数一源)."""
    spec = entity_types.get(type_code)
    if not existing or spec is None:
        return attributes
    owned = {k for k in attributes if (a := spec.by_name.get(k)) is not None and a.source}
    if owned and source is None:
        owners = ", ".join(f"{k} ← {spec.by_name[k].source}" for k in sorted(owned))
        raise Unprocessable(f"one datum, one source (一数一源): {owners}; import with --source SYSTEM")
    return {k: v for k, v in attributes.items() if k not in owned}


def _point(props: dict[str, Any]) -> PointIn | None:
    lon, lat = props.get("lon"), props.get("lat")
    if lon in (None, "") and lat in (None, ""):
        return None
    try:
        return PointIn(lon=float(str(lon)), lat=float(str(lat)))
    except ValueError as exc:
        raise Unprocessable(f"lon/lat must be numbers in range, got {lon!r}, {lat!r}") from exc


def _pydantic_message(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()[:5]
    )
