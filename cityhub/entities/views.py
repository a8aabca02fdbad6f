"""Entities as a reader sees them: area codes instead of ids, personal attributes always masked (with whether
this reader may reveal them: ``service.reveal``, on purpose), and every read of a registered person written to
the audit log."""

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
from cityhub.models.area import Area
from cityhub.models.entity import Entity
from cityhub.org.service import principal_community


def page(
    session: Session, principal: Principal, rows: Sequence[tuple[Entity, float | None]], purpose: str = "list"
) -> list[EntityOut]:
    codes = _area_codes(session, [e for e, _ in rows])
    people = [e for e, _ in rows if e.personal]
    community = principal_community(session, principal) if people else None
    for entity in people:
        _audit_read(session, principal, entity, purpose)
    return [
        _out(e, d, codes, masked=bool(e.personal), can_reveal=_may_reveal(principal, e, community))
        for e, d in rows
    ]


def _may_reveal(principal: Principal, entity: Entity, community: int | None) -> bool:
    return bool(entity.personal) and policy.sees_personal_entity(principal, entity.community_id, community)


def detail(session: Session, principal: Principal, entity: Entity) -> EntityOut:
    """One entity with its relations and source records, personal attributes masked."""
    return _with_related(session, principal, entity, page(session, principal, [(entity, None)], "detail")[0])


def revealed_detail(session: Session, principal: Principal, entity: Entity) -> EntityOut:
    """The detail with the personal attributes shown: only the answer to ``service.reveal``, which checked the
    policy and audited the read with its purpose."""
    out = _out(entity, None, _area_codes(session, [entity]), masked=False, can_reveal=True)
    return _with_related(session, principal, entity, out)


def _with_related(session: Session, principal: Principal, entity: Entity, out: EntityOut) -> EntityOut:
    out.relations = [
        RelationOut(
            type=rel.type, direction=direction, other=other.code, other_type=other.type, other_name=other.name
        )
        for rel, direction, other in service.relations(session, principal, entity)
    ]
    out.sources = _sources(session, entity, out.masked)
    return out


# Every look at a registered person's record, masked, is audited under its own kind, so that an auditor's
# filter on ``read_personal_data`` finds only the reveals, each with the purpose its reader gave.
VIEW_PERSONAL_RECORD = "view_personal_record"


def _audit_read(session: Session, principal: Principal, entity: Entity, purpose: str) -> None:
    """Every read of a registered person's record is audited, masked as it is (PIPL Art. 28)."""
    record(
        session,
        principal,
        VIEW_PERSONAL_RECORD,
        "entities",
        str(entity.id),
        {"code": entity.code, "masked": True},
        purpose=purpose,
    )


def _out(
    entity: Entity, distance: float | None, codes: dict[int, str], *, masked: bool, can_reveal: bool
) -> EntityOut:
    spec = entity_types.get(entity.type)
    attributes = {**(entity.attributes or {}), **_personal(spec, entity.personal or {}, masked)}
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
        can_reveal=can_reveal,
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
