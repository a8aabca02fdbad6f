"""Request and response models of the dispatch API: gazetteer, duplicates, hot spots, classifier models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cityhub.geo.crs import CRS
from cityhub.kit.text import Input
from cityhub.models.dispatch import PlaceKind


class Strict(Input):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# ---------------------------------------------------------------- gazetteer


class PlaceIn(Strict):
    """A place name people write in addresses, with the area it lies in."""

    name: str = Field(min_length=2, max_length=100)
    kind: PlaceKind = PlaceKind.ROAD
    area: str = Field(min_length=1, max_length=20, description="code of the deepest area the place lies in")
    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)
    crs: CRS = CRS.WGS84
    aliases: list[Annotated[str, Field(min_length=2, max_length=100)]] = Field(
        default_factory=list, max_length=20
    )


class PlaceOut(BaseModel):
    id: int
    name: str
    kind: str
    area_id: int
    aliases: list[str]
    lon: float | None
    lat: float | None
    source: str


class ImportOut(BaseModel):
    saved: int


class ResolveOut(BaseModel):
    """How the hub reads an address (and a point, if given)."""

    areas: dict[str, dict[str, Any]]
    source: str
    places: list[str]
    words: list[str] = Field(description="the text as the gazetteer's dictionary cuts it")
    mentions: list[str]
    notes: list[str]


# ---------------------------------------------------------------- duplicates


class LinkedEventOut(BaseModel):
    """Another report linked to this one: its number, when and how it came, where it stands."""

    id: int
    number: str
    title: str
    channel: str
    status: str
    status_label: str
    created_at: datetime
    reporter: dict[str, Any] | None


class CandidateOut(BaseModel):
    event: LinkedEventOut
    score: float
    text_similarity: float
    distance_m: float | None
    hours_apart: float
    same_category: bool | None
    status: str = Field(description="proposed, merged or dismissed")


class MasterOut(BaseModel):
    """The event a merged report was merged into: its progress is this report's progress."""

    number: str
    status: str
    status_label: str
    resolution: str | None
    resolved_at: datetime | None
    closed_at: datetime | None


class DuplicatesOut(BaseModel):
    """一事多诉 around one event."""

    event_id: int
    number: str
    master: MasterOut | None = Field(description="for a merged report: the event that carries the problem")
    linked_reports: list[LinkedEventOut] = Field(description="reports merged into this event")
    candidates: list[CandidateOut] = Field(description="open events this one may duplicate")


# ---------------------------------------------------------------- hot spots


class HotspotOut(BaseModel):
    key: str = Field(description="category code @ H3 cell; stable while the hot spot stays in place")
    category_id: int
    category: str
    size: int = Field(description="reports in the period, merged ones included")
    events: int = Field(description="distinct events behind them")
    previous: int = Field(description="reports of the category around the same place in the period before")
    trend: str = Field(description="new, rising, steady or falling")
    lon: float
    lat: float
    radius_m: float
    districts: list[str]
    streets: list[str]
    representative: dict[str, Any]
    first_at: datetime
    last_at: datetime
    report_ids: list[int]
    open_events: list[str]
    escalated_event: dict[str, Any] | None
    alert: dict[str, Any] | None = Field(description="the open alert raised for it ({id, level}), if any")


class HotspotsOut(BaseModel):
    days: int
    until: datetime
    items: list[HotspotOut]


class EscalateIn(Strict):
    key: str = Field(min_length=3, max_length=80, description="the hot spot's key from GET /hotspots")
    days: int = Field(7, ge=1, le=90)
    note: str | None = Field(None, max_length=2000, description="the supervisor's instruction (督办意见)")


class HotspotAlertIn(Strict):
    key: str = Field(min_length=3, max_length=80, description="the hot spot's key from GET /hotspots")
    days: int = Field(7, ge=1, le=90)
    level: Literal["blue", "yellow", "orange", "red"] = Field(
        "yellow", description="the warning colour (蓝/黄/橙/红) the alert is raised at"
    )
    note: str | None = Field(None, max_length=2000)


# ---------------------------------------------------------------- classifier models


class ModelOut(BaseModel):
    version: str
    path: str
    created_at: datetime
    activated_at: datetime | None
    active: bool
    threshold: float | None = Field(description="confidence from which suggestions are auto-dispatched")
    target_precision: float
    metrics: dict[str, Any]
    trained_by: str
    note: str


class RetrainIn(Strict):
    target_precision: float = Field(0.97, ge=0.5, le=0.999)
    seed: int = Field(0, ge=0, le=2**31 - 1)
