"""The sensor simulator (cycles, noise, dropouts, incidents in one district) and the demo's wiring: packs
installed, devices registered, residents registered, readings through the real ingest path."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityhub.kit.timeutil import clock
from cityhub.models.alert import AlertSubject, LinkageRule
from cityhub.models.indicator import Indicator
from cityhub.scenarios import pack as packs
from cityhub.scenarios.demo import DemoSensors, demo_devices, seed_scenarios
from cityhub.sim.sensors import Device, SensorSimulator, load_devices
from tests.indicators.helpers import T0, sensing_city


def test_meters_only_count_up_and_follow_the_day() -> None:
    kind = packs.get("elderly_care").devices["gas_meter"]
    sim = SensorSimulator([Device("M1", kind)], seed=1, dropout=0.0)
    readings = sim.readings(T0, T0 + timedelta(days=2))
    values = [r["value"] for r in readings]
    assert len(values) == 48 and values == sorted(values)
    by_hour: dict[int, float] = {}
    for before, after in pairwise(readings):
        hour = (int(after["ts"][11:13]) + 8) % 24  # Qingdao time
        by_hour[hour] = by_hour.get(hour, 0.0) + after["value"] - before["value"]
    assert by_hour[19] > 5 * by_hour[3]  # supper, not the small hours


def test_dropouts_and_the_load_generator_rate() -> None:
    sim = SensorSimulator(load_devices(50, 2.0), seed=2, dropout=0.1)
    readings = sim.readings(T0, T0 + timedelta(seconds=10))
    assert 800 <= len(readings) <= 950  # 50 × 2/s × 10 s, less about a tenth dropped
    assert len({r["device"] for r in readings}) == 50


def test_an_incident_picks_its_devices_in_one_district() -> None:
    pack = packs.get("urban_flooding")
    devices = [
        Device(f"{kind}-{district}-{i}", pack.devices[kind], district=district)
        for district in ("370201", "370202")
        for kind in ("rain_gauge", "low_point")
        for i in range(2)
    ]
    sim = SensorSimulator(devices, seed=3)
    incident = sim.inject(pack.incident("rainstorm"), at=T0)
    districts = {code.split("-")[1] for code in incident.devices}
    assert len(districts) == 1 and len(incident.devices) == 3  # one gauge, two low points


def test_the_demo_registers_devices_and_sends_through_the_ingest_path(session: Session) -> None:
    from cityhub.models.telemetry import DeadLetter, Reading

    sensing_city(session)
    seeded = seed_scenarios(session)
    assert seeded.packs == 4 and seeded.devices > 0 and seeded.residents == 4
    assert session.scalar(select(func.count(Indicator.id))) == 7
    assert session.scalar(select(func.count(LinkageRule.id))) == 3
    person = session.scalars(select(AlertSubject)).first()
    assert person is not None and len(person.devices) == 2
    devices = demo_devices(session)
    assert {d.code for d in devices} >= set(person.devices)
    clock.freeze(T0)
    sent = DemoSensors()(session)
    assert sent > 0
    assert session.scalar(select(func.count()).select_from(Reading)) > 0
    # Metrics the telemetry catalogue does not know are left out rather than dead-lettered.
    assert session.scalar(select(func.count(DeadLetter.id))) == 0


def test_every_metric_a_pack_scores_or_simulates_is_in_the_telemetry_catalogue() -> None:
    """Otherwise its readings are dead letters (or left out of the demo) and the pack's indicators never see
    them — as happened to the fire-risk code's overdue inspections."""
    from cityhub.indicators.spec import ScoreFormula, TelemetryFormula
    from cityhub.telemetry import catalog

    reported = {m for t in catalog.device_types().values() for m in t.metrics}
    for pack in packs.builtin():
        for kind in pack.devices.values():
            spec = catalog.get(kind.device_type)
            assert spec is not None, (pack.key, kind.device_type)
            missing = [m.name for m in kind.metrics if m.name not in spec.metrics]
            assert missing == [], (pack.key, kind.name, missing)
        for indicator in pack.indicators:
            formula = indicator.formula
            if isinstance(formula, ScoreFormula):
                assert formula.metrics <= reported, (indicator.key, formula.metrics - reported)
            elif isinstance(formula, TelemetryFormula):
                assert formula.metric in reported, indicator.key
        for watch in pack.watches:
            assert watch.metric in reported, (pack.key, watch.metric)


def test_the_demo_high_rises_report_overdue_fire_inspections_through_ingest(session: Session) -> None:
    from cityhub.models.entity import Entity
    from cityhub.models.telemetry import DeadLetter, Reading

    sensing_city(session)
    seed_scenarios(session)
    monitors = {
        e.id: e.code
        for e in session.scalars(select(Entity).where(Entity.type == "DV"))
        if e.attributes.get("device_type") == "fire_facility"
    }
    assert monitors
    clock.freeze(T0)
    sensors = DemoSensors()
    sensors(session)  # an hour of history for the minute sensors
    overdue = select(Reading.entity_id, Reading.value).where(Reading.metric == "inspection_overdue_days")
    history = session.execute(overdue).all()
    assert {entity for entity, _ in history} == set(monitors) and {v for _, v in history} == {0.0}
    # A facility failure includes an inspection 45 days overdue: stored, so the risk code scores it.
    assert sensors.simulator is not None
    target = sorted(monitors.values())[0]
    sensors.simulator.inject(
        packs.get("highrise_fire").incident("facility_failure"), at=T0, devices={"fire_facility": [target]}
    )
    clock.freeze(T0 + timedelta(minutes=3))
    sensors(session)
    late = session.execute(overdue.where(Reading.ts > T0.timestamp() * 1_000_000)).all()
    by_device = {monitors[entity]: value for entity, value in late}
    assert by_device[target] == 45.0 and set(by_device.values()) == {0.0, 45.0}
    assert session.scalar(select(func.count(DeadLetter.id))) == 0
