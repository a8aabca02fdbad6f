"""Human-readable event numbers, 20261121-000123: a per-day counter bumped atomically in the database."""

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
    dialect = session.get_bind().dialect.name
    value = session.execute(_BUMP[dialect], {"day": day}).scalar_one()
    return f"{day:%Y%m%d}-{value:06d}"
