"""The four scenario packs end to end: the simulator injects each incident onto the bus (what telemetry
publishes once readings are stored), and the expected alert — and, where the rule says so, one event for
the right departments through the event service — comes out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cityhub.access.principal import SYSTEM
from cityhub.alerts import service as alerts
from cityhub.alerts import subjects
from cityhub.alerts.schemas import SubjectIn
from cityhub.kit.bus import bus
from cityhub.kit.timeutil import clock
from cityhub.models.alert import Alert, AlertSource, AlertStatus, RuleFiring
from cityhub.models.audit import AuditLog
from cityhub.models.event import Channel, Event, EventAssignment, Urgency
from cityhub.models.indicator import WarningLevel
from cityhub.models.org import Department, Role
from cityhub.rules.runtime import Pipeline
from cityhub.scenarios import pack as packs
from cityhub.sim.sensors import BusSink, Device, SensorSimulator, city_code
from tests.factories import City, add_user, login
from tests.indicators.helpers import GRID_EAST_1, GRID_EAST_2, GRID_WEST_1, T0, running, sensing_city

EAST = "370201"


@pytest.fixture
def city(session: Session) -> City:
    city = sensing_city(session)
    for pack in packs.builtin():
        packs.install(session, SYSTEM, pack)
    session.flush()
    return city


@pytest.fixture
def pipeline(city: City, session_factory: sessionmaker[Session]) -> Iterator[Pipeline]:
    with running(session_factory) as p:
        yield p


def devices(city: City, pack_key: str) -> list[Device]:
    """The pack's devices in the east district, spread over its two grids."""
    pack = packs.get(pack_key)
    grids = [city.areas[GRID_EAST_1].id, city.areas[GRID_EAST_2].id]
    out = []
    serial = 1
    for kind in pack.devices.values():
        for i in range(kind.per_district):
            out.append(Device(city_code(EAST, kind.type_code, serial), kind, grids[i % 2], district=EAST))
            serial += 1
    return out


def stream(sim: SensorSimulator, start: datetime, end: datetime, step: timedelta) -> None:
    """Send the readings minute by minute, the hub's clock following (rules judge windows on it)."""
    t = start
    sink = BusSink()
    while t < end:
        clock.freeze(t + step)
        readings = sim.readings(t, t + step)
        if readings:
            sink.send(readings)
        t += step


def _assignments(session: Session, event: Event) -> dict[str, str]:
    rows = session.execute(
        select(Department.code, EventAssignment.role)
        .join(Department, Department.id == EventAssignment.department_id)
        .where(EventAssignment.event_id == event.id)
    )
    return {code: role.value for code, role in rows}


# ---------------------------------------------------------------- 独居老人关怀


def test_elderly_no_gas_in_24h_alerts_the_grid_worker_and_escalates(
    city: City, session: Session, session_factory: sessionmaker[Session], client: TestClient
) -> None:
    sim = SensorSimulator(devices(city, "elderly_care"), seed=3, dropout=0.0)
    meters = [d.code for d in sim.devices if d.kind.name == "gas_meter"]
    person = subjects.register(
        session,
        SYSTEM,
        SubjectIn(
            name="王秀英",
            phone="13805320171",
            address="东区1社区3号楼501",
            area=GRID_EAST_1,
            devices=[meters[0]],
            consent_at=T0 - timedelta(days=30),
        ),
    )
    session.flush()
    bus.publish("indicators.changed", {"subject": person.id})  # what the registration's commit announces
    no_gas = packs.get("elderly_care").incident("no_gas")
    sim.inject(no_gas, at=T0 - timedelta(hours=25), devices={"gas_meter": [meters[0]]})
    pipeline: Pipeline = client.app.state.sensing  # type: ignore[attr-defined]  # the app's own pipeline
    stream(sim, T0 - timedelta(hours=48), T0, timedelta(hours=1))
    pipeline.stream.tick(T0)
    raised = session.scalars(select(Alert).where(Alert.type == "elderly.no_gas_24h")).all()
    assert [a.device for a in raised] == [meters[0]]  # the neighbour who cooks raises nothing
    alert = raised[0]
    assert alert.level is WarningLevel.YELLOW and alert.status is AlertStatus.ACTIVE
    assert alert.notify == ["grid_worker"] and alert.subject_id == person.id
    assert alert.community_id == city.areas["370201001001"].id
    assert alert.value is not None and alert.value < 0.01
    # Its title says what happened and where, not the reading: whoever reads the alert is not thereby
    # someone who may read the person's meter.
    assert alert.title.endswith("独居老人24小时未用气") and "m³" not in alert.title

    # Nobody acknowledges: the community is told after 30 minutes, the street (orange) after 2 hours.
    first = alert.first_seen
    assert T0 - timedelta(hours=2) <= first <= T0
    alerts.escalate_due(session, first + timedelta(minutes=31))
    assert alert.escalation_step == 1 and "community" in alert.notify
    assert alert.level is WarningLevel.YELLOW
    alerts.escalate_due(session, first + timedelta(hours=2, minutes=1))
    assert alert.level is WarningLevel.ORANGE and alert.notify[-1] == "street"
    session.flush()

    # Everyone sees the person masked; the grid worker of their community may reveal who it is, saying why
    # (and that read is audited with the purpose).
    add_user(session, city, "west_grid_worker", Role.GRID_WORKER, area=GRID_WEST_1)
    session.flush()
    clock.unfreeze()  # tokens are checked against the wall clock
    worker = login(client, "grid_worker")
    seen = client.get(f"/api/v1/alerts/{alert.id}", headers=worker).json()
    assert seen["subject"]["name"] == "王**" and seen["subject"]["can_reveal"] is True
    url = f"/api/v1/alerts/{alert.id}/subject"
    shown = client.post(url, json={"purpose": "上门探视"}, headers=worker).json()
    assert shown["name"] == "王秀英" and shown["phone"] == "13805320171"
    assert (
        session.scalar(
            select(AuditLog.purpose).where(
                AuditLog.action == "read_personal_data", AuditLog.object_type == "alert_subjects"
            )
        )
        == "上门探视"
    )
    assert seen["value"] == alert.value and seen["evidence"]
    masked = client.get(f"/api/v1/alerts/{alert.id}", headers=login(client, "dispatcher")).json()
    assert masked["subject"]["name"] == "王**" and masked["subject"]["phone"] == "138****0171"
    assert (masked["value"], masked["evidence"]) == (None, [])  # the readings are the grid worker's
    assert masked["subject"]["masked"] is True and masked["subject"]["can_reveal"] is False
    assert (
        client.get(f"/api/v1/alerts/{alert.id}", headers=login(client, "west_grid_worker")).status_code == 404
    )
    admin = client.get(f"/api/v1/alerts/{alert.id}", headers=login(client, "admin")).json()
    assert admin["subject"]["masked"] is True

    # The grid worker acknowledges: escalation stops.
    ack = client.post(
        f"/api/v1/alerts/{alert.id}/acknowledge", json={"note": "已电话联系，上门探视"}, headers=worker
    )
    assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"
    session.expire_all()
    assert alerts.escalate_due(session, first + timedelta(hours=7)) == 0


def test_elderly_tap_running_all_night_breaks_the_daily_water_pattern(
    city: City, session: Session, session_factory: sessionmaker[Session]
) -> None:
    sim = SensorSimulator(devices(city, "elderly_care"), seed=5, dropout=0.0)
    meter = next(d.code for d in sim.devices if d.kind.name == "water_meter")
    start = T0 - timedelta(days=5)
    night = T0.replace(hour=16)  # 00:00 in Qingdao
    sim.inject(packs.get("elderly_care").incident("tap_running"), at=night, devices={"water_meter": [meter]})
    with running(session_factory):
        stream(sim, start, night + timedelta(hours=8), timedelta(hours=6))
    found = session.scalars(select(Alert).where(Alert.type == "elderly.water_pattern")).all()
    assert [a.device for a in found] == [meter]
    assert found[0].source_kind is AlertSource.ANOMALY
    assert found[0].evidence[0]["score"] > 1
    # About a registered person: the title names the pattern, not the use or its score.
    assert found[0].title == "独居老人用水模式: 用量模式异常"


# ---------------------------------------------------------------- 城市内涝


def test_rain_and_rising_water_make_one_flood_event_for_four_departments(
    city: City, session: Session, pipeline: Pipeline
) -> None:
    sim = SensorSimulator(devices(city, "urban_flooding"), seed=1, dropout=0.0)
    stream(sim, T0 - timedelta(minutes=30), T0, timedelta(minutes=1))
    sim.inject(packs.get("urban_flooding").incident("rainstorm"), at=T0)
    stream(sim, T0, T0 + timedelta(minutes=30), timedelta(minutes=1))

    warning = session.scalars(select(Alert).where(Alert.type == "flood.waterlogging")).one()
    assert warning.source_kind is AlertSource.RULE
    assert warning.level in (WarningLevel.ORANGE, WarningLevel.RED)
    assert warning.district_id == city.areas[EAST].id
    assert warning.level is WarningLevel.RED  # the water went past 40 cm, so the warning rose to red
    events = session.scalars(select(Event).where(Event.channel == Channel.SENSOR)).all()
    assert len(events) == 1  # one event for the episode, however many batches matched
    event = events[0]
    assert event.urgency is Urgency.CRITICAL and event.district_id == city.areas[EAST].id
    assert event.resolve_deadline is not None and event.sign_deadline is not None
    assert _assignments(session, event) == {
        "qd-swglj": "lead",
        "qd-cgj": "co",
        "qd-yjglj": "co",
        "qd-jjzd": "co",
    }
    assert warning.event_id == event.id
    firing = session.scalars(select(RuleFiring)).one()
    assert firing.event_id == event.id and firing.ended_at is None
    assert {a["action"] for a in firing.actions} == {"alert", "event"}


# ---------------------------------------------------------------- 燃气管网安全


def test_methane_with_a_pressure_drop_is_an_immediate_red_alert_and_a_leak_event(
    city: City, session: Session, pipeline: Pipeline
) -> None:
    sim = SensorSimulator(devices(city, "gas_network"), seed=2, dropout=0.0)
    stream(sim, T0 - timedelta(minutes=15), T0, timedelta(minutes=1))
    assert session.scalar(select(Alert.id)) is None  # a quiet network raises nothing
    sim.inject(packs.get("gas_network").incident("leak"), at=T0)
    stream(sim, T0, T0 + timedelta(minutes=6), timedelta(minutes=1))

    leak = session.scalars(select(Alert).where(Alert.type == "gas.leak")).one()
    assert leak.level is WarningLevel.RED and leak.source_kind is AlertSource.RULE
    assert leak.first_seen <= T0 + timedelta(minutes=6)
    methane = session.scalars(select(Alert).where(Alert.type == "gas.methane")).all()
    assert methane and all(a.department_id == city.departments["qd-nyjt"].id for a in methane)
    event = session.scalars(select(Event).where(Event.channel == Channel.SENSOR)).one()
    assert _assignments(session, event) == {"qd-nyjt": "lead", "qd-yjglj": "co", "qd-xfjy": "co"}
    assert event.urgency is Urgency.CRITICAL


# ---------------------------------------------------------------- 高楼消防风险码


def test_a_change_of_fire_risk_colour_creates_an_event(
    city: City, session: Session, pipeline: Pipeline
) -> None:
    sim = SensorSimulator(devices(city, "highrise_fire"), seed=4, dropout=0.0)
    building = sim.devices[0].code
    stream(sim, T0 - timedelta(minutes=10), T0, timedelta(minutes=1))
    assert session.scalar(select(Event.id)) is None  # every building is green, and stays so

    sim.inject(
        packs.get("highrise_fire").incident("facility_failure"), at=T0, devices={"fire_facility": [building]}
    )
    stream(sim, T0, T0 + timedelta(minutes=5), timedelta(minutes=1))
    event = session.scalars(select(Event).where(Event.channel == Channel.SENSOR)).one()
    assert "绿码(低)→橙码(较大)" in event.title
    assert _assignments(session, event) == {"qd-xfjy": "lead", "qd-zjj": "co"}
    code = session.scalars(select(Alert).where(Alert.type == "fire.risk_high")).one()
    assert code.level is WarningLevel.ORANGE and code.device == building

    # Repaired: the code turns green again, which is a change too (a review on site).
    stream(sim, T0 + timedelta(minutes=5), T0 + timedelta(minutes=20), timedelta(minutes=1))
    titles = sorted(e.title for e in session.scalars(select(Event)))
    assert len(titles) == 2 and any("橙码(较大)→绿码(低)" in t for t in titles)
    session.refresh(code)
    assert code.status is AlertStatus.CLEARED
