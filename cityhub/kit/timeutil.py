"""Time helpers: the hub stores timezone-aware UTC and shows Asia/Shanghai by default."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


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
