"""Working-time calendar for event deadlines (签收时限 / 办结时限).

SLAs are counted either in natural time or in working time on a configurable calendar: weekends are off,
public holidays are off, and adjusted working days (调休) turn a Saturday or Sunday into a working day. A
working day holds one or more working periods in local time (default 09:00–12:00 and 13:30–17:30, 7 hours).

Conventions used throughout:

* Every datetime in or out is timezone-aware; naive values raise ``ValueError``. Results come back in the
  timezone of the ``start`` argument (UTC in, UTC out), while working periods are read in ``WorkCalendar.tz``.
* ``add_working_time(start, d)`` is the earliest instant ``t >= start`` with
  ``working_time_between(start, t) == d``. Running out exactly at the end of a period yields the period's
  end (12:00, not 13:30), and a zero delta yields ``start`` itself. A negative delta walks backwards
  symmetrically (the latest such ``t <= start``).
* One working day is ``daily_working_time`` of working time, so a report received Friday 16:00 with a
  1-working-day deadline is due Monday 16:00 (when Monday is a working day).

The default data, ``holidays_cn.yaml``, is generated from the ``chinese_calendar`` package by
``generate_cn_calendar_yaml`` (run ``python -m cityhub.events.calendar > cityhub/events/holidays_cn.yaml``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from importlib.resources.abc import Traversable
from itertools import groupby, pairwise, takewhile
from pathlib import Path
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_PERIODS: tuple[tuple[time, time], ...] = ((time(9), time(12)), (time(13, 30), time(17, 30)))
# Years covered by the packaged holidays_cn.yaml; outside them only weekends are days off.
CN_DATA_YEARS = (2024, 2026)

_DEFAULT_TZ = ZoneInfo(DEFAULT_TIMEZONE)  # zone objects are immutable, so one default can be shared
_PACKAGE = "cityhub.events"
_DATA_FILE = "holidays_cn.yaml"
_MAPPING_KEYS = frozenset({"timezone", "periods", "holidays", "workdays"})
_PERIOD_RE = re.compile(r"([0-9]{1,2}):([0-9]{2})\s*-\s*([0-9]{1,2}):([0-9]{2})")
_ONE_DAY = timedelta(days=1)
_ZERO = timedelta(0)

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class WorkCalendar:
    """Working days and working hours of one city, and working-time arithmetic on them.

    ``holidays`` are days off (they may include the weekend days inside an official holiday range);
    ``workdays`` are weekend days that are working days (调休). The two sets must not overlap.
    Instances are immutable and keep no shared cache, so two calendars never influence each other.
    """

    tz: ZoneInfo = _DEFAULT_TZ
    periods: tuple[tuple[time, time], ...] = DEFAULT_PERIODS
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        _check_periods(self.periods)
        _check_special_days(self.holidays, self.workdays)

    @property
    def daily_working_time(self) -> timedelta:
        """Working time in one working day: the unit of ``add_working_days``."""
        return sum((_wall_length(begin, end) for begin, end in self.periods), _ZERO)

    def is_working_day(self, d: date) -> bool:
        """Whether ``d`` (a local date; an aware datetime is first converted to ``tz``) is a working day."""
        if isinstance(d, datetime):
            # datetime is a date subclass but never equal to one, so set lookups would silently miss.
            d = _require_aware(d, "d").astimezone(self.tz).date()
        if d in self.workdays:
            return True
        return d.weekday() < 5 and d not in self.holidays

    def add_working_time(self, start: datetime, delta: timedelta) -> datetime:
        """The instant ``delta`` of working time after ``start`` (before it when ``delta`` is negative)."""
        origin = _require_aware(start, "start")
        if delta == _ZERO:
            due = origin
        elif delta > _ZERO:
            begin, _, left = _spend(self._intervals_after(origin), delta)
            due = begin + left
        else:
            _, end, left = _spend(self._intervals_before(origin), -delta)
            due = end - left
        return due.astimezone(start.tzinfo)

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The deadline ``days`` working days after ``start``: ``days × daily_working_time`` of working time.

        So the first working day is counted from ``start`` itself: Friday 16:00 + 1 → Monday 16:00;
        Monday 12:30 (lunch) + 1 → Tuesday 12:00; a start outside working time (Saturday, or a weekday
        evening) + 1 → the end of the next working day's last period (17:30).
        """
        return self.add_working_time(start, days * self.daily_working_time)

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time from ``a`` to ``b``; negative when ``b`` is before ``a``."""
        first, second = _require_aware(a, "a"), _require_aware(b, "b")
        if second < first:
            return -self._working_time(second, first)
        return self._working_time(first, second)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> WorkCalendar:
        """Build a calendar from a YAML-like mapping; absent keys take the defaults.

        Keys: ``timezone`` ("Asia/Shanghai"), ``periods`` (["09:00-12:00", "13:30-17:30"]),
        ``holidays`` and ``workdays`` (lists of dates or ISO date strings). Unknown keys are refused so a
        typo cannot silently drop a holiday list.
        """
        unknown = set(data) - _MAPPING_KEYS
        if unknown:
            expected = sorted(_MAPPING_KEYS)
            raise ValueError(f"unknown calendar keys {sorted(unknown)}; expected some of {expected}")
        periods = data.get("periods")
        return cls(
            tz=_parse_timezone(data.get("timezone", DEFAULT_TIMEZONE)),
            periods=DEFAULT_PERIODS if periods is None else tuple(_parse_period(p) for p in _items(periods)),
            holidays=frozenset(_parse_date(v, "holidays") for v in _items(data.get("holidays"))),
            workdays=frozenset(_parse_date(v, "workdays") for v in _items(data.get("workdays"))),
        )

    @classmethod
    def load(cls, path: Path | None = None) -> WorkCalendar:
        """Load a calendar YAML file; by default the packaged China calendar (``holidays_cn.yaml``)."""
        source: Path | Traversable = path if path is not None else resources.files(_PACKAGE) / _DATA_FILE
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: a calendar file must hold a mapping at the top level")
        try:
            return cls.from_mapping(data)
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from exc

    def _working_time(self, first: datetime, second: datetime) -> timedelta:
        intervals = takewhile(lambda interval: interval[0] < second, self._intervals_after(first))
        return sum((min(end, second) - begin for begin, end in intervals), _ZERO)

    def _periods_on(self, day: date) -> list[Interval]:
        """The working periods of a local date as UTC instants; empty on a day off."""
        if not self.is_working_day(day):
            return []
        return [(_instant(day, begin, self.tz), _instant(day, end, self.tz)) for begin, end in self.periods]

    def _intervals_after(self, origin: datetime) -> Iterator[Interval]:
        """Working intervals from ``origin`` onwards, in order, the first one clipped; endless."""
        day = origin.astimezone(self.tz).date()
        while True:
            for begin, end in self._periods_on(day):
                if end > origin:
                    yield max(begin, origin), end
            day += _ONE_DAY

    def _intervals_before(self, origin: datetime) -> Iterator[Interval]:
        """Working intervals up to ``origin``, latest first, the first one clipped; endless."""
        day = origin.astimezone(self.tz).date()
        while True:
            for begin, end in reversed(self._periods_on(day)):
                if begin < origin:
                    yield begin, min(end, origin)
            day -= _ONE_DAY


DeadlineUnit = Literal["natural_hours", "working_hours", "working_days", "natural_days"]
_UNIT_BY_SUFFIX: dict[str, DeadlineUnit] = {
    "h": "natural_hours",
    "wh": "working_hours",
    "wd": "working_days",
    "d": "natural_days",
}
_SUFFIX_BY_UNIT = {unit: suffix for suffix, unit in _UNIT_BY_SUFFIX.items()}
_DEADLINE_RE = re.compile(r"([0-9]+)\s*(wh|wd|h|d)")
# The longest deadline in each unit: a year. SLAs count hours to weeks (the demo's longest is 15 working
# days); a year is far beyond any of them, and it keeps every deadline computable: natural units stay far
# from the end of datetime's range (99999999h overflowed it), and a working-time deadline walks at most a
# year of working days. A working year: 250 working days (365 days less 104 weekend days and 11 public
# holidays), of at most 8 working hours (the legal working day; the default calendar has 7).
_MAX_AMOUNT: dict[DeadlineUnit, int] = {
    "natural_hours": 366 * 24,
    "natural_days": 366,
    "working_days": 250,
    "working_hours": 250 * 8,
}
_DEADLINE_HELP = (
    "expected a positive whole number and a unit: h (natural hours), wh (working hours), "
    "wd (working days) or d (natural days), e.g. '2h', '4wh', '5wd', '3d'"
)


@dataclass(frozen=True)
class Deadline:
    """An SLA such as 签收 within 2 natural hours or 办结 within 5 working days.

    Natural hours are elapsed time; natural days keep the local clock time N calendar days later in the
    calendar's timezone (the same thing as N × 24 h in Asia/Shanghai, which has no daylight saving).
    Neither is affected by holidays. Working units use the calendar's working time.
    ``str(deadline)`` gives back the text form that ``parse`` reads.
    """

    amount: int
    unit: DeadlineUnit

    def __post_init__(self) -> None:
        if self.unit not in get_args(DeadlineUnit):
            raise ValueError(f"unknown deadline unit {self.unit!r}; expected one of {get_args(DeadlineUnit)}")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount < 1:
            raise ValueError(f"deadline amount must be a whole number of at least 1, got {self.amount!r}")
        if self.amount > _MAX_AMOUNT[self.unit]:
            longest = f"{_MAX_AMOUNT[self.unit]}{_SUFFIX_BY_UNIT[self.unit]}"
            raise ValueError(f"deadline {self} is too long: at most a year ({longest} in {self.unit})")

    def __str__(self) -> str:
        return f"{self.amount}{_SUFFIX_BY_UNIT[self.unit]}"

    def due(self, calendar: WorkCalendar, start: datetime) -> datetime:
        """When an event that started at ``start`` is due, in ``start``'s timezone."""
        origin = _require_aware(start, "start")
        if self.unit == "natural_hours":
            return (origin + timedelta(hours=self.amount)).astimezone(start.tzinfo)
        if self.unit == "natural_days":
            # Adding to a local datetime is wall-clock arithmetic: same local time, N dates later.
            local = origin.astimezone(calendar.tz) + timedelta(days=self.amount)
            return local.astimezone(start.tzinfo)
        if self.unit == "working_hours":
            return calendar.add_working_time(start, timedelta(hours=self.amount))
        return calendar.add_working_days(start, self.amount)

    def always_before(self, other: Deadline, calendar: WorkCalendar) -> bool:
        """Whether this deadline falls before ``other`` whatever the start: both in natural time or both in
        working time, by their lengths; this one in natural time and ``other`` in working time, when this
        one is shorter than ``other``'s working time (which never passes faster than the clock). A working
        deadline may take longer than any natural one (a long holiday), so it is never surely before one.
        """
        if self.is_working != other.is_working:
            return not self.is_working and self._length(calendar) < other._length(calendar)
        return self._length(calendar) < other._length(calendar)

    @property
    def is_working(self) -> bool:
        return self.unit in ("working_hours", "working_days")

    def _length(self, calendar: WorkCalendar) -> timedelta:
        """Elapsed time for natural units (a natural day is 24 h, as in Asia/Shanghai); working time for
        working units."""
        if self.unit == "working_days":
            return self.amount * calendar.daily_working_time
        return timedelta(days=self.amount) if self.unit == "natural_days" else timedelta(hours=self.amount)

    @classmethod
    def parse(cls, text: str) -> Deadline:
        """Read ``"2h"``, ``"4wh"``, ``"5wd"`` or ``"3d"`` (case and surrounding spaces ignored)."""
        if not isinstance(text, str):
            raise ValueError(f"invalid deadline {text!r}: {_DEADLINE_HELP}")
        match = _DEADLINE_RE.fullmatch(text.strip().lower())
        if match is None:
            raise ValueError(f"invalid deadline {text!r}: {_DEADLINE_HELP}")
        return cls(int(match[1]), _UNIT_BY_SUFFIX[match[2]])


def generate_cn_calendar_yaml(first_year: int, last_year: int) -> str:
    """Render the China calendar file from the ``chinese_calendar`` package for the given years.

    Refuses years the installed package does not cover, so a stale package cannot produce a file that
    silently treats next year's holidays as working days.
    """
    import chinese_calendar  # only the generator needs it; the hub itself reads the generated YAML

    covered = {day.year for day in chinese_calendar.holidays}
    missing = sorted(set(range(first_year, last_year + 1)) - covered)
    if missing:
        raise ValueError(
            f"chinese_calendar {chinese_calendar.__version__} has no data for {missing}; "
            f"it covers {min(covered)}–{max(covered)}"
        )
    lines = [
        f"# China: public holidays and adjusted working days (调休), {first_year}–{last_year}.",
        f"# Generated from chinese_calendar {chinese_calendar.__version__}, a transcription of the State",
        "# Council General Office's yearly 部分节假日安排的通知, by generate_cn_calendar_yaml in",
        "# cityhub/events/calendar.py:",
        "#   python -m cityhub.events.calendar > cityhub/events/holidays_cn.yaml",
        "# Do not edit by hand. Outside these years only weekends are days off; add the next year when the",
        "# notice is published (usually in November) and chinese_calendar has caught up.",
        f"timezone: {DEFAULT_TIMEZONE}",
        "periods:",
        *(f'  - "{begin:%H:%M}-{end:%H:%M}"' for begin, end in DEFAULT_PERIODS),
        "holidays:",
        *_dated_lines(chinese_calendar.holidays, first_year, last_year),
        "workdays:",
        *_dated_lines(chinese_calendar.workdays, first_year, last_year),
    ]
    return "\n".join(lines) + "\n"


def _dated_lines(names: Mapping[date, str], first_year: int, last_year: int) -> Iterator[str]:
    """YAML list items, one per date, with a comment naming each run of the same festival."""
    from chinese_calendar import Holiday

    days = sorted(day for day in names if first_year <= day.year <= last_year)
    for (year, name), run in groupby(days, key=lambda day: (day.year, names[day])):
        yield f"  # {year} {Holiday(name).chinese} {name}"
        yield from (f"  - {day.isoformat()}" for day in run)


def _spend(intervals: Iterator[Interval], amount: timedelta) -> tuple[datetime, datetime, timedelta]:
    """Use up whole intervals while ``amount`` exceeds them.

    Returns the interval where ``amount`` runs out and how much of it is still to spend there.
    """
    begin, end = next(intervals)
    while end - begin < amount:
        amount -= end - begin
        begin, end = next(intervals)
    return begin, end, amount


def _require_aware(value: datetime, name: str) -> datetime:
    """``value`` in UTC; naive values are refused because their timezone would be a guess."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _instant(day: date, clock: time, tz: ZoneInfo) -> datetime:
    # Compare and subtract in UTC: aware datetimes sharing a tzinfo subtract as wall clocks, ignoring DST.
    return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)


def _wall_length(begin: time, end: time) -> timedelta:
    return datetime.combine(date.min, end) - datetime.combine(date.min, begin)


def _check_periods(periods: tuple[tuple[time, time], ...]) -> None:
    if not periods:
        raise ValueError("a work calendar needs at least one working period")
    for begin, end in periods:
        if begin.tzinfo is not None or end.tzinfo is not None or not begin < end:
            raise ValueError(f"working period {begin}-{end} must be two naive local times, start before end")
    for (_, end), (begin, _) in pairwise(periods):
        if begin < end:
            raise ValueError(f"working periods must be in order, without overlap: {begin} is before {end}")


def _check_special_days(holidays: frozenset[date], workdays: frozenset[date]) -> None:
    both = sorted(holidays & workdays)
    if both:
        raise ValueError(f"dates listed both as holidays and as workdays: {[d.isoformat() for d in both]}")
    weekdays = sorted(d for d in workdays if d.weekday() < 5)
    if weekdays:
        # A weekday is a working day already; listing one is almost always a mistyped 调休 date.
        raise ValueError(f"workdays must be Saturdays or Sundays, got {[d.isoformat() for d in weekdays]}")


def _items(value: Any) -> Iterable[Any]:
    """A YAML list, treating an empty key (None) as an empty list."""
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValueError(f"expected a list, got {value!r}")
    return value


def _parse_timezone(name: Any) -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r}; use an IANA name such as 'Asia/Shanghai'") from exc


def _parse_period(text: Any) -> tuple[time, time]:
    match = _PERIOD_RE.fullmatch(str(text).strip())
    if match is not None:
        hour1, minute1, hour2, minute2 = (int(part) for part in match.groups())
        try:
            return time(hour1, minute1), time(hour2, minute2)
        except ValueError:
            pass  # hour or minute out of range: report it like any other malformed period
    raise ValueError(f"invalid working period {text!r}; expected 'HH:MM-HH:MM' such as '09:00-12:00'")


def _parse_date(value: Any, key: str) -> date:
    # YAML turns 2025-10-01 into a date already; quoted strings are accepted too. A datetime is refused
    # because it is a date subclass that never equals a date, so it would never match.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"invalid date {value!r} in {key}; expected YYYY-MM-DD")


def main() -> None:
    """Print the packaged China calendar file (see the module docstring for the regeneration command)."""
    print(generate_cn_calendar_yaml(*CN_DATA_YEARS), end="")


if __name__ == "__main__":
    main()
