"""Human-readable event numbers, 20261121-000123: a per-day counter bumped atomically in the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from cityhub.kit.timeutil import SHANGHAI
from cityhub.models.event import EventCounter


def next_number(session: Session, now: datetime) -> str:
    day = now.astimezone(SHANGHAI).date()
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        insert(EventCounter)
        .values(day=day, value=1)
        .on_conflict_do_update(index_elements=["day"], set_={"value": EventCounter.value + 1})
        .returning(EventCounter.value)
    )
    value = session.execute(stmt).scalar_one()
    return f"{day:%Y%m%d}-{value:06d}"
