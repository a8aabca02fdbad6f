"""Detectors on small synthetic sensor data: what an operator would see on the alarm list."""

from __future__ import annotations

import numpy as np
import pytest

from cityhub.anomaly.detectors import (
    DEFAULT_CONFIG,
    AnomalyDetector,
    DetectorConfig,
    fit_on_input,
)
from cityhub.anomaly.io import DataError, Frame, match_resolution

STEP = np.timedelta64(10, "m")
DAY = 144  # rows per day at one reading every 10 minutes


def make_frame(values: np.ndarray, columns: tuple[str, ...], start: str = "2024-01-01") -> Frame:
    values = values.reshape(len(values), -1).astype(np.float64)
    times = np.datetime64(start, "s") + np.arange(len(values)) * STEP
    return Frame(times, values, columns)


def daily_sine(days: int, seed: int) -> np.ndarray:
    """A water-demand-like sensor: a daily cycle plus measurement noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(days * DAY)
    return 10.0 + 3.0 * np.sin(2 * np.pi * t / DAY) + rng.normal(0.0, 0.2, len(t))


def correlated_pair(n: int, seed: int) -> np.ndarray:
    """Two sensors on one pipe: ``b`` follows ``a``, which cycles every 7 hours (not daily)."""
    rng = np.random.default_rng(seed)
    a = 10.0 + 2.0 * np.sin(2 * np.pi * np.arange(n) / 42 + rng.uniform(0, 2 * np.pi))
    return np.column_stack([a + rng.normal(0.0, 0.1, n), 2.0 * a + rng.normal(0.0, 0.1, n)])


@pytest.fixture(scope="module")
def sine_detector() -> AnomalyDetector:
    return AnomalyDetector().fit(make_frame(daily_sine(7, seed=1), ("flow",)))


def later_week(values: np.ndarray) -> Frame:
    return make_frame(values, ("flow",), start="2024-01-08")


def test_spike_scores_above_every_normal_point_and_is_flagged(sine_detector: AnomalyDetector) -> None:
    values = daily_sine(3, seed=2)
    spike = 200
    values[spike] += 4.0
    result = sine_detector.detect(later_week(values))
    assert result.is_anomaly[spike]
    normal = np.ones(len(values), dtype=bool)
    normal[spike : spike + DEFAULT_CONFIG.smoothing] = False  # the spike echoes in the smoothing window
    assert result.score[spike] > result.score[normal].max()


def test_normal_days_raise_few_alarms(sine_detector: AnomalyDetector) -> None:
    result = sine_detector.detect(later_week(daily_sine(3, seed=3)))
    assert result.is_anomaly.mean() < 0.02


def test_level_shift_is_flagged_while_it_lasts(sine_detector: AnomalyDetector) -> None:
    values = daily_sine(3, seed=4)
    values[DAY : 2 * DAY] += 2.5  # one day reads 2.5 units high, within the sensor's daily range
    result = sine_detector.detect(later_week(values))
    assert result.is_anomaly[DAY + 10 : 2 * DAY].mean() > 0.9
    assert result.is_anomaly[: DAY - 10].mean() < 0.05


def test_frozen_reading_is_flagged_even_at_a_normal_value(sine_detector: AnomalyDetector) -> None:
    values = daily_sine(3, seed=5)
    frozen = slice(DAY + 30, DAY + 42)  # two hours stuck at whatever it last read
    values[frozen] = values[frozen.start - 1]
    result = sine_detector.detect(later_week(values))
    assert result.is_anomaly[frozen][-6:].all()
    assert result.by_scorer["frozen"][frozen].max() > 1.0
    assert not result.is_anomaly[:DAY].any()


def test_broken_relation_is_flagged_while_each_sensor_stays_in_range() -> None:
    normal = correlated_pair(3000, seed=6)
    live = correlated_pair(1500, seed=7)
    start = 600 + int(np.argmin(np.abs(live[600:642, 0] - 10.0)))  # where 2a = 40 - 2a: no jump
    broken = slice(start, start + 300)
    live[broken, 1] = 40.0 - live[broken, 1]  # b now moves against a, inside its usual range
    detector = AnomalyDetector().fit(make_frame(normal, ("a", "b")))
    result = detector.detect(make_frame(live, ("a", "b"), start="2024-02-01"))

    for j, name in enumerate(("a", "b")):  # watched alone, each sensor looks normal
        alone = AnomalyDetector().fit(make_frame(normal[:, j], (name,)))
        alone_alarms = alone.detect(make_frame(live[:, j], (name,), start="2024-02-01")).is_anomaly
        assert alone_alarms[broken].mean() < 0.05  # no more than the usual false-alarm rate
    assert result.is_anomaly[broken].mean() > 0.9
    assert result.is_anomaly[: broken.start].mean() < 0.02


def test_streaming_windows_score_like_the_whole_file(sine_detector: AnomalyDetector) -> None:
    """A live feed scored window by window (with a little overlap) gives the batch scores."""
    frame = later_week(daily_sine(2, seed=8))
    batch = sine_detector.score(frame)
    overlap = DEFAULT_CONFIG.smoothing + DEFAULT_CONFIG.relation_lags
    for start in range(overlap, len(frame), 50):
        window = frame.rows(start - overlap, start + 50)
        np.testing.assert_allclose(sine_detector.score(window)[overlap:], batch[start : start + 50])


def test_missing_readings_do_not_raise_alarms(sine_detector: AnomalyDetector) -> None:
    values = daily_sine(2, seed=9)
    values[100:103] = np.nan  # a sensor that skipped three reports
    result = sine_detector.detect(later_week(values))
    assert np.isfinite(result.score).all()
    assert not result.is_anomaly[95:115].any()


def test_fit_on_input_tolerates_a_few_anomalies() -> None:
    values = daily_sine(7, seed=10)
    values[[300, 700, 900]] += 5.0
    result = fit_on_input(make_frame(values, ("flow",))).detect(make_frame(values, ("flow",)))
    assert result.is_anomaly[[300, 700, 900]].all()


def test_training_at_the_live_resolution_avoids_rounding_alarms() -> None:
    """History kept at full precision, live data rounded to 0.1: the rounding is not an anomaly."""
    normal = make_frame(correlated_pair(3000, seed=11), ("a", "b"))
    live = make_frame(np.round(correlated_pair(1000, seed=12), 1), ("a", "b"), start="2024-02-01")
    fine = AnomalyDetector().fit(normal).detect(live).is_anomaly.mean()
    matched = AnomalyDetector().fit(match_resolution(normal, live)).detect(live).is_anomaly.mean()
    assert matched < 0.02 < fine


def test_scoring_other_columns_than_fitted_is_refused(sine_detector: AnomalyDetector) -> None:
    with pytest.raises(DataError, match="differ from fitted"):
        sine_detector.detect(make_frame(daily_sine(1, seed=13), ("pressure",)))


def test_too_little_normal_data_is_refused() -> None:
    with pytest.raises(DataError, match="at least"):
        AnomalyDetector().fit(make_frame(daily_sine(1, seed=14)[:5], ("flow",)))


def test_unknown_scorer_in_config_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scorer"):
        DetectorConfig(scorers=("level", "magic"))
