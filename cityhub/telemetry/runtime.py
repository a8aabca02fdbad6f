"""Telemetry's part of a running hub: the MQTT subscription (when ``CITYHUB_MQTT_URL`` is set) as the lifespan
of the telemetry router, and the rollup/retention job for the scheduler."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from cityhub.kit.settings import Settings
from cityhub.kit.timeutil import clock
from cityhub.telemetry import rollup

log = logging.getLogger(__name__)


@asynccontextmanager
async def telemetry_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    subscriber = None
    if settings.mqtt_url:
        from cityhub.telemetry.mqtt import MqttIngest

        factory: sessionmaker[Session] = app.state.session_factory
        subscriber = MqttIngest.from_settings(factory, settings)
        try:
            subscriber.start()
            log.info("MQTT ingest subscribed to %s at %s", settings.mqtt_topic, settings.mqtt_url)
        except OSError as exc:
            # The hub still serves HTTP ingest; the operator sees why MQTT is off.
            log.error("MQTT ingest is off: cannot reach %s (%s)", settings.mqtt_url, exc)
            subscriber = None
    app.state.mqtt_ingest = subscriber
    try:
        yield
    finally:
        if subscriber is not None:
            subscriber.stop()


def maintenance_job(settings: Settings) -> tuple[str, float, Callable[[Session], object]]:
    """(name, interval, run) of the rollup + retention job."""

    def run(session: Session) -> object:
        return rollup.maintain(session, settings, clock.now())

    return "telemetry-rollup", settings.telemetry_rollup_interval_s, run
