"""The engine over the bus: values per entity and per area, levels with hysteresis, history, alerts with
the readings that caused them, events per 10 000 residents, and the city summary through the API."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cityhub.kit.timeutil import clock
from cityhub.models.alert import Alert, AlertSource, AlertStatus
from cityhub.models.area import Area
from cityhub.models.indicator import Indicator, IndicatorState, IndicatorValue, WarningLevel
from tests.factories import login
from tests.indicators.helpers import (
    GRID_EAST_1,
    GRID_EAST_2,
    GRID_WEST_1,
    T0,
    define,
    publish,
    running,
    sensing_city,
    series,
)

NOISE = {
    "key": "env.noise",
    "name": {"zh": "区域环境噪声", "en": "Ambient noise"},
    "domain": "环境",
    "unit": "dB(A)",
    "formula": {"source": "telemetry", "metric": "noise", "aggregate": "mean", "window": "10m"},
    "thresholds": {"blue": 60, "yellow": 65, "orange": 70, "red": 80, "hysteresis": 2},
    "alert": {"at": "yellow", "department": "qd-cgj", "title": "{area} 噪声 {value} dB(A)"},
    "history_every": "5m",
}
NOISE_BY_DISTRICT = {
    **NOISE,
    "key": "env.noise_district",
    "name": {"zh": "区噪声最大值", "en": "Noise, district maximum"},
    "formula": {**NOISE["formula"], "aggregate": "last", "per": "district", "rollup": "max"},
    "alert": None,
}


def _state(session: Session, key: str, subject: str) -> IndicatorState:
    session.expire_all()
    state = session.scalar(
        select(IndicatorState)
        .join(Indicator, Indicator.id == IndicatorState.indicator_id)
        .where(Indicator.key == key, IndicatorState.subject == subject)
    )
    assert state is not None, f"no state of {key} for {subject}"
    return state


def test_levels_and_alert_follow_the_readings(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    city = sensing_city(session)
    define(session, indicators_=[NOISE])
    grid = city.areas[GRID_EAST_1].id
    clock.freeze(T0)
    with running(session_factory):
        publish(series("NS1", "noise", T0, timedelta(minutes=1), [55, 58, 66, 67, 68], grid))
        state = _state(session, "env.noise", "NS1")
        assert state.level is WarningLevel.BLUE and abs((state.value or 0) - 62.8) < 1e-9
        publish(
            series(
                "NS1", "noise", T0 + timedelta(minutes=5), timedelta(minutes=1), [80, 82, 85, 84, 86], grid
            )
        )
        state = _state(session, "env.noise", "NS1")
        assert state.level is WarningLevel.ORANGE
        assert state.district_id == city.areas["370201"].id
        alert = session.scalar(select(Alert).where(Alert.source == "env.noise:NS1"))
        assert alert is not None and alert.status is AlertStatus.ACTIVE
        assert alert.source_kind is AlertSource.THRESHOLD
        assert alert.level is WarningLevel.ORANGE
        assert alert.department_id == city.departments["qd-cgj"].id
        assert alert.grid_id == grid and alert.district_id == city.areas["370201"].id
        # The alert carries the reading that caused it.
        assert alert.evidence[0]["device"] == "NS1" and alert.evidence[0]["metric"] == "noise"
        assert "东区" in alert.title
        # Quiet again: the level falls and the alert clears itself.
        publish(series("NS1", "noise", T0 + timedelta(minutes=10), timedelta(minutes=1), [50] * 11, grid))
        assert _state(session, "env.noise", "NS1").level is None
        session.refresh(alert)
        assert alert.status is AlertStatus.CLEARED
    history = session.scalars(select(IndicatorValue.level).order_by(IndicatorValue.at)).all()
    assert WarningLevel.ORANGE in history and history[-1] is None


def test_repeats_update_one_alert_and_can_raise_its_level(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    city = sensing_city(session)
    define(session, indicators_=[{**NOISE, "formula": {**NOISE["formula"], "aggregate": "last"}}])
    grid = city.areas[GRID_EAST_1].id
    with running(session_factory):
        publish(series("NS1", "noise", T0, timedelta(minutes=1), [66], grid))
        publish(series("NS1", "noise", T0 + timedelta(minutes=1), timedelta(minutes=1), [67], grid))
        publish(series("NS1", "noise", T0 + timedelta(minutes=2), timedelta(minutes=1), [90], grid))
    alerts = session.scalars(select(Alert)).all()
    assert len(alerts) == 1
    assert alerts[0].count == 3
    assert alerts[0].level is WarningLevel.RED
    assert [e["value"] for e in alerts[0].evidence] == [66, 67, 90]


def test_an_area_indicator_rolls_up_its_entities(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    city = sensing_city(session)
    define(session, indicators_=[NOISE_BY_DISTRICT])
    with running(session_factory):
        publish(
            [
                *series("NS1", "noise", T0, timedelta(minutes=1), [61], city.areas[GRID_EAST_1].id),
                *series("NS2", "noise", T0, timedelta(minutes=1), [72], city.areas[GRID_EAST_2].id),
                *series("NS3", "noise", T0, timedelta(minutes=1), [50], city.areas[GRID_WEST_1].id),
            ]
        )
    east = _state(session, "env.noise_district", "370201")
    west = _state(session, "env.noise_district", "370202")
    assert (east.value, east.level) == (72, WarningLevel.ORANGE)
    assert (west.value, west.level) == (50, None)


def test_windows_slide_on_the_tick_when_readings_stop(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    city = sensing_city(session)
    counting = {**NOISE, "formula": {**NOISE["formula"], "aggregate": "count"}, "thresholds": {"yellow": 5}}
    define(session, indicators_=[{**counting, "alert": None}])
    grid = city.areas[GRID_EAST_1].id
    with running(session_factory) as pipeline:
        publish(series("NS1", "noise", T0, timedelta(seconds=30), [60] * 8, grid))
        assert _state(session, "env.noise", "NS1").level is WarningLevel.YELLOW
        pipeline.stream.tick(T0 + timedelta(seconds=800))
        assert _state(session, "env.noise", "NS1").value == 1  # only the last reading is still inside


def test_open_events_per_10000_residents(session: Session, session_factory: sessionmaker[Session]) -> None:
    from cityhub.access.principal import SYSTEM
    from cityhub.events import service as events
    from cityhub.events.schemas import EventIn, LocationIn

    sensing_city(session)
    for code, population in (("370201", 20_000), ("370202", 50_000)):
        session.scalars(select(Area).where(Area.code == code)).one().population = population
    for _ in range(3):
        events.create(
            session,
            SYSTEM,
            EventIn(title="路面塌陷", location=LocationIn(lon=120.305, lat=36.005)),
            events.DispatchPolicy(),
        )
    define(
        session,
        indicators_=[
            {
                "key": "gov.open_events",
                "name": {"zh": "每万人在办事件数", "en": "Open events per 10 000 residents"},
                "domain": "民生",
                "unit": "件/万人",
                "formula": {"source": "events", "per": "district"},
                "thresholds": {"yellow": 1.0},
            }
        ],
    )
    with running(session_factory) as pipeline:
        pipeline.stream.tick()
    east = _state(session, "gov.open_events", "370201")
    assert east.value == 1.5 and east.level is WarningLevel.YELLOW
    assert _state(session, "gov.open_events", "370202").value == 0


def test_the_city_summary_shows_the_worst_level_per_domain(
    client: TestClient, session: Session, session_factory: sessionmaker[Session]
) -> None:
    city = sensing_city(session)
    define(session, indicators_=[NOISE, NOISE_BY_DISTRICT])
    with running(session_factory):
        publish(series("NS1", "noise", T0, timedelta(minutes=1), [85, 86], city.areas[GRID_EAST_1].id))
    headers = login(client, "dispatcher")
    body = client.get("/api/v1/indicators/summary", headers=headers).json()
    env = next(d for d in body["domains"] if d["domain"] == "环境")
    assert env["level"] == {"level": "red", "label": "一级 红", "colour": "#d7191c"}
    noise = next(i for i in env["indicators"] if i["key"] == "env.noise")
    assert noise["subject"] == "NS1" and noise["by_level"] == {"red": 1}
    assert body["level"]["level"] == "red"
    detail = client.get("/api/v1/indicators/env.noise_district", headers=headers).json()
    assert detail["items"][0]["subject"] == "370201" and detail["items"][0]["level"]["label"] == "一级 红"
    history = client.get("/api/v1/indicators/env.noise/history", params={"subject": "NS1"}, headers=headers)
    assert history.status_code == 200 and history.json()[-1]["level"] == "red"
    # Citizens do not read the vital signs; unknown indicators are 404.
    assert client.get("/api/v1/indicators/summary", headers=login(client, "citizen")).status_code == 403
    assert client.get("/api/v1/indicators/nope.nope", headers=headers).status_code == 404


def test_definitions_through_the_api_are_validated(client: TestClient, session: Session) -> None:
    sensing_city(session)
    steward = login(client, "steward")
    created = client.post("/api/v1/indicators", json=NOISE, headers=steward)
    assert created.status_code == 201, created.text
    bad = client.post(
        "/api/v1/indicators", json={**NOISE, "thresholds": {"blue": 70, "red": 60}}, headers=steward
    )
    assert bad.status_code == 422 and "thresholds must get higher" in bad.text
    assert (
        client.post("/api/v1/indicators", json=NOISE, headers=login(client, "dispatcher")).status_code == 403
    )
    yaml_doc = "indicators:\n  - key: env.pm25\n    name: {zh: PM2.5, en: PM2.5}\n    domain: 环境\n" \
        "    formula: {source: telemetry, metric: pm25, aggregate: mean, window: 1h}\n"  # fmt: skip
    imported = client.post("/api/v1/indicators/import", content=yaml_doc.encode(), headers=steward)
    assert imported.status_code == 200, imported.text
    assert [i["key"] for i in imported.json()] == ["env.pm25"]
    assert client.delete("/api/v1/indicators/env.pm25", headers=steward).status_code == 204
    assert client.get("/api/v1/indicators/env.pm25", headers=steward).json()["indicator"]["enabled"] is False
