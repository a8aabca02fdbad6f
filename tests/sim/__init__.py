"""Tests of the demo city. Seeding is the slow part, so each module seeds once per database (a connection
with an outer transaction rolled back at the end) and each test runs in a savepoint inside it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, Integer, text
from sqlalchemy.orm import Session, sessionmaker

from cityhub.kit.db import Base
from cityhub.sim.seed import DemoCity, seed_demo
from tests.conftest import begin_for_savepoints

PASSWORD = "demo-password-42"


def factory_for(connection: Connection) -> sessionmaker[Session]:
    # Application commits become savepoint releases inside the outer transaction.
    return sessionmaker(bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint")


@contextmanager
def seeded_city(engine: Engine) -> Iterator[tuple[Connection, DemoCity]]:
    """A connection holding the seeded demo city (one community and one grid per street, for speed)."""
    connection = engine.connect()
    outer = connection.begin()
    begin_for_savepoints(connection)
    restart_ids(connection)
    try:
        with factory_for(connection)() as session:
            city = seed_demo(session, PASSWORD, communities_per_street=1, grids_per_community=1)
            session.commit()
        yield connection, city
    finally:
        outer.rollback()
        connection.close()


def restart_ids(connection: Connection) -> None:
    """On PostgreSQL, each table's ids continue after its highest committed id, as SQLite's do.

    The stream's choices depend on ids (an event's temperament is its id, scrambled). A rolled-back
    transaction gives SQLite's ids back but not PostgreSQL's sequence values, so without this a seeded
    stream would run differently after whatever tests ran before it in the same database.
    """
    if connection.dialect.name != "postgresql":
        return
    for table in Base.metadata.sorted_tables:
        column = table.c.get("id")
        if column is None or not column.autoincrement or not isinstance(column.type, Integer):
            continue
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
            )
        )


@contextmanager
def rolled_back(connection: Connection) -> Iterator[sessionmaker[Session]]:
    """A session factory whose work is undone when the block ends."""
    savepoint = connection.begin_nested()
    try:
        yield factory_for(connection)
    finally:
        if savepoint.is_active:
            savepoint.rollback()
