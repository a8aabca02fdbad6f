"""Working-time calendar: working hours and days, China's holidays and 调休, natural-time SLAs.

Every datetime here is explicit; nothing reads the wall clock.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from cityhub.events.calendar import (
    CN_DATA_YEARS,
    Deadline,
    WorkCalendar,
    generate_cn_calendar_yaml,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
CN = WorkCalendar.load()
WEEKENDS_ONLY = WorkCalendar()


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A Shanghai local time."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def hours(amount: float) -> timedelta:
    return timedelta(hours=amount)


# --- working hours within and around a working day (Mon 2025-06-09 … Fri 2025-06-13, no holidays) ---


@pytest.mark.parametrize(
    ("start", "delta", "due"),
    [
        pytest.param(at(2025, 6, 9, 10), hours(1), at(2025, 6, 9, 11), id="inside-morning"),
        pytest.param(at(2025, 6, 9, 7), hours(1), at(2025, 6, 9, 10), id="before-opening"),
        pytest.param(at(2025, 6, 9, 12, 30), hours(1), at(2025, 6, 9, 14, 30), id="lunch-break"),
        pytest.param(at(2025, 6, 9, 18), hours(1), at(2025, 6, 10, 10), id="after-closing"),
        pytest.param(at(2025, 6, 9, 11, 30), hours(1), at(2025, 6, 9, 14), id="across-lunch"),
        pytest.param(at(2025, 6, 9, 9), hours(3), at(2025, 6, 9, 12), id="fills-morning-ends-at-noon"),
        pytest.param(at(2025, 6, 9, 9), hours(7), at(2025, 6, 9, 17, 30), id="whole-day"),
        pytest.param(at(2025, 6, 9, 17, 30), hours(0.5), at(2025, 6, 10, 9, 30), id="at-closing"),
        pytest.param(at(2025, 6, 13, 16), hours(4), at(2025, 6, 16, 11, 30), id="friday-over-weekend"),
        pytest.param(at(2025, 6, 14, 10), hours(2), at(2025, 6, 16, 11), id="saturday-start"),
    ],
)
def test_add_working_time(start: datetime, delta: timedelta, due: datetime) -> None:
    assert CN.add_working_time(start, delta) == due


def test_zero_working_time_is_the_start_even_on_a_weekend() -> None:
    saturday = at(2025, 6, 14, 10)
    assert CN.add_working_time(saturday, timedelta(0)) == saturday


@pytest.mark.parametrize(
    ("start", "delta", "due"),
    [
        pytest.param(at(2025, 6, 9, 11), hours(1), at(2025, 6, 9, 10), id="inside"),
        pytest.param(at(2025, 6, 9, 14), hours(1), at(2025, 6, 9, 11, 30), id="across-lunch"),
        pytest.param(at(2025, 6, 16, 11), hours(4), at(2025, 6, 13, 15, 30), id="monday-back-to-friday"),
        pytest.param(at(2025, 6, 9, 12), hours(3), at(2025, 6, 9, 9), id="empties-morning-ends-at-nine"),
    ],
)
def test_negative_working_time_walks_backwards(start: datetime, delta: timedelta, due: datetime) -> None:
    assert CN.add_working_time(start, -delta) == due


def test_result_keeps_the_timezone_of_the_start() -> None:
    start = at(2025, 6, 13, 16).astimezone(UTC)
    due = CN.add_working_time(start, hours(4))
    assert due.tzinfo is UTC
    assert due == datetime(2025, 6, 16, 3, 30, tzinfo=UTC)  # Monday 11:30 in Shanghai


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        pytest.param(at(2025, 6, 13, 16), 1, at(2025, 6, 16, 16), id="friday-16h-monday-16h"),
        pytest.param(at(2025, 6, 9, 12, 30), 1, at(2025, 6, 10, 12), id="lunch-start"),
        pytest.param(at(2025, 6, 9, 8), 1, at(2025, 6, 9, 17, 30), id="before-opening-same-day"),
        pytest.param(at(2025, 6, 9, 20), 1, at(2025, 6, 10, 17, 30), id="evening-end-of-next-day"),
        pytest.param(at(2025, 6, 14, 10), 1, at(2025, 6, 16, 17, 30), id="saturday-end-of-monday"),
        pytest.param(at(2025, 6, 9, 10), 5, at(2025, 6, 16, 10), id="five-days-one-week"),
        pytest.param(at(2025, 6, 9, 10), 0, at(2025, 6, 9, 10), id="zero"),
        pytest.param(at(2025, 6, 16, 16), -1, at(2025, 6, 13, 16), id="negative"),
    ],
)
def test_add_working_days(start: datetime, days: int, due: datetime) -> None:
    assert CN.add_working_days(start, days) == due


def test_daily_working_time_defaults_to_seven_hours() -> None:
    assert CN.daily_working_time == hours(7)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param(at(2025, 6, 9, 8), at(2025, 6, 9, 19), hours(7), id="whole-day"),
        pytest.param(at(2025, 6, 9, 11), at(2025, 6, 9, 14), hours(1.5), id="across-lunch"),
        pytest.param(at(2025, 6, 9, 12), at(2025, 6, 9, 13, 30), hours(0), id="inside-lunch"),
        pytest.param(at(2025, 6, 13, 17), at(2025, 6, 16, 10), hours(1.5), id="over-weekend"),
        pytest.param(at(2025, 6, 16, 10), at(2025, 6, 13, 17), -hours(1.5), id="reversed-is-negative"),
        pytest.param(at(2025, 6, 9, 10), at(2025, 6, 9, 10), hours(0), id="same-instant"),
    ],
)
def test_working_time_between(a: datetime, b: datetime, expected: timedelta) -> None:
    assert CN.working_time_between(a, b) == expected


# --- China's calendar: 2025 National Day (Oct 1-8 off, Sun Sep 28 and Sat Oct 11 worked) ---


def test_chinese_calendar_and_packaged_data_agree_on_2025_national_day() -> None:
    holiday = [date(2025, 10, day) for day in range(1, 9)]
    adjusted = [date(2025, 9, 28), date(2025, 10, 11)]
    assert [chinese_calendar.is_workday(d) for d in holiday] == [False] * 8
    assert [chinese_calendar.is_workday(d) for d in adjusted] == [True, True]
    assert [d.weekday() for d in adjusted] == [6, 5]  # a Sunday and a Saturday
    assert [CN.is_working_day(d) for d in holiday] == [False] * 8
    assert [CN.is_working_day(d) for d in adjusted] == [True, True]


@pytest.mark.parametrize(
    ("start", "deadline", "due"),
    [
        pytest.param(at(2025, 9, 30, 16), "1wd", at(2025, 10, 9, 16), id="eve-of-holiday"),
        pytest.param(at(2025, 9, 26, 16), "1wd", at(2025, 9, 28, 16), id="into-adjusted-sunday"),
        pytest.param(at(2025, 9, 30, 16), "5wd", at(2025, 10, 14, 16), id="through-adjusted-saturday"),
        pytest.param(at(2025, 9, 30, 17), "2wh", at(2025, 10, 9, 10, 30), id="sign-within-2wh"),
        pytest.param(at(2025, 10, 3, 10), "2wh", at(2025, 10, 9, 11), id="start-on-holiday-hours"),
        pytest.param(at(2025, 10, 3, 10), "1wd", at(2025, 10, 9, 17, 30), id="start-on-holiday-day"),
        pytest.param(at(2025, 10, 4, 10), "1wd", at(2025, 10, 9, 17, 30), id="start-on-holiday-weekend"),
    ],
)
def test_deadlines_cross_the_2025_national_day(start: datetime, deadline: str, due: datetime) -> None:
    assert Deadline.parse(deadline).due(CN, start) == due


def test_working_time_over_the_national_day_counts_only_working_periods() -> None:
    assert CN.working_time_between(at(2025, 9, 30, 12), at(2025, 10, 9, 12)) == hours(7)
    assert CN.working_time_between(at(2025, 9, 30, 17, 30), at(2025, 10, 9, 9)) == hours(0)
    assert CN.add_working_time(at(2025, 10, 9, 10), -hours(2)) == at(2025, 9, 30, 16, 30)


def test_2026_spring_festival_with_both_adjusted_saturdays() -> None:
    assert CN.add_working_days(at(2026, 2, 13, 16), 1) == at(2026, 2, 14, 16)  # Saturday worked
    assert CN.add_working_days(at(2026, 2, 14, 16), 1) == at(2026, 2, 24, 16)  # Feb 15-23 off
    assert CN.is_working_day(date(2026, 2, 28))


def test_is_working_day_reads_an_aware_datetime_in_the_calendar_timezone() -> None:
    # 20:00 UTC on Sep 30 is already 04:00 on Oct 1 in Shanghai.
    assert not CN.is_working_day(datetime(2025, 9, 30, 20, tzinfo=UTC))
    assert CN.is_working_day(datetime(2025, 9, 30, 15, tzinfo=UTC))


@pytest.mark.parametrize("year", range(CN_DATA_YEARS[0], CN_DATA_YEARS[1] + 1))
def test_a_whole_year_matches_chinese_calendar(year: int) -> None:
    days = (
        date(year, 1, 1) + timedelta(days=n) for n in range((date(year + 1, 1, 1) - date(year, 1, 1)).days)
    )
    working_days = sum(chinese_calendar.is_workday(d) for d in days)
    assert CN.working_time_between(at(year, 1, 1), at(year + 1, 1, 1)) == working_days * hours(7)
    assert CN.add_working_days(at(year, 1, 1), working_days) == at(year, 12, 31, 17, 30)


def test_packaged_yaml_is_what_the_generator_produces() -> None:
    packaged = Path(__file__).parents[2] / "cityhub" / "events" / "holidays_cn.yaml"
    assert packaged.read_text(encoding="utf-8") == generate_cn_calendar_yaml(*CN_DATA_YEARS)


def test_generator_refuses_years_chinese_calendar_does_not_cover() -> None:
    with pytest.raises(ValueError, match=r"no data for \[2027\]; it covers 2004–2026"):
        generate_cn_calendar_yaml(2026, 2027)


# --- properties over many generated starts and deltas ---


def _random_instant(rng: random.Random) -> datetime:
    """A Shanghai instant in 2024-2026, often exactly on a period boundary, sometimes with microseconds."""
    day = date(2024, 1, 1) + timedelta(days=rng.randrange(1050))
    if rng.random() < 0.3:
        clock = rng.choice([time(9), time(12), time(13, 30), time(17, 30)])
        return datetime.combine(day, clock, tzinfo=SHANGHAI)
    offset = timedelta(seconds=rng.randrange(86_400), microseconds=rng.randrange(1_000_000))
    return datetime.combine(day, time(), tzinfo=SHANGHAI) + offset


def _random_delta(rng: random.Random) -> timedelta:
    """Up to 40 working days, often whole working hours."""
    if rng.random() < 0.5:
        return hours(rng.randrange(1, 40 * 7))
    return timedelta(seconds=rng.randrange(1, 40 * 7 * 3600), microseconds=rng.randrange(1_000_000))


def test_add_and_between_are_inverse_for_random_starts_and_deltas() -> None:
    rng = random.Random(20251001)
    for _ in range(500):
        start, delta = _random_instant(rng), _random_delta(rng)
        later, earlier = CN.add_working_time(start, delta), CN.add_working_time(start, -delta)
        assert earlier < start < later, (start, delta)
        assert CN.working_time_between(start, later) == delta, (start, delta)
        assert CN.working_time_between(later, start) == -delta, (start, delta)
        assert CN.working_time_between(earlier, start) == delta, (start, delta)


def test_between_is_additive_and_add_returns_the_earliest_instant() -> None:
    rng = random.Random(7)
    for _ in range(200):
        a, b, c = sorted(_random_instant(rng) for _ in range(3))
        assert CN.working_time_between(a, c) == CN.working_time_between(a, b) + CN.working_time_between(b, c)
        reached = CN.add_working_time(a, CN.working_time_between(a, b))
        assert reached <= b, (a, b)
        assert CN.working_time_between(reached, b) == timedelta(0), (a, b)


def _brute_force_working_time(a: datetime, b: datetime, step: timedelta) -> timedelta:
    """Independent oracle: step through local time, asking chinese_calendar about each day."""
    local, end = a.astimezone(SHANGHAI).replace(tzinfo=None), b.astimezone(SHANGHAI).replace(tzinfo=None)
    total = timedelta(0)
    while local < end:
        in_period = time(9) <= local.time() < time(12) or time(13, 30) <= local.time() < time(17, 30)
        if in_period and chinese_calendar.is_workday(local.date()):
            total += step
        local += step
    return total


def test_between_matches_a_minute_stepping_oracle_around_holidays() -> None:
    rng = random.Random(42)
    step = timedelta(minutes=5)
    for _ in range(60):
        # 5-minute-aligned starts from mid-September to mid-October 2025, spans up to ten days.
        a = at(2025, 9, 15) + step * rng.randrange(30 * 288)
        b = a + step * rng.randrange(10 * 288)
        assert CN.working_time_between(a, b) == _brute_force_working_time(a, b, step), (a, b)


# --- naive datetimes are refused ---

NAIVE = datetime(2025, 6, 9, 10)
AWARE = at(2025, 6, 9, 10)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: CN.add_working_time(NAIVE, hours(1)), id="add_working_time"),
        pytest.param(lambda: CN.add_working_days(NAIVE, 1), id="add_working_days"),
        pytest.param(lambda: CN.working_time_between(NAIVE, AWARE), id="between-a"),
        pytest.param(lambda: CN.working_time_between(AWARE, NAIVE), id="between-b"),
        pytest.param(lambda: CN.is_working_day(NAIVE), id="is_working_day"),
        pytest.param(lambda: Deadline.parse("2h").due(CN, NAIVE), id="natural-deadline"),
        pytest.param(lambda: Deadline.parse("3d").due(CN, NAIVE), id="natural-days-deadline"),
    ],
)
def test_naive_datetimes_are_refused(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        call()


# --- custom periods and timezones ---


def test_custom_periods() -> None:
    calendar = WorkCalendar.from_mapping({"periods": ["08:00-10:00", "10:30-12:00", "14:00-18:00"]})
    assert calendar.daily_working_time == hours(7.5)
    assert calendar.add_working_time(at(2025, 6, 9, 9), hours(2)) == at(2025, 6, 9, 11, 30)
    assert calendar.add_working_time(at(2025, 6, 9, 11), hours(2)) == at(2025, 6, 9, 15)
    assert calendar.working_time_between(at(2025, 6, 9, 0), at(2025, 6, 9, 23)) == hours(7.5)


def test_custom_timezone_across_a_daylight_saving_change() -> None:
    # Berlin moves from CET (UTC+1) to CEST (UTC+2) on Sunday 2025-03-30.
    berlin = WorkCalendar.from_mapping({"timezone": "Europe/Berlin", "periods": ["08:00-16:00"]})
    friday = datetime(2025, 3, 28, 14, tzinfo=UTC)  # 15:00 CET
    assert berlin.add_working_time(friday, hours(2)) == datetime(2025, 3, 31, 7, tzinfo=UTC)  # 09:00 CEST
    assert berlin.add_working_days(friday, 1) == datetime(2025, 3, 31, 13, tzinfo=UTC)  # 15:00 CEST
    assert berlin.working_time_between(friday, datetime(2025, 3, 31, 7, tzinfo=UTC)) == hours(2)


def test_natural_days_keep_the_local_clock_time_across_daylight_saving() -> None:
    berlin = WorkCalendar(tz=BERLIN)
    saturday_noon = datetime(2025, 3, 29, 12, tzinfo=BERLIN)
    assert Deadline.parse("1d").due(berlin, saturday_noon) == datetime(2025, 3, 30, 12, tzinfo=BERLIN)
    assert Deadline.parse("24h").due(berlin, saturday_noon) == datetime(2025, 3, 30, 13, tzinfo=BERLIN)


def test_calendars_do_not_share_state() -> None:
    with_holiday = WorkCalendar(holidays=frozenset({date(2025, 6, 16)}))
    start = at(2025, 6, 13, 16)
    assert with_holiday.add_working_days(start, 1) == at(2025, 6, 17, 16)
    assert WEEKENDS_ONLY.add_working_days(start, 1) == at(2025, 6, 16, 16)
    assert with_holiday.add_working_days(start, 1) == at(2025, 6, 17, 16)


# --- building calendars from data ---


def test_from_mapping_defaults_are_shanghai_office_hours_without_holidays() -> None:
    calendar = WorkCalendar.from_mapping({})
    assert calendar == WorkCalendar(
        tz=SHANGHAI,
        periods=((time(9), time(12)), (time(13, 30), time(17, 30))),
        holidays=frozenset(),
        workdays=frozenset(),
    )
    assert not calendar.is_working_day(date(2025, 6, 14))
    assert calendar.is_working_day(date(2025, 10, 1))  # no holidays listed


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param({"periods": ["9-12"]}, "invalid working period '9-12'", id="period-format"),
        pytest.param({"periods": ["25:00-26:00"]}, "invalid working period", id="period-range"),
        pytest.param({"periods": ["12:00-09:00"]}, "start before end", id="period-reversed"),
        pytest.param({"periods": ["09:00-12:00", "11:00-13:00"]}, "without overlap", id="periods-overlap"),
        pytest.param({"periods": []}, "at least one working period", id="no-periods"),
        pytest.param({"timezone": "Mars/Olympus"}, "unknown timezone 'Mars/Olympus'", id="timezone"),
        pytest.param({"holidays": ["2025-13-01"]}, "invalid date '2025-13-01' in holidays", id="bad-date"),
        pytest.param({"holidays": "2025-10-01"}, "expected a list", id="not-a-list"),
        pytest.param(
            {"holidays": ["2025-10-11"], "workdays": ["2025-10-11"]}, "both as holidays and", id="overlap"
        ),
        pytest.param({"workdays": ["2025-09-29"]}, "Saturdays or Sundays", id="weekday-workday"),
        pytest.param({"holiday": ["2025-10-01"]}, r"unknown calendar keys \['holiday'\]", id="typo-key"),
    ],
)
def test_from_mapping_rejects_bad_data(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkCalendar.from_mapping(data)


def test_load_reads_a_custom_file_and_names_it_in_errors(tmp_path: Path) -> None:
    good = tmp_path / "city.yaml"
    good.write_text("timezone: Asia/Urumqi\nperiods: ['10:00-14:00']\nholidays:\n  - 2025-06-10\n")
    calendar = WorkCalendar.load(good)
    assert calendar.tz == ZoneInfo("Asia/Urumqi")
    assert not calendar.is_working_day(date(2025, 6, 10))
    bad = tmp_path / "bad.yaml"
    bad.write_text("workdays: [2025-09-29]\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: workdays must be"):
        WorkCalendar.load(bad)
    (tmp_path / "list.yaml").write_text("- 2025-10-01\n")
    with pytest.raises(ValueError, match="mapping at the top level"):
        WorkCalendar.load(tmp_path / "list.yaml")


# --- Deadline values ---


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", Deadline(2, "natural_hours")),
        ("4wh", Deadline(4, "working_hours")),
        ("5wd", Deadline(5, "working_days")),
        ("3d", Deadline(3, "natural_days")),
        (" 4WH ", Deadline(4, "working_hours")),
        ("10 wd", Deadline(10, "working_days")),
    ],
)
def test_deadline_parse(text: str, expected: Deadline) -> None:
    assert Deadline.parse(text) == expected
    assert Deadline.parse(str(expected)) == expected


@pytest.mark.parametrize("text", ["", "2", "h", "2x", "-2h", "2.5h", "2 hours", "wh4", "2hh", "２h"])
def test_deadline_parse_rejects_malformed_text(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected a positive whole number and a unit: h \(natural hours\)"):
        Deadline.parse(text)


def test_deadline_rejects_zero_and_unknown_units() -> None:
    with pytest.raises(ValueError, match="at least 1, got 0"):
        Deadline.parse("0h")
    with pytest.raises(ValueError, match="unknown deadline unit 'weeks'"):
        Deadline(2, "weeks")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("deadline", "due"),
    [
        pytest.param("2h", at(2025, 10, 1, 12), id="natural-hours"),
        pytest.param("3d", at(2025, 10, 4, 10), id="natural-days"),
        pytest.param("2wh", at(2025, 10, 9, 11), id="working-hours-for-contrast"),
    ],
)
def test_natural_units_ignore_holidays(deadline: str, due: datetime) -> None:
    assert Deadline.parse(deadline).due(CN, at(2025, 10, 1, 10)) == due


def test_deadline_due_in_working_units() -> None:
    friday = at(2025, 6, 13, 16)
    assert Deadline.parse("4wh").due(CN, friday) == at(2025, 6, 16, 11, 30)
    assert Deadline.parse("1wd").due(CN, friday) == at(2025, 6, 16, 16)
    assert Deadline.parse("2h").due(CN, friday.astimezone(UTC)).tzinfo is UTC


# --- Deadline bounds and order ---


@pytest.mark.parametrize(
    ("longest", "too_long"),
    [("8784h", "8785h"), ("366d", "367d"), ("250wd", "251wd"), ("2000wh", "2001wh"), ("1d", "99999999h")],
)
def test_a_deadline_is_at_most_a_year(longest: str, too_long: str) -> None:
    Deadline.parse(longest).due(CN, at(2025, 10, 1, 10))  # computable from any day of the hub's years
    with pytest.raises(ValueError, match="at most a year"):
        Deadline.parse(too_long)


@pytest.mark.parametrize(
    ("resolve", "sign", "before"),
    [
        ("1h", "5d", True),
        ("23h", "1d", True),
        ("1d", "24h", False),
        ("1wd", "2wd", True),
        ("6wh", "1wd", True),  # a working day of CN is 7 working hours
        ("7wh", "1wd", False),
        ("1h", "2wh", True),  # a working hour never passes faster than an hour
        ("2h", "2wh", False),
        ("1wh", "5d", False),  # over a long holiday one working hour can take more than five days
        ("1wd", "1h", False),
    ],
)
def test_a_deadline_always_before_another_whatever_the_start(resolve: str, sign: str, before: bool) -> None:
    assert Deadline.parse(resolve).always_before(Deadline.parse(sign), CN) is before
