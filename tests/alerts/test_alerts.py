"""Alerts from device health (silent, frozen, jump), their lifecycle through the API, and who sees them."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.kit.bus import bus
from cityhub.models.alert import Alert, AlertSource, AlertStatus
from cityhub.models.indicator import WarningLevel
from cityhub.models.org import Role
from cityhub.rules.runtime import Pipeline
from tests.factories import add_user, login
from tests.indicators.helpers import GRID_EAST_1, GRID_WEST_1, T0, define, publish, sensing_city, series

PRESSURE_WATCH = {
    "metric": "pressure",
    "name": {"zh": "管网压力计", "en": "Pipe pressure"},
    "health": {"silent_after": "15m", "frozen_after": "30m", "jump": 0.2, "level": "yellow"},
    "alert": {"department": "qd-nyjt", "notify": ["district"]},
}
LEVEL = {
    "key": "water.level",
    "name": {"zh": "水位", "en": "Water level"},
    "domain": "水务",
    "unit": "m",
    "formula": {"source": "telemetry", "metric": "water_level", "aggregate": "last", "window": "10m"},
    "thresholds": {"yellow": 3.0, "red": 4.0},
    "alert": {"at": "yellow", "department": "qd-swglj"},
}


def _pipeline(client: TestClient) -> Pipeline:
    pipeline: Pipeline = client.app.state.sensing  # type: ignore[attr-defined]
    return pipeline


def _reload() -> None:
    bus.publish("indicators.changed", {})  # what a committed definition change announces


def test_device_health_silent_frozen_and_jump(client: TestClient, session: Session) -> None:
    city = sensing_city(session)
    define(session, watches=[PRESSURE_WATCH])
    _reload()
    grid = city.areas[GRID_EAST_1].id
    stream = _pipeline(client).stream
    publish(series("P1", "pressure", T0, timedelta(minutes=1), [0.30, 0.31, 0.30], grid))
    publish(series("P2", "pressure", T0, timedelta(minutes=10), [0.30, 0.30, 0.30, 0.30], grid))
    publish(series("P3", "pressure", T0, timedelta(minutes=1), [0.30, 0.75], grid))
    stream.tick(T0 + timedelta(minutes=40))
    found = {(a.device, a.type) for a in session.scalars(select(Alert))}
    assert ("P2", "device.frozen.pressure") in found  # the same value for 30 minutes
    assert ("P3", "device.jump.pressure") in found  # 0.30 → 0.75 in a minute
    assert ("P1", "device.silent") in found and ("P3", "device.silent") in found  # nothing for 15+ minutes
    assert all(a.source_kind is AlertSource.DEVICE for a in session.scalars(select(Alert)))
    # P1 reports again: its silence clears by itself.
    publish(series("P1", "pressure", T0 + timedelta(minutes=41), timedelta(minutes=1), [0.30], grid))
    session.expire_all()
    silent = session.scalars(select(Alert).where(Alert.device == "P1")).one()
    assert silent.status is AlertStatus.CLEARED


def test_alert_lifecycle_through_the_api(client: TestClient, session: Session) -> None:
    city = sensing_city(session)
    define(session, indicators_=[LEVEL])
    _reload()
    publish(series("L1", "water_level", T0, timedelta(minutes=1), [3.2], city.areas[GRID_EAST_1].id))
    publish(series("L2", "water_level", T0, timedelta(minutes=1), [4.5], city.areas[GRID_WEST_1].id))
    add_user(session, city, "water_handler", Role.HANDLER, dept="qd-swglj")
    session.flush()
    dispatcher = login(client, "dispatcher")
    page = client.get("/api/v1/alerts", headers=dispatcher).json()
    assert page["total"] == 2
    assert page["items"][0]["level_label"] in ("一级 红", "三级 黄")
    reds = client.get("/api/v1/alerts", params={"min_level": "red"}, headers=dispatcher).json()
    assert [a["device"] for a in reds["items"]] == ["L2"]
    east = client.get("/api/v1/alerts", headers=login(client, "east_dispatcher")).json()
    assert [a["device"] for a in east["items"]] == ["L1"]  # a district sees its own district
    assert client.get("/api/v1/alerts", headers=login(client, "water_handler")).json()["total"] == 2
    assert client.get("/api/v1/alerts", headers=login(client, "roads_handler")).json()["total"] == 0
    assert client.get("/api/v1/alerts", headers=login(client, "citizen")).status_code == 403

    alert_id = next(a["id"] for a in page["items"] if a["device"] == "L1")
    ack = client.post(
        f"/api/v1/alerts/{alert_id}/acknowledge", json={"note": "已派人查看"}, headers=dispatcher
    )
    assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"
    again = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=dispatcher)
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
    # Worse than when it was acknowledged: active again, at the new level.
    publish(
        series(
            "L1",
            "water_level",
            T0 + timedelta(minutes=1),
            timedelta(minutes=1),
            [4.4],
            city.areas[GRID_EAST_1].id,
        )
    )
    detail = client.get(f"/api/v1/alerts/{alert_id}", headers=dispatcher).json()
    assert (detail["status"], detail["level"]) == ("active", "red")
    assert [step["action"] for step in detail["timeline"]] == ["raise", "acknowledge", "raise_level"]
    cleared = client.post(f"/api/v1/alerts/{alert_id}/clear", json={"note": "误报"}, headers=dispatcher)
    assert cleared.json()["status"] == "cleared" and cleared.json()["clear_reason"] == "误报"
    assert client.get("/api/v1/alerts/999999", headers=dispatcher).status_code == 404
    # A new trigger after the clearance is a new alert.
    publish(
        series(
            "L1",
            "water_level",
            T0 + timedelta(minutes=2),
            timedelta(minutes=1),
            [4.6],
            city.areas[GRID_EAST_1].id,
        )
    )
    session.expire_all()
    assert len(session.scalars(select(Alert).where(Alert.device == "L1")).all()) == 2
    assert (
        session.scalars(
            select(Alert.level).where(Alert.status == AlertStatus.ACTIVE, Alert.device == "L1")
        ).one()
        is WarningLevel.RED
    )
