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


class SeriesRef(BaseModel):
    """One sensor series behind an event: read it from ``GET /api/v1/telemetry/series`` with these
    parameters (device, metric, since, until, resolution), or, when ``personal``, from
    ``POST /api/v1/telemetry/series/personal`` with them and a purpose."""

    device: str = Field(description="the device's city code")
    name: str = Field(description="the device's name in the registry")
    metric: str
    unit: str
    since: datetime
    until: datetime
    resolution: str = Field(description="raw, 1m or 1h (windows longer than two days: hourly rollups)")
    personal: bool = Field(
        description="a meter that serves a registered person: read it with a purpose, "
        "POST /api/v1/telemetry/series/personal with these parameters and `purpose` (audited)",
    )


class RelatedOut(BaseModel):
    """What belongs with an event: duplicates merged into it, its alerts and the sensor series behind them."""

    duplicates: list[EventOut]
    merged_into: EventOut | None
    alerts: list[dict[str, Any]] | None = Field(None, description="null until the alerts API exists")
    readings: list[SeriesRef] | None = Field(
        None,
        description="the devices and metrics of the event's alerts and rule firings, with the window to read "
        "(empty when there are none or the principal may not read telemetry)",
    )


class SensorAreaCount(BaseModel):
    """Sensors in one child area of the map, by health."""

    code: str
    name: str
    center: tuple[float, float] | None
    total: int
    by_health: dict[str, int]


class SensorLayer(BaseModel):
    """Sensors as markers: one row per device ("points"), or per grid cell when there are too many."""

    mode: str = Field(description="points: one row per device; cells: one row per grid cell")
    fields: list[str]
    rows: list[list[Any]]
    total: int = Field(description="located sensors matching the filter")
    cell: float | None = Field(None, description="cell size in degrees (cells mode)")
    codes: dict[str, list[str]] | None = Field(
        None, description="points mode: health and kind are indexes into these lists; last: epoch seconds"
    )


class SensorMapOut(BaseModel):
    """The sensors of one area at its zoom level, with their health: online, stale (no reading within the
    expected interval), alarming (an open alert), offline (silent far longer, or never reported)."""

    area: AreaBrief
    path: list[AreaBrief]
    child_level: str | None
    areas: list[SensorAreaCount]
    unlocated: int
    by_health: dict[str, int] = Field(description="all sensors matching the filter, located or not")
    sensors: SensorLayer
    kinds: dict[str, str] = Field(description="device type → its name")
    expected_s: dict[str, float] = Field(description="device type → expected reporting interval in seconds")
    generated_at: datetime


class StreamTicketOut(BaseModel):
    ticket: str
    expires_in: int = Field(description="seconds the ticket may be used to open the stream")
