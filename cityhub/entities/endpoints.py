"""The city code registry (一码通城): register, search, import and relate city objects; a registered person's
personal attributes are masked and revealed on purpose."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, UploadFile, status

from cityhub.access import policy
from cityhub.access.deps import PrincipalDep, SessionDep
from cityhub.access.reveal import RevealIn
from cityhub.audit.hooks import bind_principal
from cityhub.entities import io, service, views
from cityhub.entities import types as entity_types
from cityhub.entities.schemas import (
    AttributeOut,
    EntityIn,
    EntityOut,
    EntityPage,
    EntityPatch,
    EntityTypeOut,
    ImportProblem,
    ImportResult,
    RelationIn,
    RelationOut,
    SourceIn,
)
from cityhub.geo.crs import CRS
from cityhub.kit.errors import PayloadTooLarge, Unprocessable
from cityhub.models.entity import EntityStatus

router = APIRouter(tags=["entities"])
MAX_IMPORT_BYTES = 50_000_000
Code = Annotated[str, Query(max_length=40)]
REVEAL_REFUSALS: dict[int | str, dict[str, Any]] = {
    403: {"description": "only the grid workers of the person's community may see their personal data"},
    404: {"description": "no such entity for this reader"},
    422: {
        "description": "a malformed code, an entity without personal data, or no purpose (2-200 characters)"
    },
}


@router.get("/entity-types", response_model=list[EntityTypeOut])
def list_types(principal: PrincipalDep) -> list[EntityTypeOut]:
    """The entity types, their two-letter codes and typed attributes (with the source of truth of each)."""
    policy.authorize(principal, "entities.read")
    return [
        EntityTypeOut(
            code=t.code,
            name=t.name,
            en=t.en,
            personal=t.personal,
            attributes=[
                AttributeOut(
                    name=a.name,
                    type=a.type,
                    unit=a.unit,
                    required=a.required,
                    source=a.source,
                    personal=a.personal,
                )
                for a in t.attributes
            ],
        )
        for t in entity_types.catalogue().types.values()
    ]


@router.post("/entities", response_model=EntityOut, status_code=status.HTTP_201_CREATED)
def create_entity(body: EntityIn, principal: PrincipalDep, session: SessionDep) -> EntityOut:
    """Register a city object. Without `code` the registry allocates one (area, type, next serial, check)."""
    bind_principal(session, principal)
    return views.detail(session, principal, service.create(session, principal, body))


@router.get("/entities", response_model=EntityPage)
def search_entities(
    principal: PrincipalDep,
    session: SessionDep,
    code: Annotated[str | None, Query(max_length=40)] = None,
    type_: Annotated[str | None, Query(alias="type", max_length=2)] = None,
    area: Annotated[str | None, Query(max_length=20, description="area code (district … grid)")] = None,
    near: Annotated[
        str | None, Query(max_length=60, description="lon,lat of a point", examples=["120.38,36.07"])
    ] = None,
    radius_m: Annotated[float, Query(gt=0, le=service.MAX_RADIUS_M)] = 1_000.0,
    crs: CRS = CRS.WGS84,
    q: Annotated[str | None, Query(max_length=100, description="text in the name")] = None,
    status_: Annotated[EntityStatus | None, Query(alias="status")] = None,
    attribute: Annotated[
        str | None, Query(max_length=100, description="name=value", pattern=r"^\w+=.*$")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> EntityPage:
    """Entities by code, type, area, name or radius (metres) around a point — nearest first with a point.
    Registered people appear only to those who look after them, masked; each such read is audited."""
    f = service.EntityFilter(
        code=code,
        type=type_,
        area=area,
        near=_point(near),
        crs=crs,
        radius_m=radius_m,
        q=q,
        status=status_,
        attribute=tuple(attribute.split("=", 1)) if attribute else None,  # type: ignore[arg-type]
    )
    rows, total = service.search(session, principal, f, limit=limit, offset=offset)
    return EntityPage(items=views.page(session, principal, rows), total=total, limit=limit, offset=offset)


def _point(near: str | None) -> tuple[float, float] | None:
    if near is None:
        return None
    try:
        lon, lat = (float(part) for part in near.split(","))
    except ValueError as exc:
        raise Unprocessable("near must be 'lon,lat', e.g. 120.38,36.07", field="near") from exc
    return lon, lat


@router.post("/entities/import", response_model=ImportResult)
async def import_entities(
    file: UploadFile,
    principal: PrincipalDep,
    session: SessionDep,
    crs: CRS = CRS.WGS84,
    source: Annotated[str | None, Query(max_length=40, pattern=r"^[A-Za-z0-9_.\-]+$")] = None,
    type_: Annotated[
        str | None, Query(alias="type", max_length=2, description="type of rows without one")
    ] = None,
) -> ImportResult:
    """Bulk import from CSV or GeoJSON, upserting by code; bad rows are reported by line, the rest load.
    With `source` the rows are that system's records (it wins for the attributes it owns, 一数一源)."""
    policy.authorize(principal, "entities.manage")
    bind_principal(session, principal)
    content = await file.read(MAX_IMPORT_BYTES + 1)
    if len(content) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge(f"the file is larger than {MAX_IMPORT_BYTES} bytes: split it")
    rows = io.read(content, file.filename or "")
    report = io.import_rows(session, principal, rows, crs=crs, source=source, type_code=type_)
    return ImportResult(
        created=report.created,
        updated=report.updated,
        errors=[ImportProblem(row=r, message=m) for r, m in report.errors[: io.MAX_REPORTED]],
        codes=report.codes,
    )


@router.get("/entities/{code}", response_model=EntityOut)
def get_entity(code: str, principal: PrincipalDep, session: SessionDep) -> EntityOut:
    """One entity with its relations and its source records (and where they disagree). A registered person's
    attributes are masked (the read is audited); `can_reveal` says whether this reader may see them."""
    return views.detail(session, principal, service.get(session, principal, code))


@router.post("/entities/{code}/personal", response_model=EntityOut, responses=REVEAL_REFUSALS)
def reveal_personal(code: str, body: RevealIn, principal: PrincipalDep, session: SessionDep) -> EntityOut:
    """A registered person's record with the personal attributes unmasked, for a grid worker of their
    community, who says why (e.g. 上门探视). The read and its purpose are audited."""
    return views.revealed_detail(session, principal, service.reveal(session, principal, code, body.purpose))


@router.patch("/entities/{code}", response_model=EntityOut)
def update_entity(code: str, body: EntityPatch, principal: PrincipalDep, session: SessionDep) -> EntityOut:
    """Change name, status, location or registry-owned attributes (409 for attributes another system owns)."""
    bind_principal(session, principal)
    return views.detail(session, principal, service.update(session, principal, code, body))


@router.post("/entities/{code}/sources", response_model=EntityOut)
def record_source(code: str, body: SourceIn, principal: PrincipalDep, session: SessionDep) -> EntityOut:
    """A source system's record; it sets the attributes that system is the source of truth of."""
    bind_principal(session, principal)
    service.record_source(session, principal, code, body)
    return views.detail(session, principal, service.get(session, principal, code))


@router.get("/entities/{code}/relations", response_model=list[RelationOut])
def list_relations(code: str, principal: PrincipalDep, session: SessionDep) -> list[RelationOut]:
    """Relations in both directions (installed_on, in, connects, monitors, serves, …)."""
    entity = service.get(session, principal, code)
    return [
        RelationOut(type=r.type, direction=d, other=o.code, other_type=o.type, other_name=o.name)
        for r, d, o in service.relations(session, principal, entity)
    ]


@router.post(
    "/entities/{code}/relations", response_model=list[RelationOut], status_code=status.HTTP_201_CREATED
)
def add_relation(
    code: str, body: RelationIn, principal: PrincipalDep, session: SessionDep
) -> list[RelationOut]:
    """Relate this entity to another (e.g. a sensor `installed_on` a building); idempotent."""
    bind_principal(session, principal)
    service.relate(session, principal, code, body)
    return list_relations(code, principal, session)


@router.delete("/entities/{code}/relations", status_code=status.HTTP_204_NO_CONTENT)
def remove_relation(
    code: str,
    principal: PrincipalDep,
    session: SessionDep,
    type_: Annotated[str, Query(alias="type", min_length=1, max_length=24)],
    target: Code,
) -> None:
    """Remove one relation."""
    bind_principal(session, principal)
    service.unrelate(session, principal, code, RelationIn(type=type_, target=target))
