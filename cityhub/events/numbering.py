"""Human-readable event numbers, 20261121-000123: a per-day counter bumped atomically in the database.

On PostgreSQL the counter is bumped in a short transaction of its own. Bumped inside the report's
transaction, the day's counter row stays locked until that transaction commits, so every concurrent
intake in every process waited for the one before it to finish all its work: about 40 reports a second
at most, however many API processes ran. The price is a gap in the day's numbers when a report fails after
it was numbered (as with a database sequence). SQLite has one writer at a time anyway, and the report's
transaction may already hold it: there the counter is bumped inside the report's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from cityhub.kit.timeutil import SHANGHAI
from cityhub.models.event import EventCounter


def _bump(insert: Callable[[type[EventCounter]], Any]) -> Any:
    return (
        insert(EventCounter)
        .values(day=bindparam("day"), value=1)
        .on_conflict_do_update(index_elements=["day"], set_={"value": EventCounter.value + 1})
        .returning(EventCounter.value)
    )


# Built once per dialect: every intake numbers its event.
_BUMP = {"postgresql": _bump(pg_insert), "sqlite": _bump(sqlite_insert)}


def next_number(session: Session, now: datetime) -> str:
    day = now.astimezone(SHANGHAI).date()
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        with bind.engine.connect() as own:
            value = own.execute(_BUMP["postgresql"], {"day": day}).scalar_one()
            own.commit()
    else:
        value = session.execute(_BUMP["sqlite"], {"day": day}).scalar_one()
    return f"{day:%Y%m%d}-{value:06d}"
