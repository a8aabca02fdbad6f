"""Time helpers: the hub stores timezone-aware UTC and shows Asia/Shanghai by default."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The instants the hub takes from its clients: [EARLIEST, LATEST). Python's datetime ends at the years 1 and
# 9999, and the hub computes from the times it is given (windows a day or 90 days back, deadlines a year
# ahead, conversions to and from local time): room of centuries on either side keeps all of that computable.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def ensure_aware(value: datetime) -> datetime:
    """Treat naive datetimes as UTC (what the database hands back) and normalise to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def local_to_utc(value: datetime | None, tz: ZoneInfo = SHANGHAI) -> datetime | None:
    """A time a person typed: without an offset it means local time (Asia/Shanghai by default)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


def _held(value: datetime) -> datetime:
    """An aware datetime as UTC, if it lies within the years the hub takes."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-12:00: past the last datetime once in UTC
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError(f"give a time between the years {EARLIEST.year} and {LATEST.year - 1}")
    return utc


def _instant(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("give the time with its UTC offset, e.g. 2026-11-21T08:00:00+08:00")
    return _held(value)


def _local_instant(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=SHANGHAI)
    return _held(value)


# Times in requests (bodies and query parameters), checked once at the edge and held in UTC, so that no
# naive or unrepresentable datetime reaches a UTC column, a comparison or a deadline.
# An instant: the offset is required (machine clients, records of other systems).
Instant = Annotated[datetime, AfterValidator(_instant)]
# A time a person typed: without an offset it is Asia/Shanghai time (as ``local_to_utc``).
LocalInstant = Annotated[datetime, AfterValidator(_local_instant)]


class Clock:
    """The hub's clock. Tests freeze it; the deadline logic never reads the wall clock directly."""

    def __init__(self) -> None:
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        return self._frozen if self._frozen is not None else utcnow()

    @property
    def frozen_at(self) -> datetime | None:
        return self._frozen

    def freeze(self, at: datetime) -> None:
        self._frozen = ensure_aware(at)

    def unfreeze(self) -> None:
        self._frozen = None


clock = Clock()
