"""The hub served for real (uvicorn on a free loopback port, in a thread of the test process) over a
database file, for the live stream and the browser tests; also used by ``bench/bench_dashboard.py``."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cityhub.app import create_app
from cityhub.audit import hooks as audit_hooks
from cityhub.kit.db import make_engine, make_session_factory
from cityhub.kit.migrate import upgrade
from cityhub.kit.settings import Mode, Settings
from cityhub.web import stream


@dataclass
class Hub:
    url: str
    engine: Engine
    factory: sessionmaker[Session]
    settings: Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def database(data_dir: Path) -> tuple[Engine, sessionmaker[Session]]:
    """A migrated SQLite database file in ``data_dir``."""
    engine = make_engine(f"sqlite:///{data_dir / 'cityhub.db'}")
    upgrade(engine)
    audit_hooks.install()
    return engine, make_session_factory(engine)


@contextmanager
def serve(
    data_dir: Path, engine: Engine, factory: sessionmaker[Session], mode: Mode = Mode.DEMO
) -> Iterator[Hub]:
    """Serve the hub (API, stream and dashboard; no scheduler) until the block ends."""
    settings = Settings(mode=mode, secret_key="w" * 40, data_dir=data_dir)
    app = create_app(settings, factory, run_scheduler=False)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="cityhub-test-server", daemon=True)
    stream.reopen()
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield Hub(f"http://127.0.0.1:{port}", engine, factory, settings)
    finally:
        stream.close_all()  # open event streams would hold uvicorn's shutdown
        server.should_exit = True
        thread.join(timeout=15)
