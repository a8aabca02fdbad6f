"""Sliding windows over reading streams, in bounded memory: each window is 60 buckets.

A series (one metric of one device) keeps, for every window length an indicator asks of it, a ring of
buckets ``window / 60`` wide holding count, sum, min, max, first, last and the rises between
consecutive readings. A window aggregate combines at most 60 buckets, whatever the reading rate, and a
reading costs one bucket update per window length — so 10 000 readings a second stay cheap. Windows are
resolved to 1/60 of their length and follow reading time (event time), not arrival time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

BUCKETS = 60


@dataclass(slots=True)
class Bucket:
    index: int
    count: int = 0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    last: float = 0.0
    last_ts: float = -math.inf
    rise: float = 0.0  # rises between readings inside the bucket
    entry: float = 0.0  # the rise from the reading before the bucket into its first reading


@dataclass(slots=True)
class Ring:
    """The buckets of one window length of one series: a circular array of 60 slots."""

    width: float
    slots: list[Bucket | None] = field(default_factory=lambda: [None] * BUCKETS)
    head: int = -(2**62)

    def add(self, ts: float, value: float, previous: float | None) -> None:
        index = int(ts // self.width)
        if index <= self.head - BUCKETS:
            return  # older than the window: nothing to update
        pos = index % BUCKETS
        bucket = self.slots[pos]
        step = max(0.0, value - previous) if previous is not None else 0.0
        if bucket is None or bucket.index < index:
            bucket = self.slots[pos] = Bucket(index, entry=step)
        elif bucket.index > index:
            return  # a late reading for a slot already reused by newer ones
        else:
            bucket.rise += step
        bucket.count += 1
        bucket.total += value
        if value < bucket.low:
            bucket.low = value
        if value > bucket.high:
            bucket.high = value
        if ts >= bucket.last_ts:
            bucket.last, bucket.last_ts = value, ts
        if index > self.head:
            self.head = index

    def window(self, end_ts: float) -> list[Bucket]:
        end = int(end_ts // self.width)
        start = end - BUCKETS + 1
        return [b for b in self.slots if b is not None and start <= b.index <= end]


def aggregate(kind: str, ring: Ring, end_ts: float, window_s: float) -> float | None:
    """The aggregate of the readings in the window ending at ``end_ts``; None when it holds none."""
    buckets = ring.window(end_ts)
    if not buckets:
        return None
    if kind == "last":
        return max(buckets, key=lambda b: b.last_ts).last
    count = sum(b.count for b in buckets)
    if kind == "count":
        return float(count)
    if kind == "rate":
        return count / (window_s / 3600.0)
    if kind == "sum":
        return sum(b.total for b in buckets)
    if kind == "mean":
        return sum(b.total for b in buckets) / count
    low = min(b.low for b in buckets)
    high = max(b.high for b in buckets)
    if kind == "min":
        return low
    if kind == "max":
        return high
    last = max(buckets, key=lambda b: b.last_ts).last
    if kind == "drop":
        return high - last
    if kind == "rise":
        return last - low
    if kind == "increase":
        # The oldest bucket's entry rise came from a reading before the window.
        oldest = min(buckets, key=lambda b: b.index)
        return sum(b.rise + b.entry for b in buckets) - oldest.entry
    raise ValueError(f"unknown aggregate {kind}")


@dataclass(slots=True)
class Series:
    """One metric of one device: its rings, its first and last reading, and how long the value held."""

    device: str
    metric: str
    entity_id: int | None = None
    area_id: int | None = None
    rings: dict[float, Ring] = field(default_factory=dict)
    first_ts: float = math.inf
    last_ts: float = -math.inf
    last_value: float | None = None
    previous_value: float | None = None
    value_since: float = -math.inf  # when the current value started (frozen value)
    same_count: int = 0

    def ring(self, window_s: float) -> Ring:
        ring = self.rings.get(window_s)
        if ring is None:
            ring = self.rings[window_s] = Ring(window_s / BUCKETS)
        return ring

    def add(self, ts: float, value: float) -> bool:
        """Add a reading; False (and ignored) when it repeats the last reading's timestamp."""
        if ts == self.last_ts:
            return False
        in_order = ts > self.last_ts
        previous = self.last_value if in_order else None
        for ring in self.rings.values():
            ring.add(ts, value, previous)
        self.first_ts = min(self.first_ts, ts)
        if in_order:
            if value == self.last_value:
                self.same_count += 1
            else:
                self.value_since, self.same_count = ts, 1
            self.previous_value, self.last_value, self.last_ts = self.last_value, value, ts
        return True

    def aggregate(self, kind: str, window_s: float, end_ts: float) -> float | None:
        if kind == "last" and self.last_value is not None and self.last_ts <= end_ts:
            # The common case needs no buckets: the latest reading, if it is inside the window.
            return self.last_value if self.last_ts > end_ts - window_s else None
        return aggregate(kind, self.ring(window_s), end_ts, window_s)

    def coverage(self, window_s: float, end_ts: float) -> float:
        """The share of the window this series has been reporting for."""
        if self.first_ts == math.inf:
            return 0.0
        return min(1.0, max(0.0, (end_ts - self.first_ts) / window_s))
