"""The sensing pipeline of a running hub: the stream (indicators, device health, anomalies, alerts) with
the linkage engine attached, started and stopped with the application.

It is the lifespan of the indicators router, so ``create_app`` needs nothing more than the router; it runs
in the process that does the background work, not in the API processes of a scale-out hub (decision 0011).
In test mode the pipeline runs inline (in the publisher's thread: deterministic, no threads to outlive the
test); otherwise on its own worker thread behind a bounded queue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from cityhub.indicators.stream import SensingStream
from cityhub.kit.settings import Mode, Settings
from cityhub.rules.engine import LinkageEngine


class Pipeline:
    """The stream and the linkage engine, started and stopped together."""

    def __init__(self, factory: sessionmaker[Session], *, inline: bool, flush_s: float = 5.0) -> None:
        self.stream = SensingStream(factory, inline=inline, flush_s=flush_s)
        self.linkage = LinkageEngine(factory, inline=inline)

    def start(self) -> Pipeline:
        self.stream.start()
        self.linkage.attach(self.stream)
        return self

    def stop(self) -> None:
        self.stream.stop()
        self.linkage.detach()

    def __enter__(self) -> Pipeline:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@asynccontextmanager
async def sensing_lifespan(app: FastAPI) -> AsyncIterator[None]:
    role = getattr(app.state, "role", None)  # an app not built by create_app runs everything
    if role is not None and not role.runs_background:
        app.state.sensing = None
        yield
        return
    settings: Settings = app.state.settings
    factory: sessionmaker[Session] = app.state.session_factory
    inline = settings.mode is Mode.TEST
    # Inline (tests) also stores every value at once, so what a test reads is what was computed.
    pipeline = Pipeline(factory, inline=inline, flush_s=0.0 if inline else 5.0)
    pipeline.start()
    app.state.sensing = pipeline
    try:
        yield
    finally:
        pipeline.stop()
