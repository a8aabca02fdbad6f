"""Metrics as data: per device type, each metric's unit and physically possible range (``metrics.yaml``).

Scenario packs add their device types with ``register`` (or ``register_yaml``) at start-up; the one
interpreter below checks every reading against the catalogue, whatever the device.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

METRICS_FILE = Path(__file__).with_name("metrics.yaml")


@dataclass(frozen=True)
class MetricSpec:
    """A metric a device type reports: unit (and accepted spellings) and the physically possible range."""

    name: str
    unit: str
    min: float = -math.inf
    max: float = math.inf
    aliases: frozenset[str] = frozenset()

    def accepts_unit(self, unit: str) -> bool:
        return unit == self.unit or unit in self.aliases

    def possible(self, value: float) -> bool:
        return self.min <= value <= self.max


@dataclass(frozen=True)
class DeviceType:
    """A kind of device and the metrics it reports."""

    key: str
    name: str
    metrics: dict[str, MetricSpec]


_lock = threading.Lock()
_extra: dict[str, DeviceType] = {}
_version = [0]


@cache
def _builtin() -> dict[str, DeviceType]:
    raw = yaml.safe_load(METRICS_FILE.read_text(encoding="utf-8"))
    return {key: device_type(key, spec) for key, spec in raw["device_types"].items()}


def device_types() -> dict[str, DeviceType]:
    with _lock:
        return {**_builtin(), **_extra}


def get(key: str) -> DeviceType | None:
    with _lock:
        found = _extra.get(key)
    return found if found is not None else _builtin().get(key)


def version() -> int:
    """Bumped on every registration, so caches built on the catalogue know to refresh."""
    return _version[0]


def device_type(key: str, spec: dict[str, Any]) -> DeviceType:
    metrics = {}
    for m in spec.get("metrics", []):
        metric = MetricSpec(
            name=str(m["name"]),
            unit=str(m["unit"]),
            min=float(m.get("min", -math.inf)),
            max=float(m.get("max", math.inf)),
            aliases=frozenset(str(a) for a in m.get("aliases", ())),
        )
        metrics[metric.name] = metric
    return DeviceType(key=key, name=str(spec.get("name", key)), metrics=metrics)


def register(types: Iterable[DeviceType]) -> None:
    """Add or replace device types (a scenario pack's meters and sensors)."""
    with _lock:
        for t in types:
            _extra[t.key] = t
        _version[0] += 1


def register_yaml(path: Path) -> list[DeviceType]:
    """Register the ``device_types`` of a YAML file shaped like ``metrics.yaml``."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    types = [device_type(key, spec) for key, spec in (raw or {}).get("device_types", {}).items()]
    register(types)
    return types
