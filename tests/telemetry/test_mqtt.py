"""MQTT ingest through the real broker (Mosquitto on 127.0.0.1:1883): readings stored and acknowledged after
the commit; malformed messages dead-lettered; the subscriber never dies of a bad message."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from datetime import timedelta

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cityhub.models.telemetry import DeadLetter, Reading
from cityhub.telemetry import ingest
from cityhub.telemetry.mqtt import MqttIngest
from tests.conftest import require_service
from tests.entities.helpers import add_device
from tests.factories import build_city
from tests.telemetry.helpers import ago, reading

BROKER = ("127.0.0.1", 1883)


def _broker_problem() -> str | None:
    try:
        with socket.create_connection(BROKER, timeout=2):
            return None
    except OSError as exc:
        return str(exc)


def _publish(topic: str, payloads: list[bytes]) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}")
    client.connect(*BROKER)
    client.loop_start()
    try:
        for payload in payloads:
            client.publish(topic, payload, qos=1).wait_for_publish(timeout=5)
    finally:
        client.disconnect()
        client.loop_stop()


def test_readings_and_malformed_messages_over_mqtt(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    require_service("Mosquitto", _broker_problem())
    build_city(session)
    level = add_device(session, "water_level").code
    session.commit()  # visible to the subscriber's own sessions (a savepoint of the test's transaction)
    prefix = f"cityhub-test/{uuid.uuid4().hex[:10]}"
    subscriber = MqttIngest(
        session_factory,
        url="mqtt://127.0.0.1:1883",
        topic=f"{prefix}/#",
        client_id=f"cityhub-test-{uuid.uuid4().hex[:8]}",
        inflight=4,
        limits=ingest.Limits(max_future=timedelta(minutes=5), max_age=timedelta(days=30)),
    )
    threads_before = threading.active_count()
    subscriber.start()
    try:
        many = [reading(level, "water_level", 1.0 + i / 10, ago(seconds=60 - i)) for i in range(10)]
        _publish(
            f"{prefix}/gw1",
            [
                json.dumps(many[:5]).encode(),  # an array
                *(json.dumps(r).encode() for r in many[5:]),  # single readings
                b"\xff\xfe not json",
                b"42",
                json.dumps(reading(level, "water_level", 9999.0, ago(seconds=1))).encode(),  # impossible
            ],
        )
        assert subscriber.wait_processed(9, timeout_s=20), f"processed {subscriber.processed}"
    finally:
        subscriber.stop()
    assert threading.active_count() <= threads_before
    values = session.scalars(select(Reading.value).order_by(Reading.ts)).all()
    assert values == [1.0 + i / 10 for i in range(10)]
    letters = session.scalars(select(DeadLetter).order_by(DeadLetter.id)).all()
    assert [(d.channel, d.reason, d.source) for d in letters] == [
        ("mqtt", "malformed", f"{prefix}/gw1"),
        ("mqtt", "malformed", f"{prefix}/gw1"),
        ("mqtt", "impossible_value", f"{prefix}/gw1"),
    ]
    assert "not json" in letters[0].raw
