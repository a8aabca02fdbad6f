"""The live stream: bus messages relayed to browsers as server-sent events, filtered per principal.

Each connection subscribes to the bus (``events.*``, ``alerts.*``). Publishers call the bus in their own
thread after their transaction commits — in a hub of several processes, what the others publish arrives
from the NATS bridge's delivery thread (``cityhub.kit.natsbus``) — and the subscription hands each message
to the connection's event loop. The connection collects what arrived within a quarter of a second and
asks the database, in one query per kind, which of those events and alerts its principal may read
(``policy.readable_events``, ``policy.readable_alerts``); the rest is dropped.

A stream ends by itself when the access token expires (the browser refreshes its token and reconnects),
within ``SESSION_CHECK_SECONDS`` of a logout, or of its user being disabled or given another role,
department or area, after at most an hour, and when
the server is shutting down (uvicorn waits for open responses before it
stops, and an event stream never ends on its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from cityhub.access import policy, tokens
from cityhub.access.principal import Principal
from cityhub.kit.bus import Bus
from cityhub.models.event import Event

TOPICS = ("events.*", "alerts.*")
BATCH_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0
TICK_SECONDS = 1.0
QUEUE_LIMIT = 1_000
RETRY_MS = 3_000
MAX_STREAM_SECONDS = 3_600.0
# How often a stream asks whether its login session is still open: a logout ends it within this.
SESSION_CHECK_SECONDS = 15.0

_closing = threading.Event()


def close_all() -> None:
    """End every open stream (embedding servers and tests call this before stopping the server)."""
    _closing.set()


def reopen() -> None:
    _closing.clear()


def _server_exiting() -> bool:
    """Whether uvicorn is shutting down: its SIGINT/SIGTERM handler is a bound method of its Server."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        server = getattr(signal.getsignal(signum), "__self__", None)
        if getattr(server, "should_exit", False) is True:
            return True
    return False


@dataclass(frozen=True)
class Message:
    topic: str
    payload: Any


class Subscription:
    """One connection's queue of bus messages, fed from the publishers' threads."""

    def __init__(self, bus: Bus, loop: asyncio.AbstractEventLoop, topics: Sequence[str] = TOPICS) -> None:
        self.queue: asyncio.Queue[Message] = asyncio.Queue(QUEUE_LIMIT)
        self.overflowed = False
        self._loop = loop
        self._unsubscribe = [bus.subscribe(topic, self._on_message) for topic in topics]

    def _on_message(self, topic: str, payload: Any) -> None:
        # A closed loop means the connection is gone; it unsubscribes shortly.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._put, Message(topic, payload))

    def _put(self, message: Message) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            # A browser that cannot keep up is told to reload its view rather than fed a partial picture.
            self.overflowed = True

    async def next_batch(self, wait: float) -> list[Message]:
        """What arrives within ``wait`` seconds, plus whatever follows it within the batch window."""
        try:
            first = await asyncio.wait_for(self.queue.get(), timeout=wait)
        except TimeoutError:
            return []
        batch = [first]
        await asyncio.sleep(BATCH_SECONDS)
        while not self.queue.empty():
            batch.append(self.queue.get_nowait())
        return batch

    def drain(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()
        self.overflowed = False

    def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()


def frame(topic: str, data: Any) -> str:
    """One server-sent event. All go as the default "message" type with the topic inside: a browser's
    EventSource can only listen to event types by exact name, and the topics are open-ended."""
    body = json.dumps({"topic": topic, "data": data}, ensure_ascii=False, separators=(",", ":"))
    return f"data: {body}\n\n"


def _ids(batch: Sequence[Message], prefix: str) -> set[int]:
    return {
        m.payload["id"]
        for m in batch
        if m.topic.startswith(prefix) and isinstance(m.payload, dict) and isinstance(m.payload.get("id"), int)
    }


def _readable_events(session: Session, principal: Principal, ids: set[int]) -> set[int]:
    if not ids:
        return set()
    return set(session.scalars(select(Event.id).where(Event.id.in_(ids), policy.readable_events(principal))))


def _readable_alerts(session: Session, principal: Principal, ids: set[int]) -> set[int] | None:
    """The alerts of ``ids`` this principal may read; None while the hub has no alerts domain."""
    # Looked up, not imported: the dashboard runs with or without the sensing domains.
    readable_alerts = getattr(policy, "readable_alerts", None)
    try:
        alert = importlib.import_module("cityhub.models.alert").Alert
    except (ImportError, AttributeError):
        return None
    if readable_alerts is None:
        return None
    if not ids:
        return set()
    return set(session.scalars(select(alert.id).where(alert.id.in_(ids), readable_alerts(principal))))


def visible(session: Session, principal: Principal, batch: Sequence[Message]) -> list[Message]:
    """The messages of a batch this principal may see: events and alerts it may read. Without an alerts
    domain, alert messages pass as a bare signal (the topic only) to reload the alert list."""
    events = _readable_events(session, principal, _ids(batch, "events."))
    alerts = _readable_alerts(session, principal, _ids(batch, "alerts."))
    out: list[Message] = []
    for m in batch:
        item_id = m.payload.get("id") if isinstance(m.payload, dict) else None
        if m.topic.startswith("events.") and item_id in events:
            out.append(m)
        elif m.topic.startswith("alerts."):
            if alerts is None:
                out.append(Message(m.topic, {}))
            elif item_id in alerts:
                out.append(m)
    return out


async def relay(
    bus: Bus,
    session_factory: sessionmaker[Session],
    principal: Principal,
    expires_at: float | None,
    *,
    now: Callable[[], float] = time.time,
) -> AsyncIterator[str]:
    """The event stream of one connection (see the module docstring)."""
    subscription = Subscription(bus, asyncio.get_running_loop())
    ends = min(expires_at or float("inf"), now() + MAX_STREAM_SECONDS)
    quiet_since = time.monotonic()

    def filtered(batch: list[Message]) -> list[Message]:
        with session_factory() as session:
            return visible(session, principal, batch)

    def still_open() -> bool:
        with session_factory() as session:
            return tokens.still_open(session, principal)

    checked_at = time.monotonic()

    try:
        yield f"retry: {RETRY_MS}\n" + frame("hello", {"user": principal.username, "role": principal.role})
        while now() < ends and not _closing.is_set() and not _server_exiting():
            batch = await subscription.next_batch(TICK_SECONDS)
            if subscription.overflowed:
                subscription.drain()
                yield frame("resync", {"reason": "too many changes at once; reload the view"})
                continue
            messages = await run_in_threadpool(filtered, batch) if batch else []
            for message in messages:
                yield frame(message.topic, message.payload)
            if messages:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
                quiet_since = time.monotonic()
                yield ": keep-alive\n\n"  # a comment line: keeps proxies from closing an idle stream
            if time.monotonic() - checked_at >= SESSION_CHECK_SECONDS:
                checked_at = time.monotonic()
                if not await run_in_threadpool(still_open):
                    yield frame(
                        "bye", {"reason": "logged out, or the account changed or was disabled; reconnect"}
                    )
                    return
        yield frame("bye", {"reason": "token expired or server stopping; reconnect"})
    finally:
        subscription.close()
