from __future__ import annotations

from typing import Any

from cityhub.kit.bus import InProcessBus


def test_publish_reaches_exact_and_prefix_subscribers_until_unsubscribed() -> None:
    bus = InProcessBus()
    seen: list[tuple[str, Any]] = []
    stop = bus.subscribe("events.*", lambda t, p: seen.append((t, p)))
    bus.subscribe("events.created", lambda t, p: seen.append(("exact", p)))
    bus.publish("events.created", 1)
    bus.publish("alerts.raised", 2)
    stop()
    bus.publish("events.changed", 3)
    assert seen == [("events.created", 1), ("exact", 1)]


def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    bus = InProcessBus()
    seen: list[int] = []

    def boom(_topic: str, _payload: Any) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe("x", boom)
    bus.subscribe("x", lambda _t, p: seen.append(p))
    bus.publish("x", 7)
    assert seen == [7]


def test_events_are_published_only_after_commit(session_factory: Any) -> None:
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from cityhub.kit.bus import bus, publish_after_commit

    seen: list[Any] = []
    stop = bus.subscribe("t.*", lambda _t, p: seen.append(p))
    try:
        s: Session = session_factory()
        publish_after_commit(s, "t.one", 1)
        assert seen == []
        s.commit()
        assert seen == [1]
        s.execute(text("SELECT 1"))
        publish_after_commit(s, "t.two", 2)
        s.rollback()
        s.commit()
        assert seen == [1]
        s.close()
    finally:
        stop()
