"""Human-readable event numbers, 20261121-000123: counted per local day (Asia/Shanghai).

SQLite has one writer at a time, and the report's transaction may already hold it: there the day's row in
``event_counters`` is bumped inside the report's transaction.

PostgreSQL numbers from one sequence, ``event_numbers``, and the day's row holds where the day started: the
sequence's value before the day's first number, so a number is ``nextval - start``. Taking a number is one
statement in the report's own transaction and locks nothing. A counter row bumped inside the report's
transaction stayed locked until it committed, so every intake in every process waited for the one before
it to finish all its work (about 40 reports a second at most); bumped in a short transaction of its own, it
cost a second connection and commit per report. The day's row is written once, by whichever intake comes
first, in a short transaction of its own; every number taken after that commit is above the start.

The price: numbers that fail with their report are not handed out again (as with any sequence), and a report
numbered just after midnight for the day before skips the numbers the new day took meanwhile.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import cast

from sqlalchemy import Table, bindparam, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from cityhub.kit.timeutil import SHANGHAI
from cityhub.models.event import EventCounter

# Built once: every intake numbers its event. A statement of the table, not the mapped class, run on the
# session's connection: one of the mapped class went through the ORM's bulk-insert handling.
_COUNTERS = cast(Table, EventCounter.__table__)
_SQLITE_BUMP = (
    sqlite_insert(_COUNTERS)
    .values(day=bindparam("day"), value=1)
    .on_conflict_do_update(index_elements=["day"], set_={"value": _COUNTERS.c.value + 1})
    .returning(_COUNTERS.c.value)
)
SEQUENCE = "event_numbers"  # migration 0010
# No row yet for the day: no row comes back and nextval is not called.
_PG_NEXT = text(f"SELECT nextval('{SEQUENCE}') - value FROM event_counters WHERE day = :day")
# The day starts after the last value handed out (or before the first, on a sequence never used).
_PG_START_DAY = text(
    "INSERT INTO event_counters (day, value) "
    f"SELECT :day, CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM {SEQUENCE} "
    "ON CONFLICT (day) DO NOTHING"
)


def next_number(session: Session, now: datetime) -> str:
    day = now.astimezone(SHANGHAI).date()
    if session.get_bind().dialect.name == "postgresql":
        value = _postgresql_number(session, day)
    else:
        value = session.connection().execute(_SQLITE_BUMP, {"day": day}).scalar_one()
    return f"{day:%Y%m%d}-{value:06d}"


def _postgresql_number(session: Session, day: date) -> int:
    value = session.connection().execute(_PG_NEXT, {"day": day}).scalar()
    if value is None:  # the day's first report, in this database
        with session.get_bind().engine.connect() as own:
            own.execute(_PG_START_DAY, {"day": day})
            own.commit()
        value = session.connection().execute(_PG_NEXT, {"day": day}).scalar_one()
    return int(value)
