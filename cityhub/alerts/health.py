"""Device health, as data per metric (``HealthSpec``): a silent device, a frozen value, a sudden jump.

These are pure checks over what the stream knows of a series (its last readings); the stream turns
their findings into alerts of source ``device`` and clears them when the device behaves again.
"""

from __future__ import annotations

from dataclasses import dataclass

from cityhub.indicators.spec import HealthSpec, seconds
from cityhub.indicators.windows import Series

SILENT = "device.silent"
# A frozen value needs at least this many equal readings, whatever the time they span.
FROZEN_MIN_READINGS = 3


def frozen_type(metric: str) -> str:
    return f"device.frozen.{metric}"


def jump_type(metric: str) -> str:
    return f"device.jump.{metric}"


@dataclass(frozen=True)
class Finding:
    """What a check found: ``what`` names it, ``detail`` gives the readings behind it (left out of the
    title of an alert about a registered person: their meter's readings are theirs)."""

    type: str
    what: str
    detail: str
    value: float | None

    @property
    def title(self) -> str:
        return f"{self.what} {self.detail}"


def jump(spec: HealthSpec, series: Series) -> Finding | None:
    """The latest reading differs from the one before by more than the spec allows."""
    if spec.jump is None or series.previous_value is None or series.last_value is None:
        return None
    delta = series.last_value - series.previous_value
    if abs(delta) <= spec.jump:
        return None
    return Finding(
        jump_type(series.metric),
        "设备读数突变",
        f"{series.metric} {series.previous_value:g} → {series.last_value:g}",
        delta,
    )


def frozen(spec: HealthSpec, series: Series) -> Finding | None:
    """The same value for longer than ``frozen_after`` (and over at least three readings)."""
    if spec.frozen_after is None or series.last_value is None:
        return None
    held = series.last_ts - series.value_since
    if series.same_count < FROZEN_MIN_READINGS or held < seconds(spec.frozen_after):
        return None
    hours = held / 3600
    return Finding(
        frozen_type(series.metric),
        "设备读数冻结",
        f"{series.metric} = {series.last_value:g} ({hours:.1f} h)",
        series.last_value,
    )


def silent(spec: HealthSpec, series: Series, now_ts: float) -> Finding | None:
    """No reading for longer than ``silent_after`` (judged on the hub's clock, not the device's)."""
    if spec.silent_after is None or series.last_value is None:
        return None
    quiet = now_ts - series.last_ts
    if quiet <= seconds(spec.silent_after):
        return None
    return Finding(SILENT, "设备离线", f"(no {series.metric} reading for {quiet / 3600:.1f} h)", quiet)
