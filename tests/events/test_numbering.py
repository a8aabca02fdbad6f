"""Event numbers: per day and increasing; on PostgreSQL concurrent intakes do not queue on the counter, and
migration 0010 carries each day's count over to the sequence and back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime

import psycopg
import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from cityhub.events.numbering import next_number
from cityhub.kit.db import make_engine
from cityhub.kit.migrate import alembic_config, upgrade
from tests.conftest import PG_ADMIN_URL, PG_HOST

# 23:30 UTC is the next morning in Asia/Shanghai: the number carries the local day.
LATE_EVENING_UTC = datetime(2031, 3, 4, 23, 30, tzinfo=UTC)


def test_numbers_count_up_within_the_local_day(session: Session) -> None:
    first = next_number(session, LATE_EVENING_UTC)
    second = next_number(session, LATE_EVENING_UTC)
    assert first.startswith("20310305-") and second.startswith("20310305-")
    assert int(second.split("-")[1]) == int(first.split("-")[1]) + 1


def test_a_new_local_day_starts_again_at_one(session: Session) -> None:
    assert next_number(session, datetime(2031, 3, 6, 1, 0, tzinfo=UTC)) == "20310306-000001"


# SQLite has one writer at a time: there the counter is bumped inside the report's transaction.
@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_an_open_intake_does_not_hold_up_the_next_on_postgresql(engine: Engine) -> None:
    day = datetime(2031, 4, 1, 2, 0, tzinfo=UTC)
    with Session(engine) as first, Session(engine) as second:
        numbered = next_number(first, day)  # the first report's transaction stays open
        second.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting on the day's row fails instead
        after = next_number(second, day)
        assert int(after.split("-")[1]) == int(numbered.split("-")[1]) + 1
        first.rollback()
        second.rollback()


def test_a_number_whose_report_rolls_back(engine: Engine) -> None:
    """PostgreSQL commits the day's start on its own and does not hand a number out twice (a gap, as with
    any sequence); SQLite counts inside the report's transaction, so the number comes again."""
    day = datetime(2031, 4, 2, 2, 0, tzinfo=UTC)
    with Session(engine) as first:
        numbered = int(next_number(first, day).split("-")[1])
        first.rollback()
    with Session(engine) as second:
        after = int(next_number(second, day).split("-")[1])
        second.rollback()
    assert numbered >= 1
    assert after > numbered if engine.dialect.name == "postgresql" else after == numbered


@pytest.fixture
def scratch_postgresql(engine: Engine) -> Iterator[Engine]:
    """An empty PostgreSQL database of its own, for walking migrations up and down (beside the suite's)."""
    name = f"cityhub_test_numbers_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    scratch = make_engine(f"postgresql+psycopg://postgres@{PG_HOST}:5432/{name}", pool_size=2)
    try:
        yield scratch
    finally:
        scratch.dispose()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _migrate(engine: Engine, revision: str, *, down: bool = False) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)  # 0010 changes nothing on SQLite
def test_the_migration_carries_a_day_s_count_over_to_the_sequence_and_back(
    scratch_postgresql: Engine,
) -> None:
    db = scratch_postgresql
    morning = datetime(2031, 5, 6, 1, 0, tzinfo=UTC)  # 2031-05-06 in Shanghai
    _migrate(db, "0009_event_squares")
    with db.begin() as connection:  # the day so far under the counter: 41 reports
        connection.execute(
            text("INSERT INTO event_counters (day, value) VALUES (:day, 41)"), {"day": date(2031, 5, 6)}
        )
    upgrade(db)
    with Session(db) as session:
        assert [next_number(session, morning) for _ in range(2)] == ["20310506-000042", "20310506-000043"]
        session.commit()
    _migrate(db, "0010_event_number_sequence@-1", down=True)
    with db.connect() as connection:  # the day's last number again, at least every number handed out
        count = connection.execute(text("SELECT value FROM event_counters WHERE day = '2031-05-06'")).scalar()
        assert count is not None and count >= 43
    upgrade(db)
    with Session(db) as session:
        later = [int(next_number(session, morning).split("-")[1]) for _ in range(2)]
        assert later[0] > 43 and later[1] == later[0] + 1
