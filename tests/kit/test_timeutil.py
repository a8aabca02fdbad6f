"""Times given to the hub: an instant with its offset (or local time where that is the convention), held
in UTC, within the years the hub can compute with."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from cityhub.kit.timeutil import Instant, LocalInstant

INSTANT: TypeAdapter[datetime] = TypeAdapter(Instant)
LOCAL: TypeAdapter[datetime] = TypeAdapter(LocalInstant)


def test_an_instant_is_held_in_utc() -> None:
    held = INSTANT.validate_python("2026-11-21T08:00:00+08:00")
    assert held == datetime(2026, 11, 21, tzinfo=UTC) and held.tzinfo is UTC
    assert INSTANT.validate_python("2026-11-21T00:00:00Z").tzinfo is UTC


def test_local_time_without_an_offset_is_asia_shanghai() -> None:
    assert LOCAL.validate_python("2026-11-21T08:00:00") == datetime(2026, 11, 21, tzinfo=UTC)
    assert LOCAL.validate_python("2026-11-21T08:00:00Z") == datetime(2026, 11, 21, 8, tzinfo=UTC)


def test_an_instant_needs_its_offset() -> None:
    with pytest.raises(ValidationError, match="UTC offset"):
        INSTANT.validate_python("2026-11-21T08:00:00")


@pytest.mark.parametrize(
    "text",
    [
        "9999-12-31T23:59:59-12:00",  # past the last datetime once in UTC
        "0001-01-01T00:00:00+14:00",  # before the first
        "9999-12-31T23:59:59Z",  # holdable, but a day later is not: windows and deadlines add to it
        "0001-01-01T00:00:00Z",
    ],
)
def test_times_beyond_the_years_the_hub_computes_with_are_refused(text: str) -> None:
    for adapter in (INSTANT, LOCAL):
        with pytest.raises(ValidationError, match="between the years 1900 and 8999"):
            adapter.validate_python(text)
    with pytest.raises(ValidationError, match="between the years"):
        LOCAL.validate_python(text[:19])
