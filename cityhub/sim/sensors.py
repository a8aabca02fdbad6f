"""The sensor simulator: realistic reading streams for the demo city, and the hub's load generator.

Devices report on their interval with a daily cycle (residential, business-hours, flat), noise and
dropouts; counters (meters) accumulate, gauges move around their base. *Incidents* change a metric for a
while — a meter that stops, water rising at a low point, methane in a manhole, a sprinkler main losing
pressure — as declared in the scenario packs (``cityhub/scenarios/packs/*.yaml``). Everything is in
reading time: ``readings(start, end)`` generates what the devices would have sent in that interval, so
a day of history (``backfill``) and the live stream (``step``) come from the same code.

Readings go out through a *sink*: the hub's own ingest path in process (``IngestSink``), HTTP batches
(``HttpSink``, ``POST /api/v1/telemetry``), MQTT (``MqttSink``) or, when no telemetry service is present,
straight onto the bus (``BusSink``). ``cityhub simulate`` drives it from the command line; with
``--load`` it is the load generator (N devices × M readings per second).
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx

from cityhub.kit.bus import bus
from cityhub.kit.timeutil import SHANGHAI, clock

log = logging.getLogger(__name__)


# Hourly multipliers of a day's mean, local time: households cook and wash mornings and evenings; offices
# and rain do their own thing.
def _hours(text: str) -> tuple[float, ...]:
    values = tuple(float(v) for v in text.split())
    assert len(values) == 24
    return values


SHAPES: dict[str, tuple[float, ...]] = {
    "flat": (1.0,) * 24,
    "residential": _hours(
        "0.1 .05 .05 .05 0.1 0.4 1.6 2.2 1.4 0.8 0.7 1.5 2.0 1.0 0.6 0.6 0.8 1.8 2.6 2 1.4 1 .6 .3"
    ),
    "daytime": _hours(
        "0.6 0.5 0.5 0.5 0.6 0.7 0.9 1.1 1.3 1.4 1.4 1.4 1.3 1.3 1.4 1.4 1.3 1.2 1.1 1.0 0.9 0.8 .7 .6"
    ),
}


@dataclass(frozen=True)
class MetricProfile:
    """How one metric of a device behaves. ``counter``: a cumulative meter growing by ``rate`` per hour
    (times the daily shape); ``gauge``: ``base`` plus ``amplitude`` × (shape − 1) plus noise."""

    name: str
    kind: str = "gauge"
    base: float = 0.0
    amplitude: float = 0.0
    rate: float = 0.0
    shape: str = "flat"
    noise: float = 0.0
    low: float | None = None
    high: float | None = None
    decimals: int = 3

    @classmethod
    def of(cls, name: str, data: dict[str, Any]) -> MetricProfile:
        allowed = {f for f in cls.__dataclass_fields__ if f != "name"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"metric {name}: unknown field(s) {', '.join(sorted(unknown))}")
        if data.get("shape", "flat") not in SHAPES:
            raise ValueError(f"metric {name}: shape must be one of {', '.join(SHAPES)}")
        return cls(name=name, **data)


@dataclass(frozen=True)
class DeviceKind:
    """A kind of device of a scenario pack: its registry type, device type, interval and metrics."""

    name: str
    label: str
    type_code: str
    device_type: str
    interval_s: float
    metrics: tuple[MetricProfile, ...]
    pack: str = ""
    per_district: int = 1
    districts: tuple[str, ...] = ()


@dataclass
class Device:
    """One simulated device: its city code, area and running state."""

    code: str
    kind: DeviceKind
    area_id: int | None = None
    district: str | None = None
    entity_id: int | None = None
    offset_s: float = 0.0  # phase of its reporting schedule
    totals: dict[str, float] = field(default_factory=dict)
    held: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Effect:
    """What an incident does to one metric: ``freeze`` (a counter stops, a gauge holds), ``set`` (the value
    jumps to ``value``), ``ramp`` (moves to ``value`` over ``ramp`` of the duration), ``add`` (offset)."""

    metric: str
    mode: str
    value: float = 0.0
    ramp: float = 0.5

    @classmethod
    def of(cls, data: dict[str, Any]) -> Effect:
        if data.get("mode") not in ("freeze", "set", "ramp", "add"):
            raise ValueError(f"effect mode must be freeze, set, ramp or add, got {data.get('mode')!r}")
        return cls(**data)


@dataclass(frozen=True)
class Target:
    """The devices of one kind an incident touches, and what it does to them."""

    kind: str
    effects: tuple[Effect, ...]
    devices: int = 1


@dataclass(frozen=True)
class IncidentKind:
    """An incident of a scenario pack: its targets are picked in one district (rain and the low points it
    floods, a manhole and the pipe next to it)."""

    name: str
    label: str
    duration_s: float
    targets: tuple[Target, ...]
    pack: str = ""


@dataclass(frozen=True)
class Incident:
    kind: IncidentKind
    effects: dict[str, tuple[Effect, ...]]  # device code → effects
    start: float
    end: float

    @property
    def devices(self) -> tuple[str, ...]:
        return tuple(self.effects)

    def progress(self, ts: float) -> float | None:
        if not self.start <= ts < self.end:
            return None
        return (ts - self.start) / max(1.0, self.end - self.start)


def _local_hour(ts: float) -> int:
    return datetime.fromtimestamp(ts, SHANGHAI).hour


class SensorSimulator:
    """Generates the readings of its devices; see the module docstring."""

    def __init__(self, devices: Sequence[Device], *, seed: int = 0, dropout: float = 0.01) -> None:
        self.devices = list(devices)
        self.rng = random.Random(seed)
        self.dropout = dropout
        self.incidents: list[Incident] = []
        self.last: datetime | None = None
        for device in self.devices:
            device.offset_s = self.rng.uniform(0, device.kind.interval_s)

    # ---------------------------------------------------------------- incidents

    def inject(
        self, kind: IncidentKind, at: datetime | None = None, devices: dict[str, Sequence[str]] | None = None
    ) -> Incident:
        """Start an incident now (or at ``at``): on the given devices per target kind, or on devices of the
        targets' kinds picked in one district (one not already in an incident, when there is one)."""
        start = (at or clock.now()).timestamp()
        chosen = devices if devices is not None else self._pick(kind, start)
        effects: dict[str, tuple[Effect, ...]] = {}
        for target in kind.targets:
            for code in chosen.get(target.kind, ()):
                effects[code] = effects.get(code, ()) + target.effects
        incident = Incident(kind, effects, start, start + kind.duration_s)
        self.incidents.append(incident)
        log.info("incident %s on %s", kind.name, ", ".join(incident.devices))
        return incident

    def _pick(self, kind: IncidentKind, start: float) -> dict[str, list[str]]:
        busy = {code for i in self.incidents if i.end > start for code in i.devices}
        known = sorted({d.district for d in self.devices if d.district})
        # One district at a time; devices placed nowhere in particular all count as one place.
        districts: list[str | None] = list(known) if known else [None]

        def pool(target: Target, district: str | None) -> list[str]:
            return [
                d.code
                for d in self.devices
                if d.kind.name == target.kind and (district is None or d.district == district)
            ]

        usable = [dist for dist in districts if all(len(pool(t, dist)) >= t.devices for t in kind.targets)]
        quiet = [dist for dist in usable if not any(c in busy for t in kind.targets for c in pool(t, dist))]
        district = self.rng.choice(quiet or usable) if (quiet or usable) else None
        return {
            t.kind: self.rng.sample(pool(t, district), min(t.devices, len(pool(t, district))))
            for t in kind.targets
        }

    def _effects(self, code: str, metric: str, ts: float) -> list[tuple[float, Effect]]:
        return [
            (p, e)
            for i in self.incidents
            if code in i.effects and (p := i.progress(ts)) is not None
            for e in i.effects[code]
            if e.metric == metric
        ]

    # ---------------------------------------------------------------- readings

    def readings(
        self, start: datetime, end: datetime, devices: Sequence[Device] | None = None
    ) -> list[dict[str, Any]]:
        """Every reading the devices (all, or those given) send in (start, end], in time order."""
        t0, t1 = start.timestamp(), end.timestamp()
        out: list[tuple[float, dict[str, Any]]] = []
        for device in self.devices if devices is None else devices:
            interval = device.kind.interval_s
            k = math.floor((t0 - device.offset_s) / interval) + 1
            ts = device.offset_s + k * interval
            while ts <= t1:
                if self.rng.random() >= self.dropout:
                    out.extend((ts, r) for r in self._device_readings(device, ts))
                else:
                    self._advance_counters(device, ts)
                ts += interval
        self.incidents = [i for i in self.incidents if i.end > t0 - 86400]
        out.sort(key=lambda pair: pair[0])
        return [r for _, r in out]

    def _advance_counters(self, device: Device, ts: float) -> None:
        # A dropped reading is not sent, but the meter still turns.
        for profile in device.kind.metrics:
            if profile.kind == "counter":
                self._value(device, profile, ts)

    def _device_readings(self, device: Device, ts: float) -> Iterable[dict[str, Any]]:
        stamp = datetime.fromtimestamp(ts, UTC).isoformat()
        for profile in device.kind.metrics:
            value = self._value(device, profile, ts)
            yield {
                "device": device.code,
                "metric": profile.name,
                "ts": stamp,
                "value": round(value, profile.decimals),
                "entity_id": device.entity_id,
                "area_id": device.area_id,
            }

    def _value(self, device: Device, profile: MetricProfile, ts: float) -> float:
        shape = SHAPES[profile.shape][_local_hour(ts)]
        effects = self._effects(device.code, profile.name, ts)
        if profile.kind == "counter":
            step = profile.rate * device.kind.interval_s / 3600 * shape
            step = max(0.0, step * (1 + profile.noise * self.rng.gauss(0, 1)))
            for _progress, effect in effects:
                if effect.mode == "freeze":
                    step = 0.0
                elif effect.mode == "set":  # a counter running at a set rate per hour (a tap left open)
                    step = effect.value * device.kind.interval_s / 3600
            total = device.totals.get(profile.name, profile.base) + step
            device.totals[profile.name] = total
            return total
        value = profile.base + profile.amplitude * (shape - 1) + profile.noise * self.rng.gauss(0, 1)
        for progress, effect in effects:
            value = self._apply(device, profile, effect, value, progress)
        if not effects:
            device.held.pop(profile.name, None)
        if profile.low is not None:
            value = max(profile.low, value)
        if profile.high is not None:
            value = min(profile.high, value)
        return value

    def _apply(
        self, device: Device, profile: MetricProfile, effect: Effect, value: float, progress: float
    ) -> float:
        if effect.mode == "freeze":
            return device.held.setdefault(profile.name, value)
        if effect.mode == "set":
            return effect.value + profile.noise * 0.1 * self.rng.gauss(0, 1)
        if effect.mode == "add":
            return value + effect.value
        share = min(1.0, progress / effect.ramp) if effect.ramp > 0 else 1.0
        return value + (effect.value - value) * share

    def step(self, sink: Sink, now: datetime | None = None) -> int:
        """Send what the devices produced since the last step (the first step sends nothing)."""
        now = now or clock.now()
        start = self.last or now
        self.last = now
        readings = self.readings(start, now) if now > start else []
        if readings:
            sink.send(readings)
        return len(readings)

    def backfill(
        self,
        sink: Sink,
        span: timedelta,
        *,
        now: datetime | None = None,
        chunk: int = 5_000,
        devices: Sequence[Device] | None = None,
    ) -> int:
        """Send the readings of the last ``span`` (history for the windows), in chunks."""
        now = now or clock.now()
        readings = self.readings(now - span, now, devices)
        for i in range(0, len(readings), chunk):
            sink.send(readings[i : i + chunk])
        self.last = now
        return len(readings)


# ---------------------------------------------------------------- sinks


class Sink(Protocol):
    def send(self, readings: list[dict[str, Any]]) -> None: ...


class BusSink:
    """Straight onto the bus, as telemetry publishes after storing (for when no ingest path runs)."""

    def send(self, readings: list[dict[str, Any]]) -> None:
        bus.publish("telemetry.readings", readings)


def _wire(readings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a device sends: no registry ids (the hub resolves them from the code)."""
    return [
        {"device": r["device"], "metric": r["metric"], "ts": r["ts"], "value": r["value"]} for r in readings
    ]


class HttpSink:
    """``POST /api/v1/telemetry`` in batches; a 429 or 503 is retried after the server's pause."""

    def __init__(self, base_url: str, token: str, *, batch: int = 1_000, timeout_s: float = 30.0) -> None:
        self.client = httpx.Client(
            base_url=base_url.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s
        )
        self.batch = batch
        self.sent = 0
        self.rejected = 0

    def send(self, readings: list[dict[str, Any]]) -> None:
        wire = _wire(readings)
        for i in range(0, len(wire), self.batch):
            self._post(wire[i : i + self.batch])

    def _post(self, chunk: list[dict[str, Any]], attempts: int = 20) -> None:
        for _ in range(attempts):
            response = self.client.post("/api/v1/telemetry", json=chunk)
            if response.status_code in (429, 503):
                time.sleep(float(response.headers.get("retry-after", "0.2") or 0.2))
                continue
            if response.status_code >= 400:
                log.warning("telemetry refused a batch: %s %s", response.status_code, response.text[:300])
                self.rejected += len(chunk)
                return
            body = response.json() if response.content else {}
            self.sent += int(body.get("accepted", len(chunk))) if isinstance(body, dict) else len(chunk)
            self.rejected += len(body.get("rejected", [])) if isinstance(body, dict) else 0
            return
        log.warning("telemetry stayed busy; a batch of %d readings was not sent", len(chunk))

    def close(self) -> None:
        self.client.close()


class MqttSink:
    """One MQTT message per device and batch (a JSON array) on ``{prefix}/{device}``, QoS 1."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883, prefix: str = "cityhub/telemetry") -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.prefix = prefix.rstrip("/")
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"cityhub-sim-{random.getrandbits(32):x}"
        )
        self.client.max_queued_messages_set(10_000)
        self.client.connect(host, port)
        self.client.loop_start()

    def send(self, readings: list[dict[str, Any]]) -> None:
        by_device: dict[str, list[dict[str, Any]]] = {}
        for r in _wire(readings):
            by_device.setdefault(r["device"], []).append(r)
        infos = [
            self.client.publish(f"{self.prefix}/{device}", json.dumps(items), qos=1)
            for device, items in by_device.items()
        ]
        for info in infos:
            info.wait_for_publish(timeout=30)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class IngestSink:
    """The hub's own ingest path, in process (check, store, dead-letter, publish after the commit)."""

    def __init__(self, factory: Any) -> None:
        from cityhub.telemetry import ingest

        self._ingest = ingest
        self.factory = factory

    def send(self, readings: list[dict[str, Any]]) -> None:
        from cityhub.kit.db import unit_of_work

        with unit_of_work(self.factory) as session:
            self._ingest.ingest(
                session,
                _wire(readings),
                channel=self._ingest.Channel.REPLAY,
                source="simulator",
                now=clock.now(),
                limits=self._ingest.Limits(),
            )


def ingest_available() -> bool:
    """Whether the telemetry service (issue 3, items 2–3) is installed in this tree."""
    try:
        from cityhub.telemetry import ingest  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------- the load generator


def load_devices(count: int, rate_per_device: float, *, prefix_area: str = "370202") -> list[Device]:
    """``count`` gauge devices each sending ``rate_per_device`` readings a second (codes from the registry's
    scheme; register them first when going through the real ingest path)."""
    kind = DeviceKind(
        name="load",
        label="负载测试设备",
        type_code="DV",
        device_type="water_level",
        interval_s=1.0 / rate_per_device,
        metrics=(
            MetricProfile("water_level", base=2.0, amplitude=0.3, shape="daytime", noise=0.02, decimals=3),
        ),
    )
    return [Device(code=city_code(prefix_area, "DV", i + 1), kind=kind) for i in range(count)]


def city_code(area: str, type_code: str, serial: int) -> str:
    """A city code in the registry's scheme (area + type + serial + check character)."""
    try:
        from cityhub.entities.codes import compose
    except ImportError:
        return f"{area}{type_code}{serial:08d}X"
    return compose(area, type_code, serial)


# ---------------------------------------------------------------- ``cityhub simulate``


def simulate(
    url: str = "http://127.0.0.1:8000",
    token: str | None = None,
    transport: str = "http",
    mqtt_url: str = "mqtt://127.0.0.1:1883",
    topic_prefix: str = "cityhub/telemetry",
    seconds: float = 0.0,
    step: float = 1.0,
    load: int = 0,
    rate: float = 1.0,
    incident_every: float = 240.0,
    backfill_hours: float = 0.0,
    seed: int = 0,
) -> None:
    """Stream readings to a running hub until ``seconds`` have passed (0: until interrupted)."""
    sink = _sink(url, token, transport, mqtt_url, topic_prefix)
    simulator, rotation = _simulator(load, rate, seed)
    if backfill_hours > 0:
        sent = simulator.backfill(sink, timedelta(hours=backfill_hours))
        log.info("sent %d readings of history", sent)
    started = time.monotonic()
    last_incident = started
    total = 0
    try:
        while not seconds or time.monotonic() - started < seconds:
            tick = time.monotonic()
            if rotation and tick - last_incident >= incident_every:
                simulator.inject(rotation[int(tick // incident_every) % len(rotation)])
                last_incident = tick
            total += simulator.step(sink, datetime.now(UTC))
            time.sleep(max(0.0, step - (time.monotonic() - tick)))
    except KeyboardInterrupt:
        pass
    finally:
        close = getattr(sink, "close", None)
        if close is not None:
            close()
    log.info("sent %d readings in %.0f s", total, time.monotonic() - started)
    print(f"sent {total} readings in {time.monotonic() - started:.0f} s")


def _sink(url: str, token: str | None, transport: str, mqtt_url: str, prefix: str) -> Sink:
    if transport == "mqtt":
        from urllib.parse import urlparse

        parsed = urlparse(mqtt_url)
        return MqttSink(parsed.hostname or "127.0.0.1", parsed.port or 1883, prefix)
    if transport != "http":
        raise ValueError(f"transport must be http or mqtt, got {transport!r}")
    if not token:
        raise ValueError("give an API token of a gateway user (cityhub users token …) with --token")
    return HttpSink(url, token)


def _simulator(load: int, rate: float, seed: int) -> tuple[SensorSimulator, list[IncidentKind]]:
    if load > 0:
        return SensorSimulator(load_devices(load, rate), seed=seed, dropout=0.0), []
    from cityhub.kit.db import make_engine, make_session_factory
    from cityhub.kit.settings import get_settings
    from cityhub.scenarios import pack as packs
    from cityhub.scenarios.demo import ROTATION, demo_devices

    engine = make_engine(get_settings().effective_database_url)
    try:
        with make_session_factory(engine)() as session:
            devices = demo_devices(session)
    finally:
        engine.dispose()
    if not devices:
        raise ValueError(
            "no scenario devices registered in this hub's database (run cityhub demo, or use --load)"
        )
    rotation = [packs.get(key).incident(name) for key, name in ROTATION]
    return SensorSimulator(devices, seed=seed), rotation
