"""The one ingest path (HTTP batch, MQTT, CSV replay, dead-letter replay): check, store, dead-letter, publish.

Every reading is checked: a known, active device; a metric its device type reports; the declared unit (when
one is sent); a physically possible value; a timestamp with an offset, not far in the future and not older
than raw retention; not a duplicate of (device, metric, ts). Accepted readings are inserted in one batch;
rejected ones go to the dead-letter store with the reason and the raw reading. Nothing is dropped silently.
Subscribers on ``telemetry.readings`` get the accepted readings after the transaction commits, each as
``{"device", "metric", "ts", "value", "entity_id", "area_id"}`` with ``ts`` in seconds since the epoch (a
number: subscribers need no second parse of the text the device sent).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

import orjson
from sqlalchemy import insert
from sqlalchemy.orm import Session

from cityhub.entities import codes
from cityhub.kit.bus import publish_after_commit
from cityhub.kit.settings import Settings
from cityhub.models.telemetry import DeadLetter, DeadLetterStatus
from cityhub.telemetry import catalog
from cityhub.telemetry.devices import Device
from cityhub.telemetry.devices import cache as device_cache
from cityhub.telemetry.repository import insert_readings, to_us

TOPIC = "telemetry.readings"
MAX_RAW_CHARS = 20_000
MAX_QUALITY = 16


class Reason(StrEnum):
    """Why a reading was rejected (the dead letter's ``reason``)."""

    MALFORMED = "malformed"
    UNKNOWN_DEVICE = "unknown_device"
    INACTIVE_DEVICE = "inactive_device"
    UNKNOWN_METRIC = "unknown_metric"
    WRONG_UNIT = "wrong_unit"
    IMPOSSIBLE_VALUE = "impossible_value"
    NO_OFFSET = "no_offset"
    FUTURE = "future_timestamp"
    TOO_OLD = "too_old"
    DUPLICATE = "duplicate"


class Channel(StrEnum):
    HTTP = "http"
    MQTT = "mqtt"
    REPLAY = "replay"  # cityhub telemetry replay FILE.csv
    DEAD_LETTER = "dead_letter"  # replay of stored dead letters


@dataclass(frozen=True)
class Limits:
    """Time bounds of acceptable timestamps."""

    max_future: timedelta = timedelta(minutes=5)
    max_age: timedelta = timedelta(days=30)

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            max_future=timedelta(seconds=settings.telemetry_max_future_s),
            max_age=timedelta(days=settings.telemetry_raw_retention_days),
        )


class Bad(NamedTuple):
    """Why one reading fails a check."""

    reason: Reason
    detail: str


@dataclass(frozen=True)
class Rejection:
    index: int
    reason: Reason
    detail: str
    item: Any
    device: str | None = None
    metric: str | None = None


@dataclass
class Checked:
    """The outcome of checking a batch: rows ready to insert (with their item index) and rejections."""

    rows: list[ReadingRow] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


@dataclass
class Outcome:
    """What happened to a batch: accepted count and the rejections with their dead-letter ids."""

    accepted: int
    rejections: list[Rejection]
    dead_letter_ids: list[int | None]


def check(session: Session, items: list[Any], now: datetime, limits: Limits) -> Checked:
    """Check every item; resolve all devices of the batch with one cache lookup, each metric spec once."""
    wanted = {i["device"] for i in items if isinstance(i, dict) and isinstance(i.get("device"), str)}
    window = _Window(device_cache.resolve(session, wanted), now + limits.max_future, now - limits.max_age)
    out = Checked()
    seen: set[tuple[int, str, int]] = set()
    for index, item in enumerate(items):
        result = _check_one(item, window)
        if isinstance(result, Bad):
            out.rejections.append(_rejection(index, result.reason, result.detail, item))
            continue
        row, device = result
        key = row[:3]
        if key in seen:
            out.rejections.append(_rejection(index, Reason.DUPLICATE, "repeated in the same batch", item))
            continue
        seen.add(key)
        out.rows.append(row)
        out.indexes.append(index)
        out.devices.append(device)
    return out


class _Window:
    """What one batch is checked against: its devices, the time bounds, the metric specs met so far."""

    def __init__(self, known: dict[str, Device], latest: datetime, earliest: datetime) -> None:
        self.known = known
        self.latest, self.earliest = latest, earliest
        self.latest_us, self.earliest_us = to_us(latest), to_us(earliest)
        self.specs: dict[str, dict[str, catalog.MetricSpec | Bad]] = {}
        # A gateway's batch often carries many readings taken at one moment: each ts text is parsed once.
        self.stamps: dict[str, int | Bad] = {}

    def spec(self, device: Device, metric: str) -> catalog.MetricSpec | Bad:
        of_kind = self.specs.get(device.kind)
        if of_kind is None:
            of_kind = self.specs[device.kind] = {}
        found = of_kind.get(metric)
        if found is None:
            found = of_kind[metric] = _metric(device, metric)
        return found

    def micros(self, ts: str) -> int | Bad:
        found = self.stamps.get(ts)
        if found is None:
            stamp = _timestamp(ts)
            found = self.stamps[ts] = stamp if isinstance(stamp, Bad) else to_us(stamp)
        return found


def _rejection(index: int, reason: Reason, detail: str, item: Any) -> Rejection:
    device = metric = None
    if isinstance(item, dict):
        device = _text(item.get("device"), 60)
        metric = _text(item.get("metric"), 60)
    return Rejection(index, reason, detail[:500], item, device, metric)


def _text(value: Any, size: int) -> str | None:
    """Text for a dead letter's columns: bounded, and without NUL (PostgreSQL text cannot hold it)."""
    if value is None:
        return None
    return str(value).replace("\x00", "\\x00")[:size]


ReadingRow = tuple[int, str, int, float, str | None]  # entity_id, metric, ts (µs), value, quality
CheckResult = tuple[ReadingRow, Device] | Bad


def _check_one(item: Any, w: _Window) -> CheckResult:
    if isinstance(item, NotJson):
        return Bad(Reason.MALFORMED, f"not JSON: {item.error}")
    if not isinstance(item, dict):
        return Bad(Reason.MALFORMED, "a reading is an object {device, metric, ts, value}")
    code, metric, ts, value = item.get("device"), item.get("metric"), item.get("ts"), item.get("value")
    if type(code) is not str or type(metric) is not str or type(ts) is not str:
        return Bad(Reason.MALFORMED, "device, metric and ts must be strings")
    if type(value) is not float and (type(value) is not int):
        return Bad(Reason.MALFORMED, f"value must be a number, got {_short(value)}")
    if not math.isfinite(value):
        return Bad(Reason.MALFORMED, f"value must be a finite number, got {_short(value)}")
    micros = w.micros(ts)
    if isinstance(micros, Bad):
        return micros
    if micros > w.latest_us:
        return Bad(
            Reason.FUTURE, f"ts {ts} is after {w.latest.isoformat()} (the hub's clock plus the allowed skew)"
        )
    if micros < w.earliest_us:
        return Bad(Reason.TOO_OLD, f"ts {ts} is older than raw retention ({w.earliest.isoformat()})")
    device = w.known.get(code)
    if device is None:
        return Bad(Reason.UNKNOWN_DEVICE, _unknown_device(code))
    if not device.active:
        return Bad(Reason.INACTIVE_DEVICE, f"device {code} is retired")
    spec = w.spec(device, metric)
    if isinstance(spec, Bad):
        return spec
    unit = item.get("unit")
    if unit is not None and (type(unit) is not str or not spec.accepts_unit(unit)):
        return Bad(Reason.WRONG_UNIT, f"{metric} is measured in {spec.unit}, got {_short(unit)}")
    if not spec.min <= value <= spec.max:
        return Bad(
            Reason.IMPOSSIBLE_VALUE, f"{metric} = {value} is outside the possible {spec.min} … {spec.max}"
        )
    quality = item.get("quality")
    row = (
        device.entity_id,
        metric,
        micros,
        float(value),
        None if quality is None else str(quality)[:MAX_QUALITY],
    )
    return row, device


def _timestamp(ts: str) -> datetime | Bad:
    try:
        stamp = datetime.fromisoformat(ts)
    except ValueError:
        return Bad(Reason.MALFORMED, f"ts {_short(ts)} is not ISO 8601 (e.g. 2026-11-21T08:00:00+08:00)")
    if stamp.tzinfo is None or stamp.utcoffset() is None:
        return Bad(Reason.NO_OFFSET, f"ts {ts} has no UTC offset; send e.g. {ts}+08:00 or {ts}Z")
    return stamp


def _unknown_device(code: str) -> str:
    try:
        codes.parse(code)
    except codes.InvalidCode as exc:
        return f"not a valid city code: {exc}"
    return f"no device {code} in the registry: register it first"


def _metric(device: Device, metric: str) -> catalog.MetricSpec | Bad:
    device_type = catalog.get(device.kind)
    spec = device_type.metrics.get(metric) if device_type else None
    if spec is None:
        known = ", ".join(device_type.metrics) if device_type else "none"
        return Bad(
            Reason.UNKNOWN_METRIC,
            f"a {device.kind} does not report {_short(metric)} (it reports: {known})",
        )
    return spec


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def ingest(
    session: Session,
    items: list[Any],
    *,
    channel: Channel,
    source: str | None,
    now: datetime,
    limits: Limits,
) -> Outcome:
    """Check and store one batch in the session's transaction; the caller commits, then acknowledges."""
    checked = check(session, items, now, limits)
    duplicates = insert_readings(session, checked.rows)
    rejections = list(checked.rejections)
    if duplicates:
        rejections.extend(_duplicates(checked, duplicates, items))
    accepted = len(checked.rows) - len(duplicates)
    ids = dead_letter(session, rejections, channel=channel, source=source, now=now)
    publish(session, checked, duplicates)
    return Outcome(accepted, sorted(rejections, key=lambda r: r.index), ids)


def _duplicates(checked: Checked, duplicates: set[tuple[int, str, int]], items: list[Any]) -> list[Rejection]:
    out = []
    for row, index in zip(checked.rows, checked.indexes, strict=True):
        if row[:3] in duplicates:
            out.append(
                _rejection(
                    index,
                    Reason.DUPLICATE,
                    "a reading with this device, metric and ts is stored",
                    items[index],
                )
            )
    return out


def publish(session: Session, checked: Checked, duplicates: set[tuple[int, str, int]]) -> None:
    payload = [
        {
            "device": device.code,
            "metric": row[1],
            "ts": row[2] / 1_000_000,
            "value": row[3],
            "entity_id": device.entity_id,
            "area_id": device.area_id,
        }
        for row, device in zip(checked.rows, checked.devices, strict=True)
        if not duplicates or row[:3] not in duplicates
    ]
    if payload:
        publish_after_commit(session, TOPIC, payload)


def dead_letter(
    session: Session, rejections: list[Rejection], *, channel: Channel, source: str | None, now: datetime
) -> list[int | None]:
    """Store rejections (their raw reading as JSON) and return their ids in order."""
    if not rejections:
        return []
    rejections.sort(key=lambda r: r.index)
    rows = [
        {
            "received_at": now,
            "channel": str(channel),
            "source": (source or "")[:200] or None,
            "device": r.device,
            "metric": r.metric,
            "reason": str(r.reason),
            "detail": _text(r.detail, 500),
            "raw": raw_text(r.item),
            "status": DeadLetterStatus.PENDING,
            "attempts": 0,
        }
        for r in rejections
    ]
    result = session.execute(insert(DeadLetter).returning(DeadLetter.id, sort_by_parameter_order=True), rows)
    return [int(i) for i in result.scalars()]


def raw_text(item: Any) -> str:
    """The raw reading as it came, as JSON text (bytes that are not JSON are kept as text, NUL escaped)."""
    return _text(_raw(item), MAX_RAW_CHARS) or ""


def _raw(item: Any) -> str:
    if isinstance(item, (bytes, bytearray)):
        return bytes(item)[:MAX_RAW_CHARS].decode("utf-8", errors="replace")
    if isinstance(item, str) and not item.startswith(("{", "[")):
        return item[:MAX_RAW_CHARS]
    try:
        return orjson.dumps(item, option=orjson.OPT_NON_STR_KEYS).decode()[:MAX_RAW_CHARS]
    except (TypeError, orjson.JSONEncodeError):
        return repr(item)[:MAX_RAW_CHARS]


class NotJson(bytes):
    """A line or message that is not JSON; it travels with the batch and is dead-lettered as malformed."""

    error: str = ""


def parse_line(raw: bytes) -> Any:
    """One JSON value, or ``NotJson`` carrying the raw bytes and the parser's complaint."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        bad = NotJson(raw)
        bad.error = str(exc)
        return bad
