"""MQTT ingest: a subscription on a topic pattern through a real broker (Mosquitto locally).

Flow control is the broker's: the client connects with MQTT 5 *Receive Maximum* = ``inflight``, so the
broker never has more than that many unacknowledged QoS 1 messages out to us, and we acknowledge a message
(manual ack) only after the transaction holding its readings — or its dead letter — has committed. A crash
before the commit means the broker delivers the message again; memory is bounded by ``inflight``.
A payload is one reading or an array of readings; anything else is dead-lettered with the reason.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.orm import Session, sessionmaker

from cityhub.kit.db import unit_of_work
from cityhub.kit.settings import Settings
from cityhub.kit.timeutil import clock
from cityhub.telemetry import ingest

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 3600  # the broker keeps our subscription and queued messages across a restart
BATCH_MAX = 2_000
BATCH_WAIT_S = 0.05
RETRY_S = 1.0
SPLIT_AFTER = 3  # failed attempts before the batch is stored message by message


@dataclass(frozen=True)
class Message:
    mid: int
    qos: int
    topic: str
    payload: bytes


def broker_address(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    if parsed.scheme not in ("mqtt", "tcp") or not parsed.hostname:
        raise ValueError(f"CITYHUB_MQTT_URL must look like mqtt://127.0.0.1:1883, got {url!r}")
    return parsed.hostname, parsed.port or 1883


class MqttIngest:
    """Subscribes, batches messages, ingests each batch in one transaction, then acknowledges it."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        url: str,
        topic: str,
        client_id: str,
        inflight: int,
        limits: ingest.Limits,
        on_session: Callable[[Session], None] | None = None,
    ) -> None:
        self._factory = session_factory
        self._host, self._port = broker_address(url)
        self.topic = topic
        self._inflight = max(1, inflight)
        self._limits = limits
        self._on_session = on_session
        self._queue: queue.Queue[Message] = queue.Queue()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._subscribed = threading.Event()
        self._done = threading.Condition()
        self.processed = 0  # messages committed and acknowledged
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe

    @classmethod
    def from_settings(cls, session_factory: sessionmaker[Session], settings: Settings) -> MqttIngest:
        assert settings.mqtt_url is not None
        return cls(
            session_factory,
            url=settings.mqtt_url,
            topic=settings.mqtt_topic,
            client_id=settings.mqtt_client_id,
            inflight=settings.mqtt_inflight,
            limits=ingest.Limits.of(settings),
        )

    # ---------------------------------------------------------------- lifecycle

    def start(self, wait_s: float = 10.0) -> None:
        """Connect and subscribe (waiting up to ``wait_s`` for the broker's SUBACK), then start the worker."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.ReceiveMaximum = min(self._inflight, 65_535)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        self._client.connect(self._host, self._port, keepalive=30, clean_start=False, properties=props)
        self._client.loop_start()
        self._worker = threading.Thread(target=self._run, name="cityhub-mqtt-ingest", daemon=True)
        self._worker.start()
        if not self._subscribed.wait(wait_s):
            log.warning("MQTT: no subscription to %s after %.0f s; still trying", self.topic, wait_s)

    def stop(self) -> None:
        """Finish the batch in hand, disconnect, join the threads. Unacknowledged messages stay queued."""
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout=30)
            self._worker = None
        self._client.disconnect()
        self._client.loop_stop()

    def wait_processed(self, count: int, timeout_s: float) -> bool:
        """Block until at least ``count`` messages are committed and acknowledged (tests, benchmarks)."""
        deadline = time.monotonic() + timeout_s
        with self._done:
            while self.processed < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._done.wait(left)
        return True

    # ---------------------------------------------------------------- callbacks (network thread)

    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        if reason.is_failure:
            log.error("MQTT: broker refused the connection: %s", reason)
            return
        client.subscribe(self.topic, qos=1)

    def _on_subscribe(self, _c: paho.Client, _u: Any, _mid: int, reasons: list[ReasonCode], _p: Any) -> None:
        if all(not r.is_failure for r in reasons):
            self._subscribed.set()
        else:
            log.error("MQTT: subscription to %s refused: %s", self.topic, reasons)

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        # Never blocks: the broker sends at most Receive Maximum unacknowledged messages.
        self._queue.put(Message(msg.mid, msg.qos, msg.topic, bytes(msg.payload)))

    # ---------------------------------------------------------------- worker

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._take()
            if not batch:
                continue
            if not self._store_until_done(batch):
                return
            for message in batch:
                if message.qos > 0:
                    self._client.ack(message.mid, message.qos)
            with self._done:
                self.processed += len(batch)
                self._done.notify_all()

    def _store_until_done(self, batch: list[Message]) -> bool:
        """Store the batch; on repeated failure one message at a time, so one poison message is dead-lettered
        alone. While the database is away, keep everything unacknowledged and retry. False when stopped."""
        attempts = 0
        while not self._stop.is_set():
            try:
                if attempts < SPLIT_AFTER or len(batch) == 1:
                    self._store(batch)
                else:
                    for message in batch:
                        self._store_or_dead_letter(message)
                return True
            except Exception:
                attempts += 1
                log.exception("MQTT: storing %d messages failed; retrying in %.0f s", len(batch), RETRY_S)
                self._stop.wait(RETRY_S)
        return False

    def _store_or_dead_letter(self, message: Message) -> None:
        try:
            self._store([message])
        except Exception as exc:
            # A database that is away fails here too (and the whole batch is retried); anything else is the
            # message's fault and ends in the dead-letter store with the error.
            with unit_of_work(self._factory) as session:
                rejection = ingest.Rejection(
                    0, ingest.Reason.MALFORMED, f"could not be processed: {exc!r}", message.payload
                )
                ingest.dead_letter(
                    session, [rejection], channel=ingest.Channel.MQTT, source=message.topic, now=clock.now()
                )

    def _take(self) -> list[Message]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + BATCH_WAIT_S
        while len(batch) < min(BATCH_MAX, self._inflight):
            left = deadline - time.monotonic()
            try:
                batch.append(self._queue.get(timeout=max(left, 0)) if left > 0 else self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _store(self, batch: list[Message]) -> None:
        by_topic: dict[str, list[Any]] = {}
        for message in batch:
            by_topic.setdefault(message.topic, []).extend(_readings(message.payload))
        with unit_of_work(self._factory) as session:
            if self._on_session is not None:
                self._on_session(session)
            for topic, items in by_topic.items():
                ingest.ingest(
                    session,
                    items,
                    channel=ingest.Channel.MQTT,
                    source=topic,
                    now=clock.now(),
                    limits=self._limits,
                )


def _readings(payload: bytes) -> list[Any]:
    """A message holds one reading or an array; anything else is one malformed item."""
    doc = ingest.parse_line(payload)
    if isinstance(doc, list):
        return doc
    return [doc]
