"""Request and response models of the entity registry API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from cityhub.geo.crs import CRS
from cityhub.kit.text import Input
from cityhub.kit.timeutil import Instant
from cityhub.models.entity import EntityStatus

CODE_DOC = "city code: 6-digit area + 2-letter type + 8-digit serial + check character (ISO 7064 MOD 37,36)"
Slug = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.\-]+$")]


class Strict(Input):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PointIn(Strict):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


class EntityIn(Strict):
    """A city object to register. Without ``code`` the registry allocates the next serial for (area, type)."""

    code: str | None = Field(None, max_length=40, description=CODE_DOC)
    type: str | None = Field(None, max_length=2, description="type code (BD, HR, MH, …); taken from the code")
    area: str | None = Field(
        None, max_length=6, description="6-digit area code for a new code; default: the district located"
    )
    name: str = Field(min_length=1, max_length=200)
    location: PointIn | None = Field(None, description="a point, in `crs`")
    geometry: dict[str, Any] | None = Field(None, description="a GeoJSON geometry, in `crs`")
    crs: CRS = Field(CRS.WGS84, description="coordinate system of location and geometry: wgs84 or gcj02")
    attributes: dict[str, Any] = Field(default_factory=dict, description="typed attributes of the type")


class EntityPatch(Strict):
    """Change an entity. Attributes whose source of truth is another system cannot be set here (一数一源)."""

    name: str | None = Field(None, min_length=1, max_length=200)
    status: EntityStatus | None = None
    location: PointIn | None = None
    geometry: dict[str, Any] | None = None
    crs: CRS = CRS.WGS84
    attributes: dict[str, Any] = Field(default_factory=dict, description="null removes an attribute")


class SourceIn(Strict):
    """What a source system says about an entity; it wins for the attributes it is the source of truth of."""

    system: Slug = Field(description="the source system, e.g. housing, utility, market, fire")
    record_id: str = Field(min_length=1, max_length=100, description="the record's id in that system")
    attributes: dict[str, Any] = Field(default_factory=dict)
    observed_at: Instant | None = Field(None, description="when the system recorded it (default: now)")


class RelationIn(Strict):
    type: str = Field(min_length=1, max_length=24, description="installed_on, in, connects, monitors, …")
    target: str = Field(max_length=40, description="city code of the other end")


class LocatedIn(Input):
    district: str | None = None
    street: str | None = None
    community: str | None = None
    grid: str | None = None


class SourceOut(BaseModel):
    system: str
    record_id: str
    observed_at: datetime
    attributes: dict[str, Any]
    disagrees_on: list[str] = Field(description="attributes where this record differs from the registry")


class RelationOut(BaseModel):
    type: str
    direction: str = Field(description="out: this entity → other; in: other → this entity")
    other: str
    other_type: str
    other_name: str


class EntityOut(BaseModel):
    code: str
    type: str
    type_name: str
    name: str
    status: EntityStatus
    area: str = Field(description="the area code in the city code")
    located_in: LocatedIn
    lon: float | None
    lat: float | None
    input_crs: str | None
    geometry: dict[str, Any] | None
    attributes: dict[str, Any]
    attribute_sources: dict[str, str]
    masked: bool = Field(False, description="personal attributes are masked (as in every view)")
    can_reveal: bool = Field(
        False,
        description="this reader may see the personal attributes: POST /entities/{code}/personal with a "
        "purpose (audited)",
    )
    distance_m: float | None = None
    created_at: datetime
    updated_at: datetime
    relations: list[RelationOut] | None = None
    sources: list[SourceOut] | None = None


class EntityPage(BaseModel):
    items: list[EntityOut]
    total: int
    limit: int
    offset: int


class ImportProblem(BaseModel):
    row: int
    message: str


class ImportResult(BaseModel):
    created: int
    updated: int
    errors: list[ImportProblem]
    codes: list[str] = Field(description="codes of the imported rows (first 1 000)")


class AttributeOut(BaseModel):
    name: str
    type: str
    unit: str | None
    required: bool
    source: str | None
    personal: bool


class EntityTypeOut(BaseModel):
    code: str
    name: str
    en: str
    personal: bool
    attributes: list[AttributeOut]
