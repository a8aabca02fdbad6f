"""Entities as a reader sees them: area codes instead of ids, personal attributes masked unless the policy
says otherwise, and every read of a registered person written to the audit log."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.access import policy
from cityhub.access.principal import Principal
from cityhub.audit.hooks import record
from cityhub.entities import service
from cityhub.entities import types as entity_types
from cityhub.entities.schemas import EntityOut, LocatedIn, RelationOut, SourceOut
from cityhub.models.area import Area, AreaLevel
from cityhub.models.entity import Entity


def page(
    session: Session, principal: Principal, rows: Sequence[tuple[Entity, float | None]], purpose: str = "list"
) -> list[EntityOut]:
    codes = _area_codes(session, [e for e, _ in rows])
    community = _principal_community(session, principal)
    return [_out(session, principal, e, d, codes, community, purpose) for e, d in rows]


def detail(session: Session, principal: Principal, entity: Entity) -> EntityOut:
    out = page(session, principal, [(entity, None)], purpose="detail")[0]
    out.relations = [
        RelationOut(
            type=rel.type, direction=direction, other=other.code, other_type=other.type, other_name=other.name
        )
        for rel, direction, other in service.relations(session, principal, entity)
    ]
    out.sources = _sources(session, entity, out.masked)
    return out


def _out(
    session: Session,
    principal: Principal,
    entity: Entity,
    distance: float | None,
    codes: dict[int, str],
    community: int | None,
    purpose: str,
) -> EntityOut:
    spec = entity_types.get(entity.type)
    attributes = dict(entity.attributes or {})
    masked = False
    if entity.personal:
        unmasked = policy.sees_personal_entity(principal, entity.community_id, community)
        masked = not unmasked
        attributes.update(_personal(spec, entity.personal, masked))
        # Every read of a registered person's record is audited, masked or not (PIPL Art. 28).
        record(
            session,
            principal,
            "read_personal_data",
            "entities",
            str(entity.id),
            {"code": entity.code, "masked": masked},
            purpose=purpose,
        )
    return EntityOut(
        code=entity.code,
        type=entity.type,
        type_name=spec.name if spec else entity.type,
        name=entity.name,
        status=entity.status,
        area=entity.code[:6],
        located_in=LocatedIn(
            district=codes.get(entity.district_id or 0),
            street=codes.get(entity.street_id or 0),
            community=codes.get(entity.community_id or 0),
            grid=codes.get(entity.grid_id or 0),
        ),
        lon=entity.lon,
        lat=entity.lat,
        input_crs=entity.input_crs,
        geometry=json.loads(entity.geometry) if entity.geometry else None,
        attributes=attributes,
        attribute_sources=dict(entity.attribute_sources or {}),
        masked=masked,
        distance_m=distance,
        created_at=entity.created_at,
        updated_at=entity.updated_at,
    )


def _personal(spec: entity_types.EntityType | None, values: dict[str, Any], masked: bool) -> dict[str, Any]:
    if not masked:
        return dict(values)
    out: dict[str, Any] = {}
    for name, value in values.items():
        attribute = spec.by_name.get(name) if spec else None
        out[name] = attribute.masked(value) if attribute else "***"
    return out


def _sources(session: Session, entity: Entity, masked: bool) -> list[SourceOut]:
    spec = entity_types.get(entity.type)
    current = {**(entity.attributes or {}), **(entity.personal or {})}
    out = []
    for rec in service.source_records(session, entity):
        values = _personal(spec, rec.attributes, masked) if masked else dict(rec.attributes)
        differs = sorted(k for k, v in rec.attributes.items() if current.get(k) != v)
        out.append(
            SourceOut(
                system=rec.system,
                record_id=rec.record_id,
                observed_at=rec.observed_at,
                attributes=values,
                disagrees_on=differs,
            )
        )
    return out


def _area_codes(session: Session, entities: Sequence[Entity]) -> dict[int, str]:
    ids = {i for e in entities for i in (e.district_id, e.street_id, e.community_id, e.grid_id) if i}
    if not ids:
        return {}
    return {i: c for i, c in session.execute(select(Area.id, Area.code).where(Area.id.in_(ids)))}


def _principal_community(session: Session, principal: Principal) -> int | None:
    if principal.area_id is None:
        return None
    if principal.area_level is AreaLevel.COMMUNITY:
        return principal.area_id
    if principal.area_level is AreaLevel.GRID:
        return session.scalar(select(Area.parent_id).where(Area.id == principal.area_id))
    return None
