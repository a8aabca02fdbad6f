"""Anomaly detectors for sensor streams that have no fixed threshold.

A detector learns what *normal* looks like from a frame of normal readings (``fit``) and then
scores any later window of the same sensors (``score``), so it works on a file as well as on a
live stream fed window by window. Several scorers look at different kinds of departure:

- ``level``: each sensor against its robust (median/MAD) baseline, by hour of day or of week
  when that measurably fits the normal data better (spikes, level shifts, drifts);
- ``relation``: each sensor against what the other sensors (now and one step earlier) predict,
  a ridge regression per sensor (broken relations, e.g. a spoofed tank level, a pump that
  runs without flow); with one sensor it is an autoregression, a one-step-ahead forecast;
- ``pca``: reconstruction error from the principal components (an alternative to ``relation``);
- ``frozen``: a reading stuck longer than it ever was in normal data.

Each scorer's output is averaged over the last few rows and divided by its own alarm level, a
high quantile of the same output on the normal data; the detector's score is the largest of these
ratios, so ``score > 1`` means *alarm* whatever the sensors' units.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol, Self

import numpy as np
import numpy.typing as npt

from cityhub.anomaly.io import DataError, FloatArray, Frame

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

# 1.4826 * MAD estimates the standard deviation of normally distributed data.
_MAD_TO_SD = 1.4826
# Below this a spread is treated as "no spread at all" (a sensor that never moved).
_TINY = 1e-9


@dataclass(frozen=True)
class Seasonality:
    """A cycle the normal level may follow, cut into ``slots`` equal bins (e.g. 24 hours a day)."""

    name: str
    period: timedelta
    slots: int


DAILY = Seasonality("daily", timedelta(days=1), 24)
WEEKLY = Seasonality("weekly", timedelta(days=7), 168)


@dataclass(frozen=True)
class DetectorConfig:
    """Everything that defines a detector, as data. ``DEFAULT_CONFIG`` is the measured default.

    ``scorers`` names entries of :data:`SCORERS`. ``threshold_quantile`` sets each scorer's alarm
    level as a quantile of its smoothed scores on the normal data, ``instant_quantile`` a second,
    stricter one for single rows (so a spike is not averaged away). Both are false-alarm budgets
    (0.995: about 0.5 % of normal rows per scorer) computed from normal rows only, never labels.
    """

    scorers: tuple[str, ...] = ("level", "relation", "frozen")
    seasonalities: tuple[Seasonality, ...] = (WEEKLY, DAILY)
    min_cycles: int = 3
    relation_lags: int = 1
    ridge_alpha: float = 1.0
    residual_floor: float = 0.1
    pca_variance: float = 0.99
    smoothing: int = 6
    threshold_quantile: float = 0.995
    instant_quantile: float | None = 0.999
    threshold_margin: float = 1.0
    min_train_rows: int = 20

    def __post_init__(self) -> None:
        unknown = [s for s in self.scorers if s not in SCORERS]
        if unknown or not self.scorers:
            raise ValueError(f"unknown scorer(s) {unknown}; choose from {sorted(SCORERS)}")
        for name in ("threshold_quantile", "instant_quantile", "pca_variance"):
            value = getattr(self, name)
            if value is not None and not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1]")
        if self.smoothing < 1 or self.relation_lags < 0 or self.min_train_rows < 2:
            raise ValueError("smoothing >= 1, relation_lags >= 0 and min_train_rows >= 2 are required")


class Scorer(Protocol):
    """One way of measuring how unusual each row is: larger means more unusual, 0 is typical."""

    #: True when ``score`` is already on the "1 = the most extreme normal value" scale.
    self_calibrated: bool

    def fit(self, values: FloatArray, times: npt.NDArray[np.datetime64]) -> None: ...

    def score(self, values: FloatArray, times: npt.NDArray[np.datetime64]) -> FloatArray: ...


# --- small numeric helpers -----------------------------------------------------------------


def causal_mean(scores: FloatArray, window: int) -> FloatArray:
    """Mean of each value and the ``window - 1`` before it, without look-ahead. Rows before the
    start count as 0 (normal): a window's first rows must not alarm on a single noisy reading."""
    csum = np.concatenate([[0.0], np.cumsum(scores)])
    idx = np.arange(len(scores))
    start = np.maximum(0, idx - window + 1)
    return np.asarray((csum[idx + 1] - csum[start]) / window, dtype=np.float64)


def lagged(values: FloatArray, lag: int) -> FloatArray:
    """``values`` shifted down by ``lag`` rows; the first rows repeat the first row (no history)."""
    if lag == 0 or len(values) == 0:
        return values
    head = np.repeat(values[:1], min(lag, len(values)), axis=0)
    return np.concatenate([head, values[:-lag]])[: len(values)]


def run_lengths(values: FloatArray) -> IntArray:
    """For each row and column, how many rows in a row (including this one) had this exact value."""
    n = len(values)
    rows = np.arange(n)[:, None]
    changed = np.ones(values.shape, dtype=np.bool_)
    changed[1:] = values[1:] != values[:-1]
    run_start = np.maximum.accumulate(np.where(changed, rows, 0), axis=0)
    return np.asarray(rows - run_start + 1, dtype=np.int64)


def fill_missing(values: FloatArray, fallback: FloatArray) -> FloatArray:
    """Carry the last reading forward over gaps (a sensor that did not report is assumed
    unchanged); gaps at the start take ``fallback`` (the normal median)."""
    out = values.copy()
    for j in range(out.shape[1]):
        col = out[:, j]
        missing = np.isnan(col)
        if not missing.any():
            continue
        idx = np.where(~missing, np.arange(len(col)), 0)
        np.maximum.accumulate(idx, out=idx)
        filled = col[idx]
        filled[np.isnan(filled)] = fallback[j]
        out[:, j] = filled
    return out


def _safe_quantile(scores: FloatArray, q: float) -> float:
    """Quantile that is never zero, so that dividing by it is always defined."""
    finite = scores[np.isfinite(scores)]
    value = float(np.quantile(finite, q)) if len(finite) else 0.0
    if value > _TINY:
        return value
    top = float(finite.max()) if len(finite) else 0.0
    return top if top > _TINY else 1.0


# --- scorers -------------------------------------------------------------------------------


def _seconds(times: npt.NDArray[np.datetime64]) -> IntArray:
    return np.asarray(times.astype("datetime64[s]").astype(np.int64), dtype=np.int64)


def _slot_of(season: Seasonality | None, times: npt.NDArray[np.datetime64]) -> IntArray:
    """Index of each time's slot in the cycle (all 0 without a cycle)."""
    if season is None:
        return np.zeros(len(times), dtype=np.int64)
    period = int(season.period.total_seconds())
    return np.asarray((_seconds(times) % period) * season.slots // period, dtype=np.int64)


def _slot_medians(values: FloatArray, slots: IntArray, n_slots: int) -> FloatArray:
    """Median per slot and column; a slot without readings takes the overall median."""
    with warnings.catch_warnings():
        # Empty or all-missing slots are expected (filled below), not worth a warning.
        warnings.simplefilter("ignore", RuntimeWarning)
        overall = np.nanmedian(values, axis=0)
        profile = np.tile(overall, (n_slots, 1))
        for slot in np.unique(slots):
            profile[slot] = np.nanmedian(values[slots == slot], axis=0)
    return np.asarray(np.where(np.isnan(profile), overall, profile), dtype=np.float64)


def _robust_sd(deviation: FloatArray) -> FloatArray:
    """1.4826 MAD per column (0 for a column without readings)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        centred = deviation - np.nanmedian(deviation, axis=0)
        mad = np.nanmedian(np.abs(centred), axis=0)
    return np.asarray(np.nan_to_num(_MAD_TO_SD * mad, nan=0.0), dtype=np.float64)


@dataclass
class LevelScorer:
    """Largest robust z-score over the sensors: distance from the normal median, in robust
    standard deviations (1.4826 MAD).

    The median may follow a cycle (a median per hour of day or of week). Which cycle, if any, is
    chosen by measurement: each candidate's profile is estimated on alternate cycles and tested
    on the others, and the one leaving the smallest spread wins. That out-of-sample spread is
    also the scale, so a profile fitted to few cycles does not look more precise than it is;
    it is floored at ``floor`` standard deviations so a mostly constant sensor is not infinitely
    sensitive.
    """

    seasonalities: tuple[Seasonality, ...]
    min_cycles: int
    floor: float
    self_calibrated: bool = False
    season: Seasonality | None = field(default=None, init=False)
    profile: FloatArray = field(default_factory=lambda: np.zeros((1, 0)), init=False)
    scale: FloatArray = field(default_factory=lambda: np.zeros(0), init=False)

    def fit(self, values: FloatArray, times: npt.NDArray[np.datetime64]) -> None:
        spread = {season: self._held_out_spread(season, values, times) for season in self._candidates(times)}
        plain = np.maximum(spread[None], _TINY)
        # A cycle must beat the plain median by 5 % on average to be worth its many medians.
        gain = {season: float(np.mean(sd / plain)) for season, sd in spread.items()}
        self.season = min(gain, key=lambda season: gain[season] + (0.0 if season is None else 0.05))
        n_slots = self.season.slots if self.season else 1
        self.profile = _slot_medians(values, _slot_of(self.season, times), n_slots)
        # A zero spread (a sensor that is mostly constant) would make any change infinite.
        scale = np.maximum(spread[self.season], self.floor * np.nan_to_num(np.nanstd(values, axis=0)))
        self.scale = np.where(scale > _TINY, scale, _TINY)

    def score(self, values: FloatArray, times: npt.NDArray[np.datetime64]) -> FloatArray:
        z = np.abs(values - self.profile[_slot_of(self.season, times)]) / self.scale
        return np.asarray(np.nanmax(np.nan_to_num(z, nan=0.0), axis=1), dtype=np.float64)

    def _candidates(self, times: npt.NDArray[np.datetime64]) -> list[Seasonality | None]:
        out: list[Seasonality | None] = [None]
        if len(times) < 2:
            return out
        seconds = _seconds(times)
        span, step = seconds.max() - seconds.min(), float(np.median(np.diff(seconds)))
        for season in self.seasonalities:
            period = season.period.total_seconds()
            # Enough cycles to estimate a median per slot, and at least a reading per slot.
            if span >= self.min_cycles * period and 0 < step <= period / season.slots:
                out.append(season)
        return out

    def _held_out_spread(
        self, season: Seasonality | None, values: FloatArray, times: npt.NDArray[np.datetime64]
    ) -> FloatArray:
        period = int(season.period.total_seconds()) if season else 86_400
        odd = (_seconds(times) // period) % 2 == 1
        if odd.all() or not odd.any():  # less than two cycles: no hold-out possible
            odd = np.arange(len(times)) % 2 == 1
        slots, n_slots = _slot_of(season, times), season.slots if season else 1
        deviation = np.empty_like(values)
        for test in (odd, ~odd):
            profile = _slot_medians(values[~test], slots[~test], n_slots)
            deviation[test] = values[test] - profile[slots[test]]
        return _robust_sd(deviation)


@dataclass
class _Standardiser:
    """Centre and scale columns by the normal mean and standard deviation; drops constant ones."""

    keep: BoolArray = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))
    mean: FloatArray = field(default_factory=lambda: np.zeros(0))
    sd: FloatArray = field(default_factory=lambda: np.zeros(0))

    def fit(self, values: FloatArray) -> FloatArray:
        sd = np.nan_to_num(np.nanstd(values, axis=0))
        self.keep = sd > _TINY
        self.mean, self.sd = np.nanmean(values[:, self.keep], axis=0), sd[self.keep]
        return self.apply(values)

    def apply(self, values: FloatArray) -> FloatArray:
        """Standardised values; gaps carry the last reading forward (else the normal mean)."""
        filled = fill_missing(values[:, self.keep], self.mean)
        return np.asarray((filled - self.mean) / self.sd, dtype=np.float64)


@dataclass
class RelationScorer:
    """Root mean square of each sensor's error against a ridge regression on the other sensors
    (same row) and on every sensor ``lags`` rows back, in units of its normal error.

    The error unit is floored at ``floor`` normal standard deviations: relations that look exact
    in the normal data (two pressures on one pipe) would otherwise alarm on rounding alone.
    """

    lags: int
    alpha: float
    floor: float
    self_calibrated: bool = False
    std: _Standardiser = field(default_factory=_Standardiser, init=False)
    coef: FloatArray = field(default_factory=lambda: np.zeros((0, 0)), init=False)
    resid_scale: FloatArray = field(default_factory=lambda: np.zeros(0), init=False)

    def fit(self, values: FloatArray, times: npt.NDArray[np.datetime64]) -> None:
        # Rows without a full history would teach the model a fake "unchanged since" relation.
        z = self.std.fit(values)
        feats, z, n = self._features(z)[self.lags :], z[self.lags :], z.shape[1]
        gram = feats.T @ feats + self.alpha * np.eye(feats.shape[1])
        cross = feats.T @ z
        self.coef = np.zeros((feats.shape[1], n))
        for j in range(n):
            # A sensor must not predict itself at the same instant: drop its own current column.
            use = np.arange(feats.shape[1]) != j
            self.coef[use, j] = np.linalg.solve(gram[np.ix_(use, use)], cross[use, j])
        resid = z - feats @ self.coef
        self.resid_scale = np.maximum(resid.std(axis=0), self.floor)

    def score(self, values: FloatArray, times: npt.NDArray[np.datetime64]) -> FloatArray:
        z = self.std.apply(values)
        if z.shape[1] == 0:
            return np.zeros(len(values))
        resid = (z - self._features(z) @ self.coef) / self.resid_scale
        score = np.sqrt(np.mean(resid**2, axis=1))
        # The first rows of a window have no history to predict from: no evidence either way.
        score[: self.lags] = 0.0
        return np.asarray(score, dtype=np.float64)

    def _features(self, z: FloatArray) -> FloatArray:
        return np.hstack([z, *(lagged(z, k) for k in range(1, self.lags + 1))])


@dataclass
class PCAScorer:
    """Root mean square reconstruction error from the principal components that explain
    ``variance`` of the normal data, each sensor in units of its normal error."""

    variance: float
    floor: float
    self_calibrated: bool = False
    std: _Standardiser = field(default_factory=_Standardiser, init=False)
    basis: FloatArray = field(default_factory=lambda: np.zeros((0, 0)), init=False)
    resid_scale: FloatArray = field(default_factory=lambda: np.zeros(0), init=False)

    def fit(self, values: FloatArray, times: npt.NDArray[np.datetime64]) -> None:
        z = self.std.fit(values)
        _, sing, vt = np.linalg.svd(z, full_matrices=False)
        explained = np.cumsum(sing**2) / max(float(np.sum(sing**2)), _TINY)
        k = int(np.searchsorted(explained, self.variance) + 1)
        self.basis = vt[: min(k, vt.shape[0])].T
        self.resid_scale = np.maximum(self._residual(z).std(axis=0), self.floor)

    def score(self, values: FloatArray, times: npt.NDArray[np.datetime64]) -> FloatArray:
        z = self.std.apply(values)
        if z.shape[1] == 0:
            return np.zeros(len(values))
        return np.asarray(np.sqrt(np.mean((self._residual(z) / self.resid_scale) ** 2, axis=1)))

    def _residual(self, z: FloatArray) -> FloatArray:
        return np.asarray(z - (z @ self.basis) @ self.basis.T, dtype=np.float64)


@dataclass
class FrozenScorer:
    """How many times in a row a sensor has repeated its current reading, as a multiple of the
    most repeats it showed in normal data (at least one); the worst sensor counts.

    Values that make up at least ``common_share`` of the normal rows are states, not stuck
    readings (a pump's flow of 0 while it is off, a full tank), and are never counted.
    """

    common_share: float = 0.01
    self_calibrated: bool = True
    common: list[FloatArray] = field(default_factory=list, init=False)
    longest: FloatArray = field(default_factory=lambda: np.zeros(0), init=False)

    def fit(self, values: FloatArray, times: npt.NDArray[np.datetime64]) -> None:
        self.common = []
        for j in range(values.shape[1]):
            uniq, counts = np.unique(values[:, j][~np.isnan(values[:, j])], return_counts=True)
            self.common.append(uniq[counts >= self.common_share * len(values)])
        self.longest = np.maximum(self._repeats(values).max(axis=0, initial=0), 1).astype(np.float64)

    def score(self, values: FloatArray, times: npt.NDArray[np.datetime64]) -> FloatArray:
        ratio = self._repeats(values) / self.longest
        return np.asarray(ratio.max(axis=1, initial=0.0), dtype=np.float64)

    def _repeats(self, values: FloatArray) -> IntArray:
        runs = run_lengths(values) - 1
        for j, common in enumerate(self.common):
            runs[np.isin(values[:, j], common), j] = 0
        # A missing reading is not a repeated one (NaN never equals itself, so runs restart).
        runs[np.isnan(values)] = 0
        return runs


ScorerFactory = Callable[[DetectorConfig], Scorer]

#: The available scorers by name; a configuration picks some of them.
SCORERS: dict[str, ScorerFactory] = {
    "level": lambda c: LevelScorer(c.seasonalities, c.min_cycles, c.residual_floor),
    "relation": lambda c: RelationScorer(c.relation_lags, c.ridge_alpha, c.residual_floor),
    "pca": lambda c: PCAScorer(c.pca_variance, c.residual_floor),
    "frozen": lambda c: FrozenScorer(),
}

DEFAULT_CONFIG = DetectorConfig()


# --- the detector --------------------------------------------------------------------------


@dataclass(frozen=True)
class Detection:
    """Per-row result of :meth:`AnomalyDetector.detect`: ``score > 1`` is an alarm."""

    score: FloatArray
    is_anomaly: BoolArray
    by_scorer: dict[str, FloatArray]


class AnomalyDetector:
    """Learns normal behaviour of a set of sensors and scores later windows of them.

    ``fit(normal_frame)`` once, then ``score(window)`` or ``detect(window)`` on any later rows
    of the same columns. Scores are causal (a row's score depends on that row and the few
    before it in the window), so a live stream can be scored window by window; start each
    window ``config.smoothing + config.relation_lags`` rows early and its new rows score exactly
    as in one long batch (a frozen run is counted from the window's start).
    """

    def __init__(self, config: DetectorConfig = DEFAULT_CONFIG) -> None:
        self.config = config
        self.columns: tuple[str, ...] = ()
        self.thresholds: dict[str, tuple[float, float]] = {}
        self._scorers: dict[str, Scorer] = {}

    def fit(self, normal: Frame) -> Self:
        """Learn from rows assumed normal; raises :class:`DataError` if there are too few."""
        if len(normal) < self.config.min_train_rows:
            wanted = self.config.min_train_rows
            raise DataError(f"need at least {wanted} rows of normal data, got {len(normal)}")
        silent = [c for j, c in enumerate(normal.columns) if np.isnan(normal.values[:, j]).all()]
        if silent:
            raise DataError(f"column(s) {', '.join(silent)} have no readings in the normal data")
        self.columns = normal.columns
        self._scorers = {name: SCORERS[name](self.config) for name in self.config.scorers}
        for name, scorer in self._scorers.items():
            scorer.fit(normal.values, normal.times)
            self.thresholds[name] = self._alarm_levels(scorer, scorer.score(normal.values, normal.times))
        return self

    def score(self, window: Frame) -> FloatArray:
        """Anomaly score per row of ``window``; above 1 means an alarm."""
        return self.detect(window).score

    def detect(self, window: Frame) -> Detection:
        """Scores, alarms and the per-scorer scores (for explaining an alarm)."""
        if not self._scorers:
            raise RuntimeError("call fit() before score()")
        if window.columns != self.columns:
            raise DataError(f"window columns {list(window.columns)} differ from fitted {list(self.columns)}")
        parts = {name: self._part(name, scorer, window) for name, scorer in self._scorers.items()}
        score = np.max(np.vstack(list(parts.values())), axis=0)
        return Detection(score, score > 1.0, parts)

    def _alarm_levels(self, scorer: Scorer, raw: FloatArray) -> tuple[float, float]:
        """Alarm levels for the smoothed and the instant score, from the normal scores. Each
        scorer gets its own, so that a heavy-tailed one cannot mask the others."""
        config = self.config
        if scorer.self_calibrated:
            return config.threshold_margin, config.threshold_margin
        smoothed = _safe_quantile(causal_mean(raw, config.smoothing), config.threshold_quantile)
        instant = np.inf if config.instant_quantile is None else _safe_quantile(raw, config.instant_quantile)
        return smoothed * config.threshold_margin, instant * config.threshold_margin

    def _part(self, name: str, scorer: Scorer, window: Frame) -> FloatArray:
        raw = scorer.score(window.values, window.times)
        smoothed_level, instant_level = self.thresholds[name]
        # Smoothing lets weak but lasting departures add up; the instant level keeps a single
        # huge reading (a spike) from being averaged away.
        part = np.maximum(causal_mean(raw, self.config.smoothing) / smoothed_level, raw / instant_level)
        return np.asarray(part, dtype=np.float64)


def fit_on_input(
    frame: Frame, train_rows: int | None = None, config: DetectorConfig = DEFAULT_CONFIG
) -> AnomalyDetector:
    """Fit when no separate normal data exist.

    With ``train_rows``, learn from the first rows only (known normal, e.g. the hour after
    commissioning). Otherwise learn from the whole frame twice: the second time without the
    rows the first pass alarmed on (and the rows their smoothing touched), so that a few
    anomalies in the input do not raise the alarm level above themselves. This works while
    anomalies are a small share of the input; it cannot when they are a third of it.
    """
    if train_rows is not None:
        if train_rows > len(frame):
            raise DataError(f"asked to learn from the first {train_rows} rows but the input has {len(frame)}")
        return AnomalyDetector(config).fit(frame.rows(0, train_rows))
    first = AnomalyDetector(config).fit(frame)
    suspect = causal_mean(first.detect(frame).is_anomaly.astype(np.float64), config.smoothing) > 0
    if int((~suspect).sum()) < config.min_train_rows:
        return first
    return AnomalyDetector(config).fit(frame.where(~suspect))


__all__: Sequence[str] = (
    "DAILY",
    "DEFAULT_CONFIG",
    "SCORERS",
    "WEEKLY",
    "AnomalyDetector",
    "Detection",
    "DetectorConfig",
    "Seasonality",
    "fit_on_input",
)
