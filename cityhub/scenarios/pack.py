"""Scenario packs: one YAML file per scenario with its entity types, indicators, watches, linkage rules and
simulator (devices and incidents), interpreted by the one engine — adding a scenario is adding a file.

    key / name / domain / description
    entity_types: the registry types it watches (informational, and what the demo registers)
    indicators:   cityhub.indicators.spec.IndicatorSpec, each
    watches:      cityhub.indicators.spec.WatchSpec, each (device health, anomaly detection)
    rules:        cityhub.rules.spec.RuleSpec, each
    simulator:    devices: kinds with interval and metric profiles; incidents: targets and effects
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from cityhub.access.principal import Principal
from cityhub.indicators import service as indicators
from cityhub.indicators.service import validation_message
from cityhub.indicators.spec import IndicatorSpec, WatchSpec, seconds
from cityhub.rules import service as rules
from cityhub.rules.spec import RuleSpec
from cityhub.sim.sensors import DeviceKind, Effect, IncidentKind, MetricProfile, Target

PACKS = Path(__file__).resolve().parent / "packs"


class PackError(ValueError):
    """A scenario file that does not describe a scenario; the message says where."""


@dataclass(frozen=True)
class Pack:
    key: str
    name_zh: str
    name_en: str
    domain: str
    description: str
    entity_types: tuple[dict[str, Any], ...]
    indicators: tuple[IndicatorSpec, ...]
    watches: tuple[WatchSpec, ...]
    rules: tuple[RuleSpec, ...]
    devices: dict[str, DeviceKind] = field(default_factory=dict)
    incidents: tuple[IncidentKind, ...] = ()
    residents: tuple[dict[str, Any], ...] = ()

    def incident(self, name: str) -> IncidentKind:
        for incident in self.incidents:
            if incident.name == name:
                return incident
        raise KeyError(f"pack {self.key} has no incident {name}")


def _device_kind(pack: str, name: str, data: dict[str, Any]) -> DeviceKind:
    metrics = tuple(MetricProfile.of(m, dict(spec or {})) for m, spec in (data.get("metrics") or {}).items())
    if not metrics:
        raise PackError(f"device kind {name} has no metrics")
    return DeviceKind(
        name=name,
        label=str(data.get("label", name)),
        type_code=str(data["type"]),
        device_type=str(data["device_type"]),
        interval_s=seconds(str(data.get("interval", "1m"))),
        metrics=metrics,
        pack=pack,
        per_district=int(data.get("per_district", 1)),
        districts=tuple(str(d) for d in data.get("districts", ())),
    )


def _incident(pack: str, data: dict[str, Any]) -> IncidentKind:
    targets = tuple(
        Target(
            kind=str(t["kind"]),
            devices=int(t.get("devices", 1)),
            effects=tuple(Effect.of(dict(e)) for e in t["effects"]),
        )
        for t in data["targets"]
    )
    return IncidentKind(
        name=str(data["name"]),
        label=str(data.get("label", data["name"])),
        duration_s=seconds(str(data["duration"])),
        targets=targets,
        pack=pack,
    )


def parse(data: dict[str, Any], where: str = "pack") -> Pack:
    try:
        key = str(data["key"])
        sim = data.get("simulator") or {}
        devices = {name: _device_kind(key, name, spec) for name, spec in (sim.get("devices") or {}).items()}
        incidents = tuple(_incident(key, i) for i in sim.get("incidents") or ())
        for incident in incidents:
            for target in incident.targets:
                if target.kind not in devices:
                    raise PackError(f"incident {incident.name} targets unknown device kind {target.kind}")
        return Pack(
            key=key,
            name_zh=str(data["name"]["zh"]),
            name_en=str(data["name"]["en"]),
            domain=str(data["domain"]),
            description=str(data.get("description", "")),
            entity_types=tuple(data.get("entity_types") or ()),
            indicators=tuple(TypeAdapter(list[IndicatorSpec]).validate_python(data.get("indicators") or [])),
            watches=tuple(TypeAdapter(list[WatchSpec]).validate_python(data.get("watches") or [])),
            rules=tuple(TypeAdapter(list[RuleSpec]).validate_python(data.get("rules") or [])),
            devices=devices,
            incidents=incidents,
            residents=tuple(sim.get("residents") or ()),
        )
    except ValidationError as exc:
        raise PackError(f"{where}: {validation_message(exc)}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise PackError(f"{where}: {exc}") from exc


def load(path: Path) -> Pack:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PackError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise PackError(f"{path}: expected a mapping")
    return parse(data, str(path.name))


@cache
def builtin() -> tuple[Pack, ...]:
    """The packs shipped with the hub: 独居老人关怀, 城市内涝, 燃气管网安全, 高楼消防风险码."""
    return tuple(load(path) for path in sorted(PACKS.glob("*.yaml")))


def get(key: str) -> Pack:
    for pack in builtin():
        if pack.key == key:
            return pack
    raise KeyError(f"no scenario pack {key}; known: {', '.join(p.key for p in builtin())}")


def install(session: Session, principal: Principal, pack: Pack) -> dict[str, int]:
    """Store the pack's indicators, watches and rules (create or replace by key)."""
    origin = f"scenario:{pack.key}"
    for spec in pack.indicators:
        indicators.upsert(session, principal, spec, origin=origin)
    for watch in pack.watches:
        indicators.upsert_watch(session, principal, watch, origin=origin)
    for rule in pack.rules:
        rules.upsert(session, principal, rule, origin=origin)
    return {"indicators": len(pack.indicators), "watches": len(pack.watches), "rules": len(pack.rules)}
