"""The scenario packs in the demo city: their definitions, devices and residents, and a live simulator.

``seed_scenarios(session)`` (called once at the end of ``seed_demo``) installs the four packs, registers
their devices in the city code registry (placed at the centre of grids of the districts each device kind
names) and the demo's elderly residents with their meters. ``DemoSensors`` is a scheduler job: each run
sends what the devices produced since the last one through the real ingest path (check, store, publish
after the commit — or straight onto the bus when no telemetry service is installed), and every
``incident_every_s`` injects the next pack's incident, so every scenario plays out in turn. On its first run
it sends a day of history, in which one resident's gas meter has not moved for 25 hours.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.access.principal import SYSTEM
from cityhub.alerts import subjects
from cityhub.alerts.schemas import SubjectIn
from cityhub.audit.hooks import bind_principal
from cityhub.kit.timeutil import clock
from cityhub.models.alert import AlertSubject
from cityhub.models.area import Area, AreaLevel
from cityhub.scenarios import pack as packs
from cityhub.sim.sensors import BusSink, Device, DeviceKind, SensorSimulator, city_code, ingest_available

log = logging.getLogger(__name__)

HISTORY = timedelta(hours=26)
# The incidents played in turn (the tap left running needs a week of history to be told from normal use).
ROTATION = (
    ("urban_flooding", "rainstorm"),
    ("gas_network", "leak"),
    ("highrise_fire", "facility_failure"),
    ("elderly_care", "no_gas"),
)


@dataclass(frozen=True)
class ScenarioSeed:
    packs: int
    devices: int
    residents: int


def _kinds() -> dict[str, DeviceKind]:
    """Device kinds by registry device type (the first pack that declares one wins)."""
    kinds: dict[str, DeviceKind] = {}
    for pack in packs.builtin():
        for kind in pack.devices.values():
            kinds.setdefault(kind.device_type, kind)
    return kinds


def _grids(session: Session, district: str) -> list[Area]:
    return list(
        session.scalars(
            select(Area)
            .where(Area.level == AreaLevel.GRID, Area.code.startswith(district))
            .order_by(Area.code)
        )
    )


def seed_scenarios(session: Session) -> ScenarioSeed:
    """Install the packs and register their devices and residents; flushes, the caller commits."""
    bind_principal(session, SYSTEM)
    for pack in packs.builtin():
        packs.install(session, SYSTEM, pack)
    placed: list[tuple[DeviceKind, str, int]] = []
    for pack in packs.builtin():
        for kind in pack.devices.values():
            for district in kind.districts:
                grids = _grids(session, district)
                for i in range(kind.per_district if grids else 0):
                    # Meters of the residents live in the first grid (where the demo grid worker works).
                    grid = grids[0] if kind.pack == "elderly_care" else grids[(i * 7) % len(grids)]
                    placed.append((kind, district, grid.id))
    codes = _register(session, placed)
    residents = _residents(session, codes)
    session.flush()
    return ScenarioSeed(len(packs.builtin()), len(codes), residents)


def _register(session: Session, placed: list[tuple[DeviceKind, str, int]]) -> list[tuple[DeviceKind, str]]:
    """Register each device (city code allocated by the registry when it is installed)."""
    try:
        from cityhub.entities import service as entities
        from cityhub.entities.schemas import EntityIn, PointIn
    except ImportError:
        return [(kind, city_code(d, kind.type_code, i + 1)) for i, (kind, d, _g) in enumerate(placed)]
    out = []
    for n, (kind, district, grid_id) in enumerate(placed, start=1):
        grid = session.get(Area, grid_id)
        assert grid is not None
        location = (
            PointIn(lon=grid.center_lon, lat=grid.center_lat) if grid.center_lon and grid.center_lat else None
        )
        entity = entities.create(
            session,
            SYSTEM,
            EntityIn(
                type=kind.type_code,
                area=district,
                name=f"{kind.label} {grid.name} {n}号",
                location=location,
                attributes={"device_type": kind.device_type},
            ),
        )
        out.append((kind, entity.code))
    return out


def _residents(session: Session, codes: list[tuple[DeviceKind, str]]) -> int:
    pack = packs.get("elderly_care")
    gas = [code for kind, code in codes if kind.pack == pack.key and kind.device_type == "gas_meter"]
    water = [code for kind, code in codes if kind.pack == pack.key and kind.device_type == "water_meter"]
    grids = _grids(session, "370202")
    if not grids:
        return 0
    now = clock.now()
    for person, gas_meter, water_meter in zip(pack.residents, gas, water, strict=False):
        subjects.register(
            session,
            SYSTEM,
            SubjectIn(
                name=str(person["name"]),
                phone=str(person["phone"]),
                address=str(person["address"]),
                area=grids[0].code,
                devices=[gas_meter, water_meter],
                consent_at=now - timedelta(days=60),
            ),
        )
    return min(len(pack.residents), len(gas), len(water))


# ---------------------------------------------------------------- the live simulator


def demo_devices(session: Session) -> list[Device]:
    """The devices to simulate: every registered device of a kind the packs know (or, without a registry,
    the ones ``seed_scenarios`` made up)."""
    kinds = _kinds()
    try:
        from cityhub.models.entity import Entity
    except ImportError:
        return _unregistered(session, kinds)
    devices = []
    for entity in session.scalars(select(Entity).where(Entity.type.in_(("DV", "MT"))).order_by(Entity.code)):
        kind = kinds.get(str((entity.attributes or {}).get("device_type")))
        if kind is None or entity.status.value != "active":
            continue
        area = entity.grid_id or entity.community_id or entity.street_id or entity.district_id
        district = session.get(Area, entity.district_id) if entity.district_id else None
        code = district.code if district else None
        devices.append(Device(entity.code, kind, area_id=area, entity_id=entity.id, district=code))
    return devices


def _unregistered(session: Session, kinds: dict[str, DeviceKind]) -> list[Device]:
    devices = []
    serial = 0
    for pack in packs.builtin():
        for kind in pack.devices.values():
            for district in kind.districts:
                grids = _grids(session, district)
                for i in range(kind.per_district if grids else 0):
                    serial += 1
                    grid = grids[0] if kind.pack == "elderly_care" else grids[(i * 7) % len(grids)]
                    devices.append(
                        Device(city_code(district, kind.type_code, serial), kind, grid.id, district=district)
                    )
    return devices


def _known_metrics_only(devices: list[Device]) -> list[Device]:
    """Through the real ingest path only the metrics its catalogue knows: others would be dead letters."""
    from dataclasses import replace

    from cityhub.telemetry import catalog

    kept: dict[str, DeviceKind] = {}
    for device in devices:
        kind = device.kind
        if kind.name not in kept:
            spec = catalog.get(kind.device_type)
            known = tuple(m for m in kind.metrics if spec is not None and m.name in spec.metrics)
            if len(known) < len(kind.metrics):
                log.warning("demo sensors: %s does not report %s in this hub's catalogue", kind.device_type,
                            ", ".join(m.name for m in kind.metrics if m not in known))  # fmt: skip
            kept[kind.name] = replace(kind, metrics=known)
        device.kind = kept[kind.name]
    return [d for d in devices if d.kind.metrics]


class _SessionIngest:
    """The real ingest path in the job's own transaction: published on the bus after the job commits."""

    def __init__(self, session: Session) -> None:
        from cityhub.telemetry import ingest

        self.session = session
        self._ingest = ingest

    def send(self, readings: list[dict[str, Any]]) -> None:
        wire = [
            {"device": r["device"], "metric": r["metric"], "ts": r["ts"], "value": r["value"]}
            for r in readings
        ]
        self._ingest.ingest(
            self.session,
            wire,
            channel=self._ingest.Channel.REPLAY,
            source="demo-simulator",
            now=clock.now(),
            limits=self._ingest.Limits(),
        )


class DemoSensors:
    """The demo's sensors as a scheduler job (``Job("demo-sensors", step_s, DemoSensors())``)."""

    def __init__(self, *, incident_every_s: float = 240.0, seed: int = 0) -> None:
        self.incident_every_s = incident_every_s
        self.seed = seed
        self.simulator: SensorSimulator | None = None
        self.next_incident = 0
        self._last_incident = clock.now()

    def __call__(self, session: Session) -> int:
        sink = _SessionIngest(session) if ingest_available() else BusSink()
        if self.simulator is None:
            return self._start(session, sink)
        now = clock.now()
        if (now - self._last_incident).total_seconds() >= self.incident_every_s:
            self._incident(now)
        return self.simulator.step(sink, now)

    def _start(self, session: Session, sink: Any) -> int:
        devices = _known_metrics_only(demo_devices(session)) if ingest_available() else demo_devices(session)
        self.simulator = SensorSimulator(devices, seed=self.seed)
        now = clock.now()
        elderly = packs.get("elderly_care")
        person = session.scalar(
            select(AlertSubject).where(AlertSubject.active.is_(True)).order_by(AlertSubject.id)
        )
        if person is not None and person.devices:
            # One resident has not cooked since yesterday morning: the first alert the demo shows.
            self.simulator.inject(
                elderly.incident("no_gas"),
                at=now - timedelta(hours=25),
                devices={"gas_meter": [person.devices[0]]},
            )
        # A day for the hourly meters (their 24-hour windows), an hour for the sensors reporting every minute.
        slow = [d for d in devices if d.kind.interval_s >= 900]
        fast = [d for d in devices if d.kind.interval_s < 900]
        sent = self.simulator.backfill(sink, HISTORY, now=now, devices=slow)
        sent += self.simulator.backfill(sink, timedelta(hours=1), now=now, devices=fast)
        self._last_incident = now
        log.info("demo sensors: %d devices, %d readings of history", len(devices), sent)
        return sent

    def _incident(self, now: Any) -> None:
        assert self.simulator is not None
        key, name = ROTATION[self.next_incident % len(ROTATION)]
        self.next_incident += 1
        self._last_incident = now
        self.simulator.inject(packs.get(key).incident(name), at=now)
