"""Tests of the demo city. Seeding is the slow part, so each module seeds once per database (a connection
with an outer transaction rolled back at the end) and each test runs in a savepoint inside it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

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
    try:
        with factory_for(connection)() as session:
            city = seed_demo(session, PASSWORD, communities_per_street=1, grids_per_community=1)
            session.commit()
        yield connection, city
    finally:
        outer.rollback()
        connection.close()


@contextmanager
def rolled_back(connection: Connection) -> Iterator[sessionmaker[Session]]:
    """A session factory whose work is undone when the block ends."""
    savepoint = connection.begin_nested()
    try:
        yield factory_for(connection)
    finally:
        if savepoint.is_active:
            savepoint.rollback()
