"""The hub's message bus interface and its in-process implementation.

Domains publish facts ("readings stored", "alert raised", "event changed") and others subscribe, so no
domain calls into another's internals. ``bus`` (an ``InProcessBus``) is every process's local fan-out; when
the hub runs as several processes, ``cityhub.kit.natsbus.NatsBridge`` relays its publications to NATS and
delivers the other processes' messages to its subscribers (decision 0011), so code that imported ``bus``
keeps working unchanged.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger(__name__)

Handler = Callable[[str, Any], None]
Relay = Callable[[str, Any], None]


class Bus(Protocol):
    def publish(self, topic: str, payload: Any) -> None: ...

    def subscribe(self, topic: str, handler: Handler) -> Callable[[], None]: ...


class InProcessBus:
    """Synchronous fan-out in the publisher's thread; a failing subscriber is logged, not propagated.

    ``topic`` matching is exact, or a prefix when the subscription ends with ``.*`` (``events.*``).
    A relay (at most one: the NATS bridge) also gets every publication, after the local subscribers;
    ``deliver`` is the way in for messages that come from elsewhere and must not be relayed again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._relay: Relay | None = None

    def publish(self, topic: str, payload: Any) -> None:
        self.deliver(topic, payload)
        relay = self._relay
        if relay is not None:
            try:
                relay(topic, payload)
            except Exception:
                log.exception("relaying %s to the other processes failed", topic)

    def deliver(self, topic: str, payload: Any) -> int:
        """Hand a message to this process's subscribers only; returns how many there were."""
        with self._lock:
            handlers = [h for pattern, hs in self._handlers.items() if _matches(pattern, topic) for h in hs]
        for handler in handlers:
            try:
                handler(topic, payload)
            except Exception:
                log.exception("subscriber of %s failed", topic)
        return len(handlers)

    def attach(self, relay: Relay) -> Callable[[], None]:
        """Send every publication to ``relay`` too, until the returned function is called."""
        with self._lock:
            if self._relay is not None:
                raise RuntimeError("this bus already has a relay")
            self._relay = relay

        def detach() -> None:
            with self._lock:
                if self._relay is relay:
                    self._relay = None

        return detach

    def subscribe(self, topic: str, handler: Handler) -> Callable[[], None]:
        with self._lock:
            self._handlers[topic].append(handler)

        def unsubscribe() -> None:
            with self._lock:
                if handler in self._handlers.get(topic, []):
                    self._handlers[topic].remove(handler)

        return unsubscribe


def _matches(pattern: str, topic: str) -> bool:
    if pattern.endswith(".*"):
        return topic.startswith(pattern[:-1])
    return pattern == topic


bus = InProcessBus()


_OUTBOX = "cityhub.outbox"


def publish_after_commit(session: Session, topic: str, payload: Any) -> None:
    """Publish once the session's transaction commits (subscribers never see what was rolled back).

    ``payload`` may be a function, called then: for what the transaction's flushes assign (a new row's id).
    """
    session.info.setdefault(_OUTBOX, []).append((topic, payload))


# On every session, once (not two listeners added to each session that publishes).
@event.listens_for(Session, "after_commit")
def _publish_outbox(session: Session) -> None:
    for topic, payload in session.info.pop(_OUTBOX, ()):
        bus.publish(topic, payload() if callable(payload) else payload)


@event.listens_for(Session, "after_soft_rollback")
def _drop_outbox(session: Session, _previous: SessionTransaction) -> None:
    session.info.pop(_OUTBOX, None)
