"""Response models of the dashboard endpoints: compact payloads for maps and panels."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from cityhub.events.schemas import EventOut


class AreaBrief(BaseModel):
    code: str
    name: str
    level: str


class DemoLogin(BaseModel):
    username: str
    role: str
    role_label: str
    display_name: str


class UiConfig(BaseModel):
    """What the browser needs before anyone logs in."""

    version: str
    mode: str
    timezone: str
    city: AreaBrief | None
    features: dict[str, bool] = Field(
        description="which optional APIs this hub serves (alerts, indicators, hotspots, sensors)"
    )
    optional_paths: list[str] = Field(
        default_factory=list, description="the routes of those optional APIs (operations the UI may offer)"
    )
    demo_users: list[DemoLogin] = Field(
        default_factory=list, description="demo mode only: the demo accounts (never their passwords)"
    )


class AreaCount(BaseModel):
    """Open events in one area of the map, by status, urgency and deadline."""

    code: str
    name: str
    center: tuple[float, float] | None
    open: int
    overdue: int
    near: int
    by_status: dict[str, int]
    by_urgency: dict[str, int]


class EventLayer(BaseModel):
    """Open events as markers: one row per event ("points"), or per grid cell when there are too many."""

    mode: str = Field(description="points: one row per event; cells: one row per grid cell")
    fields: list[str]
    rows: list[list[Any]]
    total: int
    cell: float | None = Field(None, description="cell size in degrees (cells mode)")
    codes: dict[str, list[str]] | None = Field(
        None, description="points mode: status, urgency and deadline_state are indexes into these lists"
    )


class HeatLayer(BaseModel):
    """Citizens' reports (12345, app, Open311) of the last days, counted per grid cell."""

    days: int
    cell: float
    fields: list[str]
    rows: list[list[float]]


class MapOut(BaseModel):
    """The map of one area at its zoom level: the child areas' counts and the layers over them."""

    area: AreaBrief
    path: list[AreaBrief]
    child_level: str | None
    areas: list[AreaCount]
    unlocated: int
    events: EventLayer
    heat: HeatLayer
    generated_at: datetime


class SummaryOut(BaseModel):
    """Today's intake and the state of the open events, as far as the principal may see."""

    day: date
    area: AreaBrief | None
    intake_today: int
    dispatched_today: int
    resolved_today: int
    closed_today: int
    open: int
    overdue: int
    near: int
    review_queue: int
    supervised_open: int
    by_status: dict[str, int]
    by_channel_today: dict[str, int]


class RelatedOut(BaseModel):
    """What belongs with an event: duplicates merged into it; alerts and readings once sensing exists."""

    duplicates: list[EventOut]
    merged_into: EventOut | None
    alerts: list[dict[str, Any]] | None = Field(None, description="null until the alerts API exists")
    readings: list[dict[str, Any]] | None = Field(None, description="null until the telemetry API exists")
