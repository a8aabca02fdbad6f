"""Event numbers: per day and increasing; on PostgreSQL concurrent intakes do not queue on the counter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from cityhub.events.numbering import next_number

# 23:30 UTC is the next morning in Asia/Shanghai: the number carries the local day.
LATE_EVENING_UTC = datetime(2031, 3, 4, 23, 30, tzinfo=UTC)


def test_numbers_count_up_within_the_local_day(session: Session) -> None:
    first = next_number(session, LATE_EVENING_UTC)
    second = next_number(session, LATE_EVENING_UTC)
    assert first.startswith("20310305-") and second.startswith("20310305-")
    assert int(second.split("-")[1]) == int(first.split("-")[1]) + 1


def test_a_new_local_day_starts_again_at_one(session: Session) -> None:
    assert next_number(session, datetime(2031, 3, 6, 1, 0, tzinfo=UTC)) == "20310306-000001"


def test_an_open_intake_does_not_hold_up_the_next_on_postgresql(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: the counter is bumped inside the report's transaction")
    day = datetime(2031, 4, 1, 2, 0, tzinfo=UTC)
    with Session(engine) as first, Session(engine) as second:
        numbered = next_number(first, day)  # the first report's transaction stays open
        second.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting on the day's row fails instead
        after = next_number(second, day)
        assert int(after.split("-")[1]) == int(numbered.split("-")[1]) + 1
        first.rollback()
        second.rollback()
