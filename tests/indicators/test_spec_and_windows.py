"""Thresholds with hysteresis, definitions that refuse nonsense, and the bucketed windows."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cityhub.indicators.spec import IndicatorSpec, Thresholds
from cityhub.indicators.windows import Series
from cityhub.models.indicator import WarningLevel

B, Y, ORANGE, R, G = (
    WarningLevel.BLUE,
    WarningLevel.YELLOW,
    WarningLevel.ORANGE,
    WarningLevel.RED,
    WarningLevel.GREEN,
)


def test_levels_rise_at_once_and_fall_only_past_the_hysteresis() -> None:
    t = Thresholds(blue=10, yellow=20, orange=30, red=50, hysteresis=2)
    assert t.classify(5) is None
    assert t.classify(20) is Y
    assert t.classify(55) is R
    # Back just under the orange threshold: still orange (within 2), then yellow once clearly below.
    assert t.classify(29, previous=ORANGE) is ORANGE
    assert t.classify(27.9, previous=ORANGE) is Y
    assert t.classify(9, previous=B) is B
    assert t.classify(7.9, previous=B) is None


def test_below_thresholds_and_the_five_colour_scale() -> None:
    gas = Thresholds(direction="below", yellow=0.009, hysteresis=0.02)
    assert gas.classify(0.0) is Y
    assert gas.classify(0.02, previous=Y) is Y  # not clearly back yet
    assert gas.classify(0.05, previous=Y) is None
    risk = Thresholds(scale="risk5", blue=15, yellow=30, orange=50, red=70)
    assert risk.classify(0) is G
    assert risk.classify(65) is ORANGE


@pytest.mark.parametrize(
    "bad",
    [
        {"blue": 30, "yellow": 20},  # not rising towards red
        {},  # no threshold at all
        {"direction": "below", "blue": 1, "red": 5},
    ],
)
def test_thresholds_in_the_wrong_order_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        Thresholds.model_validate(bad)


def test_an_alerting_indicator_needs_thresholds_and_a_sane_window() -> None:
    base = {
        "key": "x.y",
        "name": {"zh": "测试", "en": "test"},
        "domain": "环境",
        "formula": {"source": "telemetry", "metric": "noise", "aggregate": "mean", "window": "10m"},
    }
    IndicatorSpec.model_validate(base)
    with pytest.raises(ValidationError, match="needs thresholds"):
        IndicatorSpec.model_validate({**base, "alert": {"at": "yellow"}})
    with pytest.raises(ValidationError):
        IndicatorSpec.model_validate({**base, "formula": {**base["formula"], "window": "90d"}})


def test_an_alert_about_a_person_may_not_show_the_reading_in_its_title() -> None:
    base = {
        "key": "elderly.gas",
        "name": {"zh": "用气", "en": "gas"},
        "domain": "民生",
        "formula": {"source": "telemetry", "metric": "gas_volume", "aggregate": "increase", "window": "24h"},
        "thresholds": {"direction": "below", "yellow": 0.009},
    }
    about_a_person = {"at": "yellow", "subject": "person"}
    IndicatorSpec.model_validate({**base, "alert": {**about_a_person, "title": "{area} 独居老人未用气"}})
    IndicatorSpec.model_validate({**base, "alert": {"at": "yellow", "title": "{area} 用气 {value} m³"}})
    for title in ("{area} 用气 {value} m³", "用气 {value:.3f}"):
        with pytest.raises(ValidationError, match="may not show"):
            IndicatorSpec.model_validate({**base, "alert": {**about_a_person, "title": title}})


def test_window_aggregates_over_buckets() -> None:
    s = Series("D1", "level")
    s.ring(600.0)  # 10 min: 60 buckets of 10 s
    for i, v in enumerate([1.0, 3.0, 2.0, 8.0, 5.0]):
        s.add(1_000_000.0 + 60 * i, v)
    end = 1_000_000.0 + 240
    assert s.aggregate("last", 600, end) == 5.0
    assert s.aggregate("max", 600, end) == 8.0
    assert s.aggregate("mean", 600, end) == pytest.approx(19 / 5)
    assert s.aggregate("drop", 600, end) == 3.0  # from the maximum 8 to the last 5
    assert s.aggregate("rise", 600, end) == 4.0  # from the minimum 1 to the last 5
    assert s.aggregate("count", 600, end) == 5
    # Ten minutes after the last reading the window is empty.
    assert s.aggregate("last", 600, end + 700) is None


def test_increase_of_a_cumulative_meter_ignores_what_came_before_the_window() -> None:
    s = Series("M1", "gas_volume")
    s.ring(86_400.0)
    t0 = 2_000_000.0
    for hour in range(21):  # 0.05 m³ an hour
        s.add(t0 + 3600 * hour, 100 + 0.05 * hour)
    assert s.aggregate("increase", 86_400, t0 + 3600 * 20) == pytest.approx(0.05 * 20, abs=1e-9)
    for hour in range(21, 49):  # then nothing at all for a day
        s.add(t0 + 3600 * hour, 100 + 0.05 * 20)
    assert s.aggregate("increase", 86_400, t0 + 3600 * 48) == pytest.approx(0.0, abs=1e-9)
    assert s.coverage(86_400, t0 + 3600 * 48) == 1.0


def test_a_repeated_timestamp_is_ignored() -> None:
    s = Series("D1", "x")
    s.ring(60.0)
    assert s.add(100.0, 1.0)
    assert not s.add(100.0, 5.0)
    assert s.aggregate("max", 60, 100.0) == 1.0
