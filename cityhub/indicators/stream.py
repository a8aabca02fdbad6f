"""The sensing stream: readings in, indicator values, warning levels and alerts out.

``SensingStream`` subscribes to the bus topic ``telemetry.readings`` (published by telemetry once readings
are durable: a list of ``{"device", "metric", "ts", "value", "entity_id", "area_id"}``, ``ts`` in seconds
since the epoch or ISO 8601 text) and to ``sensing.tick`` (published by the scheduler). For each batch, in
one transaction, it

1. adds the readings to the per-(device, metric) windows (``windows.Series``);
2. checks device health (jump, frozen value, back from silence) and feeds anomaly tracks;
3. evaluates every indicator over a touched metric — per entity, or rolled up over the entities of each
   area — and classifies the values with hysteresis;
4. stores what changed (a level change at once; values at most every ``flush_s``; history points at
   every level change and at most every ``history_every``) and raises, repeats or clears alerts;
5. hands the batch to its listeners (the linkage rules) in the same transaction.

A tick slides the windows to the hub's clock (sums and counts fall as readings stop), finds silent
devices and evaluates the indicators over events. ``inline=True`` processes in the publisher's thread
(tests, deterministic); otherwise a worker thread drains a bounded queue, so a burst pushes back on the
publisher instead of growing memory. State is in memory per process; levels (for hysteresis) are reloaded
from ``indicator_states`` at start.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from cityhub.access.principal import SYSTEM
from cityhub.alerts import health
from cityhub.alerts import service as alerts
from cityhub.alerts.anomaly import AnomalyTrack, SlotScore, anomaly_type
from cityhub.alerts.subjects import SubjectRef, by_device
from cityhub.audit.hooks import bind_principal
from cityhub.indicators import definitions, evaluate
from cityhub.indicators.areas import AreaTree
from cityhub.indicators.definitions import Compiled, Definitions
from cityhub.indicators.evaluate import Observation, iso, reading
from cityhub.indicators.spec import AlertSpec, ScoreFormula, TelemetryFormula, WatchSpec, seconds
from cityhub.indicators.windows import Series
from cityhub.kit.bus import Bus, publish_after_commit
from cityhub.kit.bus import bus as default_bus
from cityhub.kit.db import unit_of_work
from cityhub.kit.timeutil import clock
from cityhub.models.alert import AlertSource
from cityhub.models.area import AreaLevel
from cityhub.models.indicator import IndicatorState, IndicatorValue, WarningLevel

log = logging.getLogger(__name__)

READINGS = "telemetry.readings"
TICK = "sensing.tick"
CHANGED = "indicators.changed"
MAX_BATCH = 5_000


@dataclass
class State:
    """What the stream remembers of one stored indicator state."""

    id: int | None
    area_id: int | None
    value: float | None
    level: WarningLevel | None
    at: float
    stored_at: float = 0.0  # monotonic time of the last write
    history_at: float = -math.inf  # reading time of the last history point
    alerted_at: float = 0.0  # monotonic time of the last alert repeat
    dirty: bool = False


@dataclass(frozen=True)
class LevelChange:
    indicator: Compiled
    subject: str
    area_id: int | None
    before: WarningLevel | None
    after: WarningLevel | None
    value: float


@dataclass
class Batch:
    """What one batch (or tick) changed, for the listeners."""

    now: datetime
    tick: bool = False
    devices: set[str] = field(default_factory=set)
    areas: set[int] = field(default_factory=set)
    changes: list[LevelChange] = field(default_factory=list)


Listener = Callable[[Session, "SensingStream", Batch], None]


class Reading(NamedTuple):
    device: str
    metric: str
    ts: float
    value: float
    entity_id: int | None
    area_id: int | None


def parse(raw: Any) -> Reading | None:
    """One bus payload item; anything malformed is skipped (telemetry has validated what it stored)."""
    try:
        ts = raw["ts"]
        if type(ts) is not float:  # telemetry publishes seconds as a float; others may not
            if type(ts) is int:
                ts = float(ts)
            else:
                moment = ts if isinstance(ts, datetime) else datetime.fromisoformat(str(ts))
                ts = (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).timestamp()
        value = raw["value"]
        if type(value) is not float:
            value = float(value)
        if not (math.isfinite(value) and math.isfinite(ts)):
            return None
        device, metric = raw["device"], raw["metric"]
        return Reading(
            device if type(device) is str else str(device),
            metric if type(metric) is str else str(metric),
            ts,
            value,
            raw.get("entity_id"),
            raw.get("area_id"),
        )
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


class SensingStream:
    """Readings → indicators → alerts, in memory with the results stored; see the module docstring."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        inline: bool = True,
        bus: Bus | None = None,
        flush_s: float = 5.0,
        max_queue: int = 2_000,
    ) -> None:
        self.factory = factory
        self.inline = inline
        self.bus = bus or default_bus
        self.flush_s = flush_s
        self.defs = Definitions()
        self.areas = AreaTree()
        self.series: dict[tuple[str, str], Series] = {}
        self.devices: dict[str, dict[str, Series]] = defaultdict(dict)
        self.tracks: dict[tuple[str, str], AnomalyTrack] = {}
        self.states: dict[tuple[int, str], State] = {}
        self.by_indicator: dict[int, dict[str, State]] = defaultdict(dict)
        self.by_metric: dict[str, list[Series]] = defaultdict(list)
        # Window lengths asked for by others (the linkage rules' reading conditions).
        self.extra_windows: dict[str, set[float]] = defaultdict(set)
        self.subjects: dict[str, SubjectRef] = {}
        # (indicator id, area id) → device → its value, for roll-ups by area.
        self.contributions: dict[tuple[int, int], dict[str, float]] = defaultdict(dict)
        self.silent: set[str] = set()
        # (indicator id, term index) → area id → events counted, for score terms over events.
        self.term_counts: dict[tuple[int, int], dict[int, int]] = {}
        self.listeners: list[Listener] = []
        self.processed = 0
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> SensingStream:
        try:
            with unit_of_work(self.factory) as session:
                self.reload(session)
                self._load_states(session)
        except SQLAlchemyError:
            # An unmigrated database (the OpenAPI schema's app): run empty, reload on the next change.
            log.warning("sensing stream starts without definitions: the database is not ready", exc_info=True)
        self._unsubscribe = [
            self.bus.subscribe(READINGS, lambda _t, p: self.submit("readings", p)),
            self.bus.subscribe(TICK, lambda _t, p: self.submit("tick", p)),
            self.bus.subscribe(CHANGED, lambda _t, p: self.submit("reload", p)),
        ]
        if not self.inline:
            self._thread = threading.Thread(target=self._work, name="cityhub-sensing", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        if self._thread is not None:
            self._queue.put(("stop", None))
            self._thread.join(timeout=30)
            self._thread = None
        self._flush_all()

    def __enter__(self) -> SensingStream:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def submit(self, kind: str, payload: Any) -> None:
        if self.inline:
            self._handle([(kind, payload)])
            return
        try:
            # A full queue blocks the publisher: back-pressure instead of unbounded memory.
            self._queue.put((kind, payload), timeout=30)
        except queue.Full:
            log.error("sensing stream is 30 s behind; %s dropped (the readings stay stored)", kind)

    def idle(self) -> bool:
        return self._queue.unfinished_tasks == 0

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            items = [item]
            count = len(item[1]) if item[0] == "readings" and isinstance(item[1], list) else 0
            while count < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                items.append(more)
                if more[0] == "readings" and isinstance(more[1], list):
                    count += len(more[1])
            stop = any(kind == "stop" for kind, _ in items)
            try:
                self._handle([i for i in items if i[0] != "stop"])
            except Exception:
                log.exception("sensing stream failed on a batch; it goes on with the next")
            finally:
                for _ in items:
                    self._queue.task_done()
            if stop:
                return

    def _handle(self, items: list[tuple[str, Any]]) -> None:
        with self._lock:
            readings: list[Any] = []
            for kind, payload in items:
                if kind == "readings" and isinstance(payload, list):
                    readings.extend(payload)
                    continue
                if readings:
                    self.process(readings)
                    readings = []
                if kind == "tick":
                    self.tick(_tick_time(payload))
                elif kind == "reload":
                    with unit_of_work(self.factory) as session:
                        self.reload(session)
            if readings:
                self.process(readings)

    # ---------------------------------------------------------------- state

    def reload(self, session: Session) -> None:
        """Definitions, areas and registered people, read again (after a change through the API/CLI)."""
        self.defs = definitions.load(session)
        self.areas.load(session)
        self.subjects = by_device(session)
        self._count_term_events(session)
        for (_device, metric), series in self.series.items():
            for window in self._windows(metric):
                series.ring(window)
            self._track(series)

    def _wanted(self) -> set[str]:
        """The metrics some indicator, watch or rule looks at."""
        return set(self.defs.by_metric) | set(self.defs.watches) | set(self.extra_windows)

    def _windows(self, metric: str) -> set[float]:
        return self.defs.windows.get(metric, set()) | self.extra_windows.get(metric, set())

    def require_window(self, metric: str, window_s: float) -> None:
        """Keep a window of this length for every series of the metric (from now on)."""
        if window_s in self.extra_windows[metric]:
            return
        self.extra_windows[metric].add(window_s)
        for series in self.by_metric.get(metric, ()):
            series.ring(window_s)

    def _load_states(self, session: Session) -> None:
        rows = session.execute(
            select(
                IndicatorState.id,
                IndicatorState.indicator_id,
                IndicatorState.subject,
                IndicatorState.area_id,
                IndicatorState.value,
                IndicatorState.level,
                IndicatorState.at,
            )
        )
        now = time.monotonic()
        for r in rows:
            self._remember(
                r.indicator_id,
                r.subject,
                State(
                    r.id,
                    r.area_id,
                    r.value,
                    r.level,
                    r.at.timestamp(),
                    stored_at=now,
                    history_at=r.at.timestamp(),
                ),
            )

    def _remember(self, indicator_id: int, subject: str, state: State) -> State:
        self.states[(indicator_id, subject)] = state
        self.by_indicator[indicator_id][subject] = state
        return state

    def _series(self, r: Reading) -> Series:
        key = (r.device, r.metric)
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = Series(r.device, r.metric, r.entity_id, r.area_id)
            for window in self._windows(r.metric):
                series.ring(window)
            self.devices[r.device][r.metric] = series
            self.by_metric[r.metric].append(series)
            self._track(series)
        elif r.area_id is not None:
            series.area_id = r.area_id
        return series

    def _track(self, series: Series) -> None:
        watch = self.defs.watches.get(series.metric)
        key = (series.device, series.metric)
        if watch is not None and watch.anomaly is not None and key not in self.tracks:
            self.tracks[key] = AnomalyTrack(watch.anomaly)

    # ---------------------------------------------------------------- processing

    def process(self, raw: Iterable[Any]) -> Batch:
        """One batch of readings, in one transaction."""
        with unit_of_work(self.factory) as session:
            bind_principal(session, SYSTEM)
            batch = Batch(now=clock.now())
            touched: dict[int, Series] = {}  # by id(): one entry per series, in order of first reading
            wanted = self._wanted()
            known, watches, silent = self.series, self.defs.watches, self.silent
            processed = 0
            for item in raw:
                # Metrics nothing watches cost one lookup (the readings are stored by telemetry anyway).
                if not isinstance(item, dict) or item.get("metric") not in wanted:
                    continue
                r = parse(item)
                if r is None:
                    continue
                series = known.get((r.device, r.metric))
                if series is None or (r.area_id is not None and series.area_id != r.area_id):
                    series = self._series(r)
                if not series.add(r.ts, r.value):
                    continue
                processed += 1
                touched[id(series)] = series
                if r.metric in watches or (silent and r.device in silent):
                    self._watch_reading(session, series, r)
            self.processed += processed
            batch.devices = {series.device for series in touched.values()}
            for area_id in {series.area_id for series in touched.values()}:
                batch.areas.update(self.areas.chain(session, area_id).values())
            observations = self._evaluate(session, touched.values(), end=None)
            self._apply(session, observations, batch)
            self._notify(session, batch)
            self._flush_due(session)
            return batch

    def tick(self, at: datetime | None = None) -> Batch:
        """Slide every window to the hub's clock, find silent devices, evaluate the event indicators."""
        at = at or clock.now()
        with unit_of_work(self.factory) as session:
            bind_principal(session, SYSTEM)
            batch = Batch(now=at, tick=True)
            now_ts = at.timestamp()
            self._find_silent(session, now_ts)
            self._count_term_events(session)
            observations = self._evaluate(session, list(self.series.values()), end=now_ts)
            for compiled in self.defs.events:
                observations.extend(evaluate.events_values(session, compiled, self.areas))
            self._apply(session, observations, batch)
            self._notify(session, batch)
            self._flush_due(session, force=True)
            return batch

    def _count_term_events(self, session: Session) -> None:
        for compiled in self.defs.indicators:
            formula = compiled.spec.formula
            if isinstance(formula, ScoreFormula):
                for i, term in enumerate(formula.terms):
                    if term.events is not None:
                        self.term_counts[(compiled.id, i)] = evaluate.term_event_counts(session, term)

    def _notify(self, session: Session, batch: Batch) -> None:
        for listener in self.listeners:
            listener(session, self, batch)

    # ---------------------------------------------------------------- device health and anomalies

    def _watch_reading(self, session: Session, series: Series, r: Reading) -> None:
        watch = self.defs.watches.get(series.metric)
        if r.device in self.silent:
            self.silent.discard(r.device)
            alerts.clear_open(session, r.device, health.SILENT, "the device reports again")
        if watch is None:
            return
        if watch.health is not None:
            self._health(session, watch, series)
        track = self.tracks.get((series.device, series.metric))
        if track is not None and r.ts >= series.last_ts:
            for score in track.add(r.ts, r.value):
                self._anomaly(session, watch, series, score)

    def _health(self, session: Session, watch: WatchSpec, series: Series) -> None:
        assert watch.health is not None
        found = health.jump(watch.health, series)
        if found is not None:
            self._device_alert(session, watch, series, found, watch.health.level)
        found = health.frozen(watch.health, series)
        if found is not None:
            self._device_alert(session, watch, series, found, watch.health.level)
        elif watch.health.frozen_after and series.same_count == 1:
            alerts.clear_open(
                session, series.device, health.frozen_type(series.metric), "the value moves again"
            )

    def _find_silent(self, session: Session, now_ts: float) -> None:
        for device, metrics in self.devices.items():
            if device in self.silent:
                continue
            for series in metrics.values():
                watch = self.defs.watches.get(series.metric)
                if watch is None or watch.health is None:
                    continue
                found = health.silent(watch.health, series, now_ts)
                if found is not None:
                    self.silent.add(device)
                    self._device_alert(session, watch, series, found, watch.health.level)
                    break

    def _anomaly(self, session: Session, watch: WatchSpec, series: Series, score: SlotScore) -> None:
        assert watch.anomaly is not None
        kind = watch.alert.type or anomaly_type(series.metric)
        if not score.alarm:
            alerts.clear_open(session, series.device, kind, "the pattern is normal again")
            return
        detail = f"{series.metric} (score {score.score:.1f})"
        found = health.Finding(kind, "用量模式异常", detail, score.value)
        evidence = {
            "device": series.device,
            "metric": series.metric,
            "ts": iso(score.slot_start),
            "value": score.value,
            "slot": watch.anomaly.resample,
            "score": round(score.score, 3),
        }
        self._device_alert(session, watch, series, found, watch.anomaly.level, AlertSource.ANOMALY, evidence)

    def _device_alert(
        self,
        session: Session,
        watch: WatchSpec,
        series: Series,
        found: health.Finding,
        level: str,
        kind: AlertSource = AlertSource.DEVICE,
        evidence: dict[str, Any] | None = None,
    ) -> None:
        spec = watch.alert
        name = watch.name.zh if watch.name else series.metric
        trigger = self._trigger(
            session,
            spec,
            source_kind=kind,
            source=series.device,
            type_=found.type,
            title=f"{name}: {found.what if spec.subject == 'person' else found.title}",
            level=WarningLevel(level),
            value=found.value,
            series=series,
            evidence=[evidence or reading(series)],
        )
        alerts.raise_alert(session, trigger)

    # ---------------------------------------------------------------- indicators

    def _evaluate(self, session: Session, touched: Iterable[Series], end: float | None) -> list[Observation]:
        observations: list[Observation] = []
        scored: set[tuple[int, str]] = set()
        dirty_areas: set[tuple[Compiled, int]] = set()
        for series in touched:
            end_ts = series.last_ts if end is None else max(end, series.last_ts)
            for compiled in self.defs.by_metric.get(series.metric, ()):
                formula = compiled.spec.formula
                if isinstance(formula, ScoreFormula):
                    if (compiled.id, series.device) in scored:
                        continue
                    scored.add((compiled.id, series.device))
                    obs = self._score(compiled, formula, series, end_ts)
                elif isinstance(formula, TelemetryFormula):
                    value = evaluate.telemetry_value(formula, series, end_ts)
                    obs = None if value is None else _entity_value(compiled, series, value, end_ts)
                else:
                    continue
                if compiled.per == "entity":
                    if obs is not None:
                        observations.append(obs)
                    continue
                area_id = self.areas.chain(session, series.area_id).get(AreaLevel(compiled.per))
                if area_id is None:
                    continue
                parts = self.contributions[(compiled.id, area_id)]
                if obs is not None:
                    parts[series.device] = obs.value
                elif parts.pop(series.device, None) is None:
                    continue  # nothing in the window, and nothing was counted before
                dirty_areas.add((compiled, area_id))
        for compiled, area_id in dirty_areas:
            obs = self._rollup(session, compiled, area_id)
            if obs is not None:
                observations.append(obs)
        return observations

    def _score(
        self, compiled: Compiled, formula: ScoreFormula, series: Series, end_ts: float
    ) -> Observation | None:
        metrics = self.devices.get(series.device, {})
        chain = self.areas.chain_cached(series.area_id)

        def event_count(i: int) -> float | None:
            near = AreaLevel(formula.terms[i].near)
            counts = self.term_counts.get((compiled.id, i))
            return None if counts is None or near not in chain else float(counts.get(chain[near], 0))

        result = evaluate.score_value(formula, metrics, end_ts, event_count)
        if result is None:
            return None
        points, held = result
        evidence = [
            reading(metrics[t.metric]) for t in formula.terms if t.metric is not None and t.metric in metrics
        ]
        obs = Observation(
            compiled, series.device, "entity", series.area_id, points, end_ts, device=series.device
        )
        obs.evidence = [*evidence, {"conditions": held}] if held else evidence
        return obs

    def _rollup(self, session: Session, compiled: Compiled, area_id: int) -> Observation | None:
        formula = compiled.spec.formula
        assert isinstance(formula, TelemetryFormula | ScoreFormula)
        parts = self.contributions.get((compiled.id, area_id), {})
        value = evaluate.rollup(formula.rollup, list(parts.values()))
        area = self.areas.get(session, area_id)
        if value is None or area is None:
            return None
        worst = (
            max(parts, key=lambda d: parts[d])
            if formula.rollup != "min"
            else min(parts, key=lambda d: parts[d])
        )
        metric = formula.metric if isinstance(formula, TelemetryFormula) else next(iter(formula.metrics))
        series = self.series.get((worst, metric))
        evidence = [reading(series)] if series is not None else []
        at = series.last_ts if series is not None else clock.now().timestamp()
        return Observation(
            compiled, area.code, compiled.per, area_id, value, at, evidence=evidence, metric=metric
        )

    # ---------------------------------------------------------------- storing and alerting

    def _apply(self, session: Session, observations: list[Observation], batch: Batch) -> None:
        history: list[dict[str, Any]] = []  # written at once: one INSERT for the whole batch
        for obs in observations:
            thresholds = obs.indicator.spec.thresholds
            key = (obs.indicator.id, obs.subject)
            state = self.states.get(key)
            before = state.level if state is not None else None
            level = thresholds.classify(obs.value, before) if thresholds is not None else None
            if state is None:
                state = self._remember(obs.indicator.id, obs.subject, self._insert_state(session, obs, level))
                changed = level is not None and level.is_warning
            else:
                changed = level != state.level
                if changed or obs.value != state.value:
                    state.value, state.level, state.at, state.dirty = obs.value, level, obs.at, True
                    state.area_id = obs.area_id if obs.area_id is not None else state.area_id
            if changed:
                self._store_state(session, obs.indicator.id, obs.subject, state, level_changed=True)
                batch.changes.append(
                    LevelChange(obs.indicator, obs.subject, obs.area_id, before, level, obs.value)
                )
                if obs.area_id is not None:
                    batch.areas.update(self.areas.chain(session, obs.area_id).values())
            if changed or obs.at - state.history_at >= obs.indicator.history_every_s:
                history.append(_history_row(obs, level))
                state.history_at = obs.at
            self._alert(session, obs, level, state, changed)
        if history:
            session.execute(insert(IndicatorValue), history)

    def _insert_state(self, session: Session, obs: Observation, level: WarningLevel | None) -> State:
        at = datetime.fromtimestamp(obs.at, UTC)
        row = IndicatorState(
            indicator_id=obs.indicator.id,
            subject=obs.subject,
            scope=obs.scope,
            area_id=obs.area_id,
            district_id=self.areas.chain(session, obs.area_id).get(AreaLevel.DISTRICT),
            value=obs.value,
            level=level,
            level_since=at,
            at=at,
            updated_at=clock.now(),
            details={},
        )
        session.add(row)
        session.flush()
        return State(row.id, obs.area_id, obs.value, level, obs.at, stored_at=time.monotonic())

    def _store_state(
        self, session: Session, indicator_id: int, subject: str, state: State, *, level_changed: bool
    ) -> None:
        values: dict[str, Any] = {
            "value": state.value,
            "level": state.level,
            "at": datetime.fromtimestamp(state.at, UTC),
            "updated_at": clock.now(),
            "area_id": state.area_id,
        }
        if level_changed:
            values["level_since"] = values["at"]
        session.execute(update(IndicatorState).where(IndicatorState.id == state.id).values(**values))
        state.stored_at, state.dirty = time.monotonic(), False
        if level_changed:
            publish_after_commit(
                session,
                "indicators.level",
                {
                    "indicator_id": indicator_id,
                    "subject": subject,
                    "area_id": state.area_id,
                    "level": state.level.value if state.level else None,
                    "value": state.value,
                },
            )

    def _flush_due(self, session: Session, *, force: bool = False) -> None:
        now = time.monotonic()
        rows = []
        for (_indicator_id, _subject), state in self.states.items():
            if state.dirty and state.id is not None and (force or now - state.stored_at >= self.flush_s):
                rows.append(
                    {
                        "id": state.id,
                        "value": state.value,
                        "level": state.level,
                        "at": datetime.fromtimestamp(state.at, UTC),
                        "updated_at": clock.now(),
                    }
                )
                state.stored_at, state.dirty = now, False
        if rows:
            session.execute(update(IndicatorState), rows)

    def _flush_all(self) -> None:
        if any(s.dirty for s in self.states.values()):
            with unit_of_work(self.factory) as session:
                self._flush_due(session, force=True)

    def _alert(
        self, session: Session, obs: Observation, level: WarningLevel | None, state: State, changed: bool
    ) -> None:
        spec = obs.indicator.spec.alert
        if spec is None:
            return
        alerting = level is not None and level.is_warning and level.rank >= WarningLevel(spec.at).rank
        if not alerting and not changed:
            return
        type_ = spec.type or obs.indicator.key
        source = f"{obs.indicator.key}:{obs.subject}"
        if not alerting:
            alerts.clear_open(session, source, type_, f"back to {level.label if level else 'normal'}")
            return
        assert level is not None
        now = time.monotonic()
        # A persisting condition repeats the alert at most every flush period (count, last seen).
        if not changed and now - state.alerted_at < self.flush_s:
            return
        state.alerted_at = now
        series = self.series.get((obs.device, obs.metric)) if obs.device and obs.metric else None
        trigger = self._trigger(
            session,
            spec,
            source_kind=AlertSource.THRESHOLD,
            source=source,
            type_=type_,
            title=self._title(session, spec, obs, level),
            level=level,
            value=obs.value,
            series=series,
            evidence=obs.readings(),
            area_id=obs.area_id,
            device=obs.device,
        )
        trigger.indicator_id = obs.indicator.id
        trigger.details["indicator"] = obs.indicator.key
        alerts.raise_alert(session, trigger)

    def _title(self, session: Session, spec: AlertSpec, obs: Observation, level: WarningLevel) -> str:
        names = obs.indicator.spec.name
        fields = {
            "name": names.zh,
            "value": f"{obs.value:.4g}",
            "unit": obs.indicator.spec.unit,
            "subject": obs.subject,
            "area": self.areas.full_name(session, obs.area_id),
            "level": level.label,
        }
        # About a registered person, the title says what happened, not their readings (AlertSpec refuses
        # ``{value}`` there): whoever reads the alert is not thereby someone who may read their meter.
        about_a_person = spec.subject == "person"
        default = "{area}{name} ({level})" if about_a_person else "{area}{name} {value}{unit} ({level})"
        template = spec.title or default
        try:
            return template.format(**fields)
        except (KeyError, IndexError, ValueError):
            return default.format(**fields)

    def _trigger(
        self,
        session: Session,
        spec: AlertSpec,
        *,
        source_kind: AlertSource,
        source: str,
        type_: str,
        title: str,
        level: WarningLevel,
        value: float | None,
        series: Series | None,
        evidence: list[dict[str, Any]],
        area_id: int | None = None,
        device: str | None = None,
    ) -> alerts.Trigger:
        device = device or (series.device if series else None)
        subject = self.subjects.get(device) if spec.subject == "person" and device else None
        area = area_id if area_id is not None else (series.area_id if series else None)
        if area is None and subject is not None:
            area = subject.area_id
        return alerts.Trigger(
            source_kind=source_kind,
            source=source,
            type=type_,
            title=title,
            level=level,
            value=value,
            device=device,
            metric=series.metric if series else None,
            evidence=evidence,
            areas=self.areas.chain(session, area),
            area_id=area,
            subject_id=subject.id if subject else None,
            department_id=self.defs.departments.get(spec.department) if spec.department else None,
            notify=list(spec.notify),
            escalation=[
                {"after_s": seconds(step.after), "notify": step.notify, "raise_to": step.raise_to}
                for step in spec.escalation
            ],
            auto_clear=spec.auto_clear,
        )

    # ---------------------------------------------------------------- what the rules read

    def levels_of(self, indicator_id: int) -> list[tuple[str, State]]:
        return list(self.by_indicator.get(indicator_id, {}).items())

    def series_of(self, metric: str) -> list[Series]:
        return list(self.by_metric.get(metric, ()))


def _tick_time(payload: Any) -> datetime | None:
    if isinstance(payload, datetime):
        return payload
    if isinstance(payload, dict) and isinstance(payload.get("at"), str):
        try:
            return datetime.fromisoformat(payload["at"])
        except ValueError:
            return None
    return None


def _entity_value(compiled: Compiled, series: Series, value: float, end_ts: float) -> Observation:
    """One entity's value of a telemetry indicator (built for every series a batch touches)."""
    return Observation(
        compiled,
        series.device,
        "entity",
        series.area_id,
        value,
        end_ts,
        series.device,
        series.metric,
        [],
        series,
    )


def _history_row(obs: Observation, level: WarningLevel | None) -> dict[str, Any]:
    return {
        "indicator_id": obs.indicator.id,
        "subject": obs.subject,
        "area_id": obs.area_id,
        "at": datetime.fromtimestamp(obs.at, UTC),
        "value": obs.value,
        "level": level,
    }
