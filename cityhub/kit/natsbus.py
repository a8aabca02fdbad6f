"""The bus across processes: each process's ``InProcessBus`` relayed through NATS (decision 0011).

Every process keeps the in-process bus as its local fan-out; modules that imported ``cityhub.kit.bus.bus``
by name keep working. A ``NatsBridge`` attached to it

- relays each local publication to NATS, marked with the process's id (``Cityhub-Origin``), after the
  local subscribers have had it;
- hands the messages of the other processes to the local subscribers (``InProcessBus.deliver``, which
  relays nothing: a message crosses once). NATS does not echo a connection's own messages back
  (``no_echo``), and a message of this process's origin is skipped anyway, so nothing arrives twice.

How a topic crosses is data (``ROUTES``). Most topics are notifications — the dashboard's live stream,
cache invalidations — sent with plain NATS to every process, at most once: a process that is down or
disconnected misses them, and rebuilds its state when it starts (after a reconnect the bridge delivers
``RELOAD_AFTER_GAP`` locally, so caches are rebuilt instead of trusted). ``telemetry.readings`` is durable:
it goes through a JetStream work-queue stream and is taken by the one process that runs the sensing
pipeline, acknowledged once handed to it — a pipeline that starts late or restarts gets what was published
meanwhile. A few topics never leave their process (the scheduler and the pipeline share the worker).

The NATS client is asyncio; the hub's publishers are threads. The bridge runs its own event loop on a
thread, and hands messages to local subscribers on two more (one for durable topics, one for the rest), so
a slow subscriber (the pipeline pushing back) neither stalls the connection nor the other topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from enum import StrEnum
from typing import Any

import nats
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import BadRequestError

from cityhub.kit.bus import InProcessBus

log = logging.getLogger(__name__)


class Route(StrEnum):
    LOCAL = "local"  # stays in the publishing process
    NOTIFY = "notify"  # plain NATS to every other process, at most once
    DURABLE = "durable"  # JetStream to the process that consumes durable topics, at least once


# Every topic not named here is NOTIFY.
ROUTES: dict[str, Route] = {
    # Readings are stored before they are published; the pipeline must not miss them (decision 0011).
    "telemetry.readings": Route.DURABLE,
    # The scheduler's tick for the sensing pipeline: both run in the worker process.
    "sensing.tick": Route.LOCAL,
    # The linkage engine's webhooks, called once by the engine whose rule fired.
    "rules.webhooks": Route.LOCAL,
}

# Cache invalidations delivered locally (payload None: "everything may have changed") after a reconnect,
# since what other processes changed during the gap was not heard.
RELOAD_AFTER_GAP = ("entities.changed", "indicators.changed", "rules.changed")

ORIGIN = "Cityhub-Origin"
CONNECT_ATTEMPTS = 2  # at start: fail within seconds; once connected, reconnect for ever
RECONNECT_WAIT_S = 1.0
PUBLISH_TIMEOUT_S = 5.0
DURABLE_MAX_AGE_S = 7 * 24 * 3600.0  # a pipeline down longer than this misses the oldest readings
DURABLE_MAX_BYTES = 1 << 30
ACK_WAIT_S = 120.0
MAX_ACK_PENDING = 64
FETCH_BATCH = 16
FETCH_WAIT_S = 1.0
NAK_DELAY_S = 1.0
HEADROOM_BYTES = 4096  # headers and protocol within the server's max_payload


class BusUnavailable(RuntimeError):
    """NATS cannot be reached, or has no JetStream, at start (there is no silent fallback)."""


def _token(namespace: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]+", namespace):
        raise ValueError(f"the bus namespace {namespace!r} may hold only letters, digits, - and _")
    return namespace


class NatsBridge:
    """Relays a process's ``InProcessBus`` to NATS and back (see the module docstring).

    ``consume_durable``: this process runs the sensing pipeline and takes the durable topics (exactly one
    process of a hub should). Its own durable publications then stay local: it is their consumer.
    ``namespace`` prefixes every subject, stream and consumer, so hubs (and test runs) can share a server.
    """

    def __init__(
        self,
        url: str,
        local: InProcessBus,
        *,
        namespace: str = "cityhub",
        consume_durable: bool = False,
        name: str = "cityhub",
    ) -> None:
        self.url = url
        self.local = local
        self.namespace = _token(namespace)
        self.consume_durable = consume_durable
        self.name = name
        self.origin = uuid.uuid4().hex
        self.stream_name = f"{self.namespace}_durable"
        self.consumer_name = f"{self.namespace}_pipeline"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._closing = False
        self._detach: Callable[[], None] | None = None
        self._notify_pool = ThreadPoolExecutor(1, thread_name_prefix="cityhub-bus-notify")
        self._durable_pool = ThreadPoolExecutor(1, thread_name_prefix="cityhub-bus-durable")

    def subject(self, topic: str, route: Route) -> str:
        return f"{self.namespace}.{route.value}.{topic}"

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> NatsBridge:
        """Connect (or raise ``BusUnavailable`` within seconds), then relay in both directions."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="cityhub-bus-nats", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            asyncio.run_coroutine_threadsafe(self._open(), loop).result(timeout=60)
        except BaseException as exc:
            self._stop_loop()
            if isinstance(exc, BusUnavailable):
                raise
            raise BusUnavailable(
                f"cannot use the NATS bus at {self.url}: {exc or type(exc).__name__}"
            ) from exc
        self._detach = self.local.attach(self._relay)
        log.info("bus relayed through NATS at %s (namespace %s)", self.url, self.namespace)
        return self

    def stop(self) -> None:
        if self._detach is not None:
            self._detach()
            self._detach = None
        if self._loop is not None and self._loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=15)
        self._stop_loop()
        self._notify_pool.shutdown(wait=True, cancel_futures=True)
        self._durable_pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> NatsBridge:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        if not loop.is_running():  # else a stuck callback keeps it; the daemon thread ends with the process
            loop.close()

    async def _open(self) -> None:
        try:
            nc = await nats.connect(
                self.url,
                name=self.name,
                no_echo=True,
                connect_timeout=2,
                reconnect_time_wait=RECONNECT_WAIT_S,
                max_reconnect_attempts=CONNECT_ATTEMPTS,
                error_cb=self._on_error,
                disconnected_cb=self._on_disconnected,
                reconnected_cb=self._on_reconnected,
            )
        except Exception as exc:
            raise BusUnavailable(
                f"cannot reach NATS at {self.url} ({exc or type(exc).__name__}); start nats-server with "
                "JetStream (-js), or unset CITYHUB_BUS_URL to run the hub as one process"
            ) from exc
        nc.options["max_reconnect_attempts"] = -1  # connected once: from now on, reconnect for ever
        self._nc = nc
        js = nc.jetstream()
        try:
            await js.account_info()
            await self._ensure_stream(js)
        except Exception as exc:
            await nc.close()
            raise BusUnavailable(
                f"NATS at {self.url} has no usable JetStream ({exc or type(exc).__name__}); start "
                "nats-server with -js"
            ) from exc
        self._js = js
        await nc.subscribe(f"{self.namespace}.{Route.NOTIFY.value}.>", cb=self._on_notify)
        await nc.flush()  # subscribed at the server when start() returns
        if self.consume_durable:
            self._consumer = asyncio.get_running_loop().create_task(self._consume(js))

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        config = api.StreamConfig(
            name=self.stream_name,
            subjects=[f"{self.namespace}.{Route.DURABLE.value}.>"],
            retention=api.RetentionPolicy.WORK_QUEUE,  # a message is gone once its consumer acknowledged it
            storage=api.StorageType.FILE,
            discard=api.DiscardPolicy.OLD,
            max_age=DURABLE_MAX_AGE_S,
            max_bytes=DURABLE_MAX_BYTES,
        )
        try:
            await js.add_stream(config)
        except BadRequestError:  # it exists with other limits (an older hub): take ours
            await js.update_stream(config)

    async def _close(self) -> None:
        self._closing = True
        if self._consumer is not None:
            # It ends after the batch in hand: each message acknowledged, or handed back for redelivery.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._consumer, timeout=10)
            self._consumer = None
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.flush(timeout=5)  # what was published goes out before the connection closes
            with contextlib.suppress(Exception):
                await self._nc.close()
            self._nc = None

    async def _on_error(self, exc: Exception) -> None:
        log.warning("NATS bus at %s: %s", self.url, exc or type(exc).__name__)

    async def _on_disconnected(self) -> None:
        if self._closing:
            return
        log.warning(
            "NATS bus disconnected from %s; reconnecting (other processes' notices are missed)", self.url
        )

    async def _on_reconnected(self) -> None:
        log.warning("NATS bus reconnected to %s; caches are rebuilt", self.url)
        loop = asyncio.get_running_loop()
        for topic in RELOAD_AFTER_GAP:
            await loop.run_in_executor(self._notify_pool, self.local.deliver, topic, None)

    # ---------------------------------------------------------------- out: local publications

    def _relay(self, topic: str, payload: Any) -> None:
        """Called in the publisher's thread by ``InProcessBus.publish``, after the local subscribers."""
        route = ROUTES.get(topic, Route.NOTIFY)
        if route is Route.LOCAL or (route is Route.DURABLE and self.consume_durable):
            return
        loop, nc, js = self._loop, self._nc, self._js
        if loop is None or nc is None or js is None:
            return
        subject = self.subject(topic, route)
        for data in self._encode(topic, payload, nc.max_payload - HEADROOM_BYTES):
            headers = {ORIGIN: self.origin}
            if route is Route.NOTIFY:
                future = asyncio.run_coroutine_threadsafe(nc.publish(subject, data, headers=headers), loop)
                future.add_done_callback(functools.partial(self._log_failure, topic=topic))
            else:
                self._publish_durable(loop, js, subject, data, headers, topic)

    def _publish_durable(
        self,
        loop: asyncio.AbstractEventLoop,
        js: JetStreamContext,
        subject: str,
        data: bytes,
        headers: dict[str, str],
        topic: str,
    ) -> None:
        headers["Nats-Msg-Id"] = uuid.uuid4().hex  # JetStream drops a duplicate of a retried publication
        future = asyncio.run_coroutine_threadsafe(
            js.publish(subject, data, timeout=PUBLISH_TIMEOUT_S, headers=headers), loop
        )
        if threading.current_thread() is self._thread:
            future.add_done_callback(functools.partial(self._log_failure, topic=topic))
            return
        # The publisher waits for JetStream's acknowledgement: stored, or the failure is logged here.
        try:
            future.result(timeout=PUBLISH_TIMEOUT_S + 1)
        except (Exception, FutureTimeout) as exc:
            future.cancel()
            log.error(
                "a message on %s was not stored by JetStream (%s); what it reports is in the database, "
                "but its consumer will not hear of it",
                topic,
                exc or type(exc).__name__,
            )

    @staticmethod
    def _log_failure(future: Future[Any], topic: str) -> None:
        if not future.cancelled() and future.exception() is not None:
            log.error("a message on %s did not reach NATS: %s", topic, future.exception())

    @staticmethod
    def _encode(topic: str, payload: Any, limit: int) -> Iterator[bytes]:
        """JSON; a list too large for one NATS message goes as several (its receivers take lists)."""
        try:
            data = orjson.dumps(payload)
        except TypeError as exc:
            log.error("a message on %s cannot cross processes: %s", topic, exc)
            return
        if len(data) <= limit:
            yield data
        elif isinstance(payload, list) and len(payload) > 1:
            half = len(payload) // 2
            yield from NatsBridge._encode(topic, payload[:half], limit)
            yield from NatsBridge._encode(topic, payload[half:], limit)
        else:
            log.error("a message on %s is too large for NATS (%d bytes); not relayed", topic, len(data))

    # ---------------------------------------------------------------- in: other processes' messages

    def _incoming(self, msg: Msg, route: Route) -> tuple[str, Any] | None:
        """(topic, payload) of a message from another process; None for this process's own or a bad one."""
        if msg.headers is not None and msg.headers.get(ORIGIN) == self.origin:
            return None
        topic = msg.subject.removeprefix(f"{self.namespace}.{route.value}.")
        try:
            return topic, orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            log.error("a message on %s is not JSON; dropped", msg.subject)
            return None

    async def _on_notify(self, msg: Msg) -> None:
        incoming = self._incoming(msg, Route.NOTIFY)
        if incoming is not None:
            await asyncio.get_running_loop().run_in_executor(self._notify_pool, self.local.deliver, *incoming)

    async def _consume(self, js: JetStreamContext) -> None:
        subscription = await js.pull_subscribe(
            f"{self.namespace}.{Route.DURABLE.value}.>",
            durable=self.consumer_name,
            stream=self.stream_name,
            config=api.ConsumerConfig(
                ack_policy=api.AckPolicy.EXPLICIT,
                ack_wait=ACK_WAIT_S,
                max_ack_pending=MAX_ACK_PENDING,
                deliver_policy=api.DeliverPolicy.ALL,
            ),
        )
        while not self._closing:
            try:
                messages = await subscription.fetch(FETCH_BATCH, timeout=FETCH_WAIT_S)
            except TimeoutError:
                continue
            except Exception as exc:  # disconnected: the consumer is on the server, fetch again
                log.warning("fetching durable messages failed (%s); retrying", exc or type(exc).__name__)
                await asyncio.sleep(RECONNECT_WAIT_S)
                continue
            for msg in messages:
                await self._take(msg)

    async def _take(self, msg: Msg) -> None:
        incoming = self._incoming(msg, Route.DURABLE)
        if incoming is None:
            await msg.ack()  # this process's own (delivered locally already) or unreadable
            return
        delivery = asyncio.get_running_loop().run_in_executor(
            self._durable_pool, self.local.deliver, *incoming
        )
        while True:
            done, _ = await asyncio.wait({delivery}, timeout=ACK_WAIT_S / 4)
            if done:
                break
            await msg.in_progress()  # a subscriber pushing back: keep the message ours meanwhile
        if delivery.result() > 0:
            await msg.ack()
        else:
            await msg.nak(delay=NAK_DELAY_S)  # nobody listens yet (the pipeline is starting): later
