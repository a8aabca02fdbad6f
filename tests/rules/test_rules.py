"""Linkage rules: episodes (act once, end, act again), webhooks called after the commit with failures
recorded, actions that cannot be taken recorded instead of crashing, and the rules API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cityhub.kit.timeutil import clock
from cityhub.models.alert import Alert, AlertStatus, RuleFiring
from cityhub.models.event import Event
from cityhub.models.indicator import WarningLevel
from tests.factories import login
from tests.indicators.helpers import GRID_EAST_1, T0, define, publish, running, sensing_city, series

DEPTH = {
    "key": "flood.depth",
    "name": {"zh": "积水深度", "en": "Water depth"},
    "domain": "排水",
    "unit": "cm",
    "formula": {"source": "telemetry", "metric": "water_depth", "aggregate": "last", "window": "10m"},
    "thresholds": {"yellow": 15, "orange": 27, "red": 40},
}


def rule(**overrides: Any) -> dict[str, Any]:
    return {
        "key": "flood.test",
        "name": {"zh": "积水联动", "en": "Flood linkage"},
        "scope": "district",
        "window": "30m",
        "when": {"all": [{"indicator": "flood.depth", "at_least": "orange"}]},
        "alert": {"floor": "orange", "type": "flood.district", "department": "qd-swglj"},
        "event": {
            "title": "{area}积水联动处置",
            "category": "城乡建设/市政设施/道路积水",
            "urgency": "critical",
            "grade": "IV",
            "lead": "qd-swglj",
            "co": ["qd-jjzd"],
        },
        **overrides,
    }


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        _Hook.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def hook_url() -> Iterator[str]:
    """A real HTTP endpoint on the loopback, stopped (and its thread joined) after the test."""
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _depth(grid: int, minutes: int, value: float) -> None:
    """A depth reading at T0 + minutes, the hub's clock following."""
    at = T0 + timedelta(minutes=minutes)
    clock.freeze(at)
    publish(series("D1", "water_depth", at, timedelta(minutes=1), [value], grid))


def test_a_rule_acts_once_per_episode_and_again_after_it_ended(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    city = sensing_city(session)
    grid = city.areas[GRID_EAST_1].id
    define(session, indicators_=[DEPTH], rules_=[rule()])
    with running(session_factory):
        for minute, depth in enumerate([10, 30, 35, 45, 30]):
            _depth(grid, minute, depth)
        alert = session.scalars(select(Alert).where(Alert.type == "flood.district")).one()
        assert alert.level is WarningLevel.RED  # rose with the water, still one alert
        event = session.scalars(select(Event)).one()
        assert (event.grade, event.supervised) == ("IV", False)  # graded as the rule says
        _depth(grid, 6, 5)  # the water is gone: the episode ends and the warning clears
        session.refresh(alert)
        assert alert.status is AlertStatus.CLEARED
        _depth(grid, 20, 33)  # it rains again: a new episode, a new event
    firings = session.scalars(select(RuleFiring).order_by(RuleFiring.id)).all()
    assert len(firings) == 2 and firings[0].ended_at is not None and firings[1].ended_at is None
    assert len(session.scalars(select(Event)).all()) == 2


def test_webhooks_are_called_and_failures_recorded(
    session: Session, session_factory: sessionmaker[Session], hook_url: str
) -> None:
    city = sensing_city(session)
    grid = city.areas[GRID_EAST_1].id
    hooks = [{"url": hook_url, "timeout_s": 2}, {"url": "http://127.0.0.1:9/refused", "timeout_s": 0.5}]
    define(session, indicators_=[DEPTH], rules_=[rule(webhooks=hooks, event=None)])
    with running(session_factory):
        _depth(grid, 0, 30)
    assert _Hook.received and _Hook.received[0]["rule"] == "flood.test"
    assert _Hook.received[0]["scope"] == "370201" and _Hook.received[0]["level"] == "orange"
    session.expire_all()
    firing = session.scalars(select(RuleFiring)).one()
    outcomes = {a["action"] + ":" + str(a.get("ok")) for a in firing.actions}
    assert outcomes == {"alert:True", "webhook:True", "webhook:False"}
    failed = next(a for a in firing.actions if a["action"] == "webhook" and not a["ok"])
    assert "ConnectError" in failed["error"]


def test_an_action_that_cannot_be_taken_is_recorded_not_raised(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    city = sensing_city(session)
    grid = city.areas[GRID_EAST_1].id
    broken = rule()
    broken["event"] = {**broken["event"], "co": ["no-such-department"]}
    define(session, indicators_=[DEPTH], rules_=[broken])
    with running(session_factory):
        _depth(grid, 0, 30)
    firing = session.scalars(select(RuleFiring)).one()
    event_outcome = next(a for a in firing.actions if a["action"] == "event")
    assert event_outcome["ok"] is False and "no-such-department" in event_outcome["error"]
    assert session.scalars(
        select(Alert).where(Alert.type == "flood.district")
    ).one()  # the alert still went out


def test_rules_api(client: TestClient, session: Session) -> None:
    sensing_city(session)
    dispatcher = login(client, "dispatcher")
    created = client.post("/api/v1/rules", json=rule(), headers=dispatcher)
    assert created.status_code == 201, created.text
    assert client.get("/api/v1/rules/flood.test", headers=dispatcher).json()["spec"]["scope"] == "district"
    nothing = rule(alert=None, event=None)
    refused = client.post("/api/v1/rules", json=nothing, headers=dispatcher)
    assert refused.status_code == 422 and "at least one action" in refused.text
    assert client.post("/api/v1/rules", json=rule(), headers=login(client, "steward")).status_code == 403
    assert client.get("/api/v1/rules/flood.test/firings", headers=dispatcher).json() == []
    assert client.delete("/api/v1/rules/flood.test", headers=dispatcher).status_code == 204
    assert client.get("/api/v1/rules/flood.test", headers=dispatcher).json()["enabled"] is False
