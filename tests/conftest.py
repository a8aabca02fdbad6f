"""Test fixtures: real databases (SQLite and PostgreSQL), one migrated database per worker, each test
in a transaction that is rolled back at the end."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from cityhub.access import passwords
from cityhub.app import create_app
from cityhub.audit import hooks as audit_hooks
from cityhub.dispatch import duplicates
from cityhub.kit.db import make_engine
from cityhub.kit.migrate import upgrade
from cityhub.kit.settings import Mode, Settings
from cityhub.kit.timeutil import clock

PG_HOST = os.environ.get("CITYHUB_TEST_PG_HOST", "127.0.0.1")
PG_ADMIN_URL = f"host={PG_HOST} port=5432 user=postgres dbname=postgres"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Production argon2 parameters cost ~50 ms a hash; the tests create many users, so hash cheaply here.
passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _pg_available() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


def require_service(name: str, problem: str | None) -> None:
    """Skip with the reason on a developer's machine; fail under CI, where every service must run."""
    if problem is None:
        return
    message = f"{name} is not reachable: {problem}"
    if IN_CI:
        pytest.fail(message + " (CI=true: services must run; .ci/run starts them)")
    pytest.skip(message)


def begin_for_savepoints(conn: Connection) -> None:
    """pysqlite emits no BEGIN of its own before a SAVEPOINT; without one, a session's savepoint release
    would commit to the file, out of reach of the test's rollback (see docs/decisions/0004)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN")


@contextmanager
def migrated_database(kind: str, directory: Path, prefix: str = "cityhub_test") -> Iterator[Engine]:
    """A new database of ``kind`` (sqlite: a file in ``directory``; postgresql: one created for it and
    dropped afterwards), migrated to the latest schema."""
    if kind == "sqlite":
        eng = make_engine(f"sqlite:///{directory / 'cityhub.db'}")
        try:
            upgrade(eng)
            yield eng
        finally:
            eng.dispose()
        return
    require_service("PostgreSQL", _pg_available())
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    eng = make_engine(f"postgresql+psycopg://postgres@{PG_HOST}:5432/{name}", pool_size=5)
    try:
        upgrade(eng)
        yield eng
    finally:
        eng.dispose()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    audit_hooks.install()
    with migrated_database(request.param, tmp_path_factory.mktemp("db")) as eng:
        yield eng


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    conn = engine.connect()
    outer = conn.begin()
    begin_for_savepoints(conn)
    try:
        yield conn
    finally:
        outer.rollback()
        conn.close()


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[Session]:
    # Application commits become savepoint releases inside the test's outer transaction.
    return sessionmaker(bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint")


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    s = session_factory()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def settings(tmp_path: os.PathLike[str]) -> Settings:
    return Settings(mode=Mode.TEST, secret_key="t" * 40, data_dir=tmp_path)


@pytest.fixture
def client(settings: Settings, session_factory: sessionmaker[Session]) -> Iterator[TestClient]:
    app = create_app(settings, session_factory, run_scheduler=False)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(autouse=True)
def _fresh_process_state() -> Iterator[None]:
    """Each test starts with the real clock and no text corpus cached from another test's data."""
    duplicates.corpus.clear()
    yield
    clock.unfreeze()
