"""Anomaly detection on live streams that have no fixed threshold (``cityhub.anomaly`` behind a watch).

Each watched series is cut into slots (``resample``, e.g. the water used per hour). Once ``min_train``
worth of slots exist the detector learns from them (robustly: a second fit leaves out what the first
flagged), then scores every completed slot with the few before it as context, in the local time of the
city so that daily cycles (a person's morning and evening water use) line up. ``score > 1`` is an alarm.
It relearns from the latest ``train`` slots that did not alarm once as many new slots have passed.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from cityhub.anomaly.detectors import DEFAULT_CONFIG, AnomalyDetector, fit_on_input
from cityhub.anomaly.io import DataError, Frame
from cityhub.indicators.spec import AnomalySpec, seconds
from cityhub.kit.timeutil import SHANGHAI

log = logging.getLogger(__name__)


def anomaly_type(metric: str) -> str:
    return f"anomaly.{metric}"


@dataclass(frozen=True)
class SlotScore:
    slot_start: float  # epoch seconds
    value: float
    score: float
    alarm: bool  # past the spec's score for its number of consecutive slots


@dataclass
class AnomalyTrack:
    """The slots of one series and its fitted detector."""

    spec: AnomalySpec
    slots: list[tuple[int, float]] = field(default_factory=list)  # (slot index, value), completed only
    current: int | None = None
    acc: list[float] = field(default_factory=list)
    first_in_slot: float | None = None
    previous: float | None = None
    detector: AnomalyDetector | None = None
    slots_since_fit: int = 0
    alarmed: set[int] = field(default_factory=set)
    run: int = 0  # consecutive slots above the spec's score

    @property
    def width(self) -> float:
        return seconds(self.spec.resample)

    def add(self, ts: float, value: float) -> list[SlotScore]:
        """Add a reading (in time order); returns the scores of slots this reading completed."""
        index = int(ts // self.width)
        scores: list[SlotScore] = []
        if self.current is not None and index > self.current:
            scores = self._complete(self.current, index)
        if self.current is None or index > self.current:
            self.current, self.acc = index, []
        if index == self.current:
            step = max(0.0, value - self.previous) if self.previous is not None else 0.0
            self.acc.append(step if self.spec.aggregate == "increase" else value)
        self.previous = value
        return scores

    def _slot_value(self) -> float:
        values = self.acc
        if not values:
            return math.nan
        kind = self.spec.aggregate
        if kind in ("sum", "increase"):
            return float(sum(values))
        if kind == "mean":
            return float(sum(values) / len(values))
        if kind == "max":
            return max(values)
        if kind == "min":
            return min(values)
        return values[-1]

    def _complete(self, done: int, now_index: int) -> list[SlotScore]:
        added = [(done, self._slot_value())]
        # Slots with no reading at all are missing (NaN), not zero: a dropout is not "no use".
        added += [(missing, math.nan) for missing in range(done + 1, min(now_index, done + 1 + 48))]
        self.slots.extend(added)
        keep = int(seconds(self.spec.train) // self.width) + 64
        self.slots = self.slots[-keep:]
        self.slots_since_fit += len(added)
        if self.detector is None or self.slots_since_fit >= int(seconds(self.spec.train) // self.width):
            self._fit()
        if self.detector is None:
            return []
        return self._score_new(len(added))

    def _frame(self, rows: list[tuple[int, float]]) -> Frame:
        times = np.array(
            [
                np.datetime64(
                    datetime.fromtimestamp(i * self.width, UTC).astimezone(SHANGHAI).replace(tzinfo=None), "s"
                )
                for i, _ in rows
            ],
            dtype="datetime64[s]",
        )
        values = np.array([[v] for _, v in rows], dtype=np.float64).reshape(len(rows), 1)
        return Frame(times, values, ("value",))

    def _fit(self) -> None:
        needed = int(seconds(self.spec.min_train) // self.width)
        normal = [(i, v) for i, v in self.slots if i not in self.alarmed and not math.isnan(v)]
        if len(normal) < max(needed, DEFAULT_CONFIG.min_train_rows):
            return
        try:
            self.detector = fit_on_input(self._frame(normal))
            self.slots_since_fit = 0
        except (DataError, ValueError, np.linalg.LinAlgError):
            log.warning("anomaly detector could not learn from %d slots", len(normal), exc_info=True)

    def _score_new(self, count: int) -> list[SlotScore]:
        assert self.detector is not None
        context = DEFAULT_CONFIG.smoothing + DEFAULT_CONFIG.relation_lags + 1
        rows = self.slots[-(count + context) :]
        scores = self.detector.detect(self._frame(rows)).score
        out = []
        for (index, value), score in zip(rows[-count:], scores[-count:], strict=True):
            if math.isnan(value):
                continue
            high = float(score) > self.spec.min_score
            self.run = self.run + 1 if high else 0
            if float(score) > 1.0:
                self.alarmed.add(index)  # kept out of the next fit, even when below the alert's bar
            out.append(SlotScore(index * self.width, value, float(score), self.run >= self.spec.consecutive))
        self.alarmed = {i for i in self.alarmed if i >= self.slots[0][0]}
        return out
