"""The city code registry (一码通城): register, find, relate and reconcile city objects.

Every code that comes in is parsed and checked (``codes.parse``); attributes are checked against their type's
declaration (``types.yaml``); a location is converted to WGS-84 and placed in the area tree. Attributes that
another system is the source of truth for (一数一源) change only through that system's source record.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from cityhub.access import policy
from cityhub.access.principal import Principal
from cityhub.access.reveal import revealed
from cityhub.entities import codes
from cityhub.entities import types as entity_types
from cityhub.entities.schemas import EntityIn, EntityPatch, PointIn, RelationIn, SourceIn
from cityhub.geo import service as geo
from cityhub.geo.crs import CRS, geometry_to_wgs84
from cityhub.kit.bus import publish_after_commit
from cityhub.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from cityhub.kit.timeutil import clock
from cityhub.models.area import Area, AreaLevel
from cityhub.models.entity import Entity, EntityRelation, EntityStatus, SourceRecord
from cityhub.org.service import principal_community
from cityhub.telemetry import catalog
from cityhub.telemetry.devices import cache as device_cache

REGISTRY = "registry"
CHANGED_TOPIC = "entities.changed"
MAX_RADIUS_M = 50_000.0
EARTH_RADIUS_M = 6_371_008.8
DEVICE_TYPE_ATTRIBUTE = "device_type"


def _changed(session: Session, changed: list[str]) -> None:
    """Drop cached device lookups now (this transaction may ingest next), elsewhere on commit."""
    device_cache.invalidate(changed)
    publish_after_commit(session, CHANGED_TOPIC, changed)


def parse_code(code: str) -> codes.CityCode:
    """Parse a code against the known entity types; a malformed code is a 422 naming what is wrong."""
    try:
        return codes.parse(code, entity_types.catalogue().codes)
    except codes.InvalidCode as exc:
        raise Unprocessable(str(exc), field="code") from exc


def entity_type(code: str) -> entity_types.EntityType:
    found = entity_types.get(code)
    if found is None:
        known = ", ".join(sorted(entity_types.catalogue().codes))
        raise Unprocessable(f"unknown entity type {code!r}; known: {known}", field="type")
    return found


# ---------------------------------------------------------------- reads


def get(session: Session, principal: Principal, code: str) -> Entity:
    """One entity this principal may read, by its (checked) code; hidden or absent is 404."""
    policy.authorize(principal, "entities.read")
    parsed = parse_code(code)
    entity = session.scalar(
        select(Entity).where(Entity.code == parsed.code, policy.readable_entities(principal))
    )
    if entity is None:
        raise NotFound(f"no entity {parsed.code}")
    return entity


def reveal(session: Session, principal: Principal, code: str, purpose: str) -> Entity:
    """A record's personal attributes (a registered person's) to be shown unmasked, for a grid worker of the
    person's community, who says why: the read and its purpose go to the audit log. An entity the principal
    may not read is 404, as when reading it."""
    entity = get(session, principal, code)
    spec = entity_type(entity.type)
    if not entity.personal:
        raise Unprocessable(
            f"{entity.code} is a {spec.name} ({spec.en}) and holds no personal data: nothing to reveal",
            field="code",
        )
    if not policy.sees_personal_entity(
        principal, entity.community_id, principal_community(session, principal)
    ):
        raise Forbidden(
            f"a {principal.role.label} ({principal.role}) may not see this person's personal data: only the "
            "grid workers of their community may (they are the ones who visit); ask them"
        )
    revealed(session, principal, "entities", str(entity.id), _personal_fields(session, entity, spec), purpose)
    return entity


def _personal_fields(session: Session, entity: Entity, spec: entity_types.EntityType) -> list[str]:
    """The personal attributes the record holds, in the registry or a source record: what a reveal shows."""
    held = set(entity.personal or {}).union(*(r.attributes for r in source_records(session, entity)))
    return [a.name for a in spec.attributes if a.personal and a.name in held]


def by_code(session: Session, code: str) -> Entity | None:
    """Service-to-service lookup (no principal): scenario packs, telemetry."""
    return session.scalar(select(Entity).where(Entity.code == code.strip().upper()))


@dataclass(frozen=True)
class EntityFilter:
    code: str | None = None
    type: str | None = None
    area: str | None = None
    near: tuple[float, float] | None = None
    crs: CRS = CRS.WGS84
    radius_m: float | None = None
    q: str | None = None
    status: EntityStatus | None = None
    attribute: tuple[str, str] | None = None


def search(
    session: Session, principal: Principal, f: EntityFilter, *, limit: int, offset: int
) -> tuple[list[tuple[Entity, float | None]], int]:
    """Entities by code, type, area, text and radius around a point; nearest first when a point is given."""
    policy.authorize(principal, "entities.read")
    query = select(Entity).where(policy.readable_entities(principal), *_conditions(session, f))
    if f.near is None:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(query.order_by(Entity.id).limit(limit).offset(offset)).all()
        return [(e, None) for e in rows], total
    return _search_near(session, query, f, limit=limit, offset=offset)


def _conditions(session: Session, f: EntityFilter) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if f.code:
        out.append(Entity.code == parse_code(f.code).code)
    if f.type:
        out.append(Entity.type == entity_type(f.type.upper()).code)
    if f.area:
        out.append(_in_area(geo.get_area(session, f.area)))
    if f.q:
        out.append(Entity.name.contains(f.q, autoescape=True))
    if f.status:
        out.append(Entity.status == f.status)
    if f.attribute:
        name, value = f.attribute
        out.append(Entity.attributes[name].as_string() == value)
    return out


def _in_area(area: Area) -> ColumnElement[bool]:
    level = AreaLevel(area.level)
    if level is AreaLevel.CITY:
        return Entity.area_id.in_(select(Area.id).where((Area.id == area.id) | (Area.parent_id == area.id)))
    column = {
        AreaLevel.DISTRICT: Entity.district_id,
        AreaLevel.STREET: Entity.street_id,
        AreaLevel.COMMUNITY: Entity.community_id,
        AreaLevel.GRID: Entity.grid_id,
    }[level]
    return (column == area.id) | (Entity.area_id == area.id)


def _search_near(
    session: Session, query: Any, f: EntityFilter, *, limit: int, offset: int
) -> tuple[list[tuple[Entity, float | None]], int]:
    assert f.near is not None
    radius = min(f.radius_m or 1_000.0, MAX_RADIUS_M)
    located = geo.locate(session, f.near[0], f.near[1], f.crs)
    lon, lat = float(located.lon or f.near[0]), float(located.lat or f.near[1])
    dlat = math.degrees(radius / EARTH_RADIUS_M)
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    # The bounding box runs on the (lat, lon) index; the exact great-circle distance decides.
    box = query.where(Entity.lat.between(lat - dlat, lat + dlat), Entity.lon.between(lon - dlon, lon + dlon))
    hits = []
    for entity in session.scalars(box):
        assert entity.lon is not None and entity.lat is not None
        d = haversine_m(lon, lat, entity.lon, entity.lat)
        if d <= radius:
            hits.append((entity, round(d, 1)))
    hits.sort(key=lambda pair: (pair[1], pair[0].id))
    return list(hits[offset : offset + limit]), len(hits)


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


# ---------------------------------------------------------------- writes


def create(session: Session, principal: Principal, data: EntityIn) -> Entity:
    """Register a city object (a new code is allocated unless one is given)."""
    type_code, code_area, serial = _identity(data)
    spec = entity_type(type_code)
    _authorize_write(principal, spec)
    values = _validated(spec, data.attributes)
    now = clock.now()
    entity = Entity(
        type=type_code,
        name=data.name,
        status=EntityStatus.ACTIVE,
        created_at=now,
        updated_at=now,
        attribute_sources={},
    )
    _place(session, entity, data.location, data.geometry, data.crs)
    code_area = code_area or _district_code(session, entity) or _fail_no_area()
    entity.area_id = _registering_area(session, code_area).id
    entity.serial = serial or next_serial(session, code_area, type_code)
    entity.code = codes.compose(code_area, type_code, entity.serial)
    if session.scalar(select(Entity.id).where(Entity.code == entity.code)) is not None:
        raise Conflict(f"city code {entity.code} is already registered")
    _set_attributes(entity, spec, values, REGISTRY)
    session.add(entity)
    session.flush()
    _changed(session, [entity.code])
    return entity


def _identity(data: EntityIn) -> tuple[str, str | None, int | None]:
    if data.code:
        parsed = parse_code(data.code)
        if data.type and data.type.upper() != parsed.type:
            raise Unprocessable(f"type {data.type} contradicts the code's type {parsed.type}", field="type")
        if data.area and data.area != parsed.area:
            raise Unprocessable(f"area {data.area} contradicts the code's area {parsed.area}", field="area")
        return parsed.type, parsed.area, parsed.serial
    if not data.type:
        raise Unprocessable("give the entity's type (BD, MH, DV, …) or its full city code", field="type")
    if data.area is not None and not (len(data.area) == 6 and data.area.isdigit()):
        raise Unprocessable(f"area {data.area!r} must be a 6-digit GB/T 2260 code", field="area")
    return data.type.upper(), data.area, None


def _fail_no_area() -> str:
    raise Unprocessable(
        "cannot allocate a city code: give `area` (6-digit code) or a location inside a known district",
        field="area",
    )


def _registering_area(session: Session, code: str) -> Area:
    area = session.scalar(select(Area).where(Area.code == code))
    if area is None or AreaLevel(area.level) not in (AreaLevel.CITY, AreaLevel.DISTRICT):
        raise Unprocessable(
            f"area code {code} of the city code is not a known city or district", field="area"
        )
    return area


def next_serial(session: Session, area_code: str, type_code: str) -> int:
    """The next free serial for (area, type): one more than the highest registered."""
    prefix = f"{area_code}{type_code}"
    highest = session.scalar(select(func.max(Entity.serial)).where(Entity.code.startswith(prefix)))
    serial = int(highest or 0) + 1
    if serial > codes.MAX_SERIAL:
        raise Conflict(f"no serials left for {prefix}")
    return serial


def _district_code(session: Session, entity: Entity) -> str | None:
    if entity.district_id is None:
        return None
    return session.scalar(select(Area.code).where(Area.id == entity.district_id))


def _authorize_write(principal: Principal, spec: entity_types.EntityType) -> None:
    policy.authorize(principal, "entities.manage_personal" if spec.personal else "entities.manage")


def _validated(
    spec: entity_types.EntityType, values: dict[str, Any], *, partial: bool = False
) -> dict[str, Any]:
    try:
        out = spec.validate(values, partial=partial)
    except entity_types.InvalidAttribute as exc:
        raise Unprocessable(str(exc), field="attributes") from exc
    device_type = out.get(DEVICE_TYPE_ATTRIBUTE)
    if device_type is not None and catalog.get(str(device_type)) is None:
        known = ", ".join(sorted(catalog.device_types()))
        raise Unprocessable(f"unknown device_type {device_type!r}; known: {known}", field="attributes")
    return out


def _set_attributes(
    entity: Entity, spec: entity_types.EntityType, values: dict[str, Any], source: str
) -> None:
    """Split personal from other attributes and remember where each value came from."""
    attributes = dict(entity.attributes or {})
    personal = dict(entity.personal or {})
    sources = dict(entity.attribute_sources or {})
    for name, value in values.items():
        target = personal if spec.by_name[name].personal else attributes
        if value is None:
            target.pop(name, None)
            sources.pop(name, None)
        else:
            target[name] = value
            sources[name] = source
    entity.attributes = attributes
    entity.personal = personal or None
    entity.attribute_sources = sources


def _place(
    session: Session,
    entity: Entity,
    location: PointIn | None,
    geometry: dict[str, Any] | None,
    crs: CRS,
) -> None:
    """Store the point (or the geometry and its representative point) in WGS-84 and locate it."""
    if geometry is not None:
        geom = _geometry(geometry, crs)
        entity.geometry = json.dumps(mapping(geom))
        point = geom.representative_point()
        located = geo.locate(session, point.x, point.y)
    elif location is not None:
        located = geo.locate(session, location.lon, location.lat, crs)
    else:
        return
    entity.lon, entity.lat, entity.input_crs = located.lon, located.lat, str(crs)
    entity.district_id = located.get(AreaLevel.DISTRICT)
    entity.street_id = located.get(AreaLevel.STREET)
    entity.community_id = located.get(AreaLevel.COMMUNITY)
    entity.grid_id = located.get(AreaLevel.GRID)


def _geometry(raw: dict[str, Any], crs: CRS) -> BaseGeometry:
    try:
        geom = shape(raw)
        if geom.is_empty:
            raise ValueError("the geometry is empty")
        return geometry_to_wgs84(geom, crs)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise Unprocessable(f"geometry is not valid GeoJSON: {exc}", field="geometry") from exc
    except Exception as exc:  # shapely raises its own GEOS errors on degenerate input
        raise Unprocessable(f"geometry is not valid GeoJSON: {exc}", field="geometry") from exc


def update(session: Session, principal: Principal, code: str, patch: EntityPatch) -> Entity:
    """Change name, status, location or registry-owned attributes."""
    entity = get(session, principal, code)
    spec = entity_type(entity.type)
    _authorize_write(principal, spec)
    owned_elsewhere = sorted(n for n in patch.attributes if (s := spec.by_name.get(n)) and s.source)
    if owned_elsewhere:
        owners = ", ".join(f"{n} ← {spec.by_name[n].source}" for n in owned_elsewhere)
        raise Conflict(
            f"one datum, one source (一数一源): {owners}; send these as that system's source record",
            attributes=owned_elsewhere,
        )
    removals = {k: None for k, v in patch.attributes.items() if v is None}
    values = _validated(spec, {k: v for k, v in patch.attributes.items() if v is not None}, partial=True)
    _check_required_kept(spec, removals)
    _set_attributes(entity, spec, {**values, **removals}, REGISTRY)
    if patch.name is not None:
        entity.name = patch.name
    if patch.status is not None:
        entity.status = patch.status
    if patch.location is not None or patch.geometry is not None:
        _place(session, entity, patch.location, patch.geometry, patch.crs)
    entity.updated_at = clock.now()
    session.flush()
    _changed(session, [entity.code])
    return entity


def _check_required_kept(spec: entity_types.EntityType, removals: dict[str, None]) -> None:
    required = [n for n in removals if n in spec.by_name and spec.by_name[n].required]
    if required:
        raise Unprocessable(f"{', '.join(required)} is required and cannot be removed", field="attributes")


def record_source(session: Session, principal: Principal, code: str, data: SourceIn) -> SourceRecord:
    """Keep a source system's record; it sets the attributes it is the declared source of truth of."""
    entity = get(session, principal, code)
    spec = entity_type(entity.type)
    _authorize_write(principal, spec)
    values = _validated(spec, data.attributes, partial=True)
    record = session.scalar(
        select(SourceRecord).where(SourceRecord.entity_id == entity.id, SourceRecord.system == data.system)
    )
    if record is None:
        record = SourceRecord(entity_id=entity.id, system=data.system)
        session.add(record)
    record.record_id = data.record_id
    record.attributes = values
    record.observed_at = data.observed_at or clock.now()
    authoritative = {n: v for n, v in values.items() if spec.by_name[n].source == data.system}
    if authoritative:
        _set_attributes(entity, spec, authoritative, data.system)
        entity.updated_at = clock.now()
    session.flush()
    _changed(session, [entity.code])
    return record


def source_records(session: Session, entity: Entity) -> Sequence[SourceRecord]:
    return session.scalars(
        select(SourceRecord).where(SourceRecord.entity_id == entity.id).order_by(SourceRecord.system)
    ).all()


# ---------------------------------------------------------------- relations


def relate(session: Session, principal: Principal, code: str, data: RelationIn) -> EntityRelation:
    """Add a typed relation from this entity to another (both must be readable)."""
    source = get(session, principal, code)
    target = get(session, principal, data.target)
    _authorize_write(principal, entity_type(source.type))
    spec = entity_types.catalogue().relations.get(data.type)
    if spec is None:
        known = ", ".join(sorted(entity_types.catalogue().relations))
        raise Unprocessable(f"unknown relation type {data.type!r}; known: {known}", field="type")
    if source.type not in spec.sources or target.type not in spec.targets:
        raise Unprocessable(
            f"a {source.type} cannot be {data.type} a {target.type} "
            f"({data.type}: from {'/'.join(sorted(spec.sources))} to {'/'.join(sorted(spec.targets))})",
            field="type",
        )
    if source.id == target.id:
        raise Unprocessable("an entity cannot relate to itself", field="target")
    existing = session.scalar(
        select(EntityRelation).where(
            EntityRelation.source_id == source.id,
            EntityRelation.type == data.type,
            EntityRelation.target_id == target.id,
        )
    )
    if existing is not None:
        return existing
    relation = EntityRelation(
        source_id=source.id, type=data.type, target_id=target.id, created_at=clock.now()
    )
    session.add(relation)
    session.flush()
    _changed(session, [source.code, target.code])
    return relation


def unrelate(session: Session, principal: Principal, code: str, data: RelationIn) -> None:
    source = get(session, principal, code)
    target = get(session, principal, data.target)
    _authorize_write(principal, entity_type(source.type))
    relation = session.scalar(
        select(EntityRelation).where(
            EntityRelation.source_id == source.id,
            EntityRelation.type == data.type,
            EntityRelation.target_id == target.id,
        )
    )
    if relation is None:
        raise NotFound(f"{source.code} is not {data.type} {target.code}")
    session.delete(relation)
    session.flush()


def relations(
    session: Session, principal: Principal, entity: Entity
) -> list[tuple[EntityRelation, str, Entity]]:
    """Relations in both directions, with the other end, limited to entities the principal may read."""
    readable = policy.readable_entities(principal)
    out: list[tuple[EntityRelation, str, Entity]] = []
    for direction, mine, other in (
        ("out", EntityRelation.source_id, EntityRelation.target_id),
        ("in", EntityRelation.target_id, EntityRelation.source_id),
    ):
        rows = session.execute(
            select(EntityRelation, Entity)
            .join(Entity, Entity.id == other)
            .where(mine == entity.id, readable)
            .order_by(EntityRelation.id)
        ).all()
        out.extend((rel, direction, ent) for rel, ent in rows)
    return out


def related(session: Session, entity_ids: Iterable[int], relation_type: str) -> dict[int, list[int]]:
    """Service-to-service: for each source entity, the targets of one relation type (e.g. installed_on)."""
    ids = list(entity_ids)
    out: dict[int, list[int]] = {i: [] for i in ids}
    if not ids:
        return out
    rows = session.execute(
        select(EntityRelation.source_id, EntityRelation.target_id).where(
            EntityRelation.source_id.in_(ids), EntityRelation.type == relation_type
        )
    )
    for source_id, target_id in rows:
        out[source_id].append(target_id)
    return out
