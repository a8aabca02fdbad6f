"""Readings of a meter that serves a registered person (独居老人) show their daily life: only the grid workers
of the person's community read them, every such read is audited, and for everyone else they do not exist."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.access.principal import SYSTEM
from cityhub.entities import service as entities
from cityhub.entities.schemas import RelationIn
from cityhub.models.audit import AuditLog
from cityhub.models.entity import Entity
from cityhub.models.org import Role
from cityhub.telemetry import ingest
from cityhub.telemetry.service import ingest_batch
from tests.entities.helpers import EAST, add_entity
from tests.factories import City, add_user, build_city, login
from tests.telemetry.helpers import ago, reading

SERIES = "/api/v1/telemetry/series"
# Everyone who may read telemetry but does not look after the person (the west grid worker works elsewhere).
NOT_CARING = (
    "admin",
    "dispatcher",
    "east_dispatcher",
    "roads_handler",
    "east_handler",
    "supervisor",
    "steward",
    "west_grid_worker",
)


def _person(session: Session) -> Entity:
    return add_entity(
        session,
        "VR",
        "独居老人登记",
        at=EAST,
        category="living_alone_elderly",
        consent_date="2026-10-01",
        person_name="王秀兰",
        phone="13812345678",
    )


def _meter(session: Session, device_type: str, name: str) -> Entity:
    return add_entity(session, "MT", name, at=EAST, device_type=device_type)


def _readings(session: Session, code: str, metric: str, values: list[float]) -> None:
    items = [reading(code, metric, v, ago(minutes=30 - i)) for i, v in enumerate(values)]
    out = ingest_batch(session, SYSTEM, items, channel=ingest.Channel.REPLAY, limits=ingest.Limits())
    assert out.accepted == len(values)


@pytest.fixture
def city(session: Session) -> City:
    city = build_city(session)
    add_user(session, city, "west_grid_worker", Role.GRID_WORKER, area="370202001001001")
    add_user(session, city, "community_worker", Role.GRID_WORKER, area="370201001001")
    session.flush()
    return city


def _audits(session: Session) -> list[AuditLog]:
    return list(
        session.scalars(
            select(AuditLog)
            .where(AuditLog.action == "read_personal_data", AuditLog.object_type == "telemetry_readings")
            .order_by(AuditLog.id)
        )
    )


def _series(client: TestClient, who: str, code: str, metric: str, **params: Any) -> Any:
    return client.get(SERIES, params={"device": code, "metric": metric, **params}, headers=login(client, who))


def test_only_the_persons_grid_worker_reads_their_meters_and_every_read_is_audited(
    client: TestClient, session: Session, city: City
) -> None:
    person = _person(session)
    gas = _meter(session, "gas_meter", "燃气表")
    water = _meter(session, "water_meter", "水表")
    for meter in (gas, water):
        entities.relate(session, SYSTEM, meter.code, RelationIn(type="serves", target=person.code))
    _readings(session, gas.code, "gas_volume", [812.40, 812.45, 812.61])
    _readings(session, water.code, "water_volume", [356.2, 356.3])
    session.flush()

    for who in NOT_CARING:
        for code, metric in ((gas.code, "gas_volume"), (water.code, "water_volume")):
            for resolution in ("raw", "1h"):
                r = _series(client, who, code, metric, resolution=resolution)
                assert r.status_code == 404, (who, code, resolution, r.text)
                assert r.headers["content-type"].startswith("application/problem+json")
        # The meter itself stays a readable city object; only its readings are hidden.
        assert client.get(f"/api/v1/entities/{gas.code}", headers=login(client, who)).status_code == 200
    assert _audits(session) == []  # nothing was read

    r = _series(client, "grid_worker", gas.code, "gas_volume")
    assert r.status_code == 200, r.text
    assert [p["value"] for p in r.json()["points"]] == [812.40, 812.45, 812.61]
    assert _series(client, "grid_worker", water.code, "water_volume", resolution="1h").status_code == 200
    # A grid worker placed on the person's community (not one of its grids) looks after them too.
    assert _series(client, "community_worker", gas.code, "gas_volume").status_code == 200
    reads = _audits(session)
    assert [(a.actor, a.object_id) for a in reads] == [
        ("grid_worker", str(gas.id)),
        ("grid_worker", str(water.id)),
        ("community_worker", str(gas.id)),
    ]
    first = reads[0]
    assert first.actor_id == city.users["grid_worker"].id and first.purpose
    assert first.changes["device"] == gas.code and first.changes["people"] == [person.code]
    assert (first.changes["metric"], first.changes["resolution"]) == ("gas_volume", "raw")
    assert reads[1].changes["resolution"] == "1h"
    # Not the person's name or the values: the audit log is not a second copy of the personal data.
    assert "王秀兰" not in str(first.changes) and "812" not in str(first.changes)


def test_meters_that_serve_nobody_registered_stay_open_and_unaudited(
    client: TestClient, session: Session, city: City
) -> None:
    person = _person(session)
    office = _meter(session, "gas_meter", "办公楼燃气表")
    home = _meter(session, "gas_meter", "燃气表")
    relation = RelationIn(type="serves", target=person.code)
    entities.relate(session, SYSTEM, home.code, relation)
    _readings(session, office.code, "gas_volume", [10.0, 10.5])
    _readings(session, home.code, "gas_volume", [812.4])
    session.flush()

    for who in ("dispatcher", "roads_handler", "steward"):
        r = _series(client, who, office.code, "gas_volume")
        assert r.status_code == 200 and [p["value"] for p in r.json()["points"]] == [10.0, 10.5]
    assert _series(client, "dispatcher", home.code, "gas_volume").status_code == 404
    assert _audits(session) == []
    # The person no longer lives with this meter: its readings are ordinary readings again.
    entities.unrelate(session, SYSTEM, home.code, relation)
    session.flush()
    assert _series(client, "dispatcher", home.code, "gas_volume").status_code == 200
    assert _series(client, "grid_worker", home.code, "gas_volume").status_code == 200
    assert _audits(session) == []


def test_bad_and_anonymous_requests_for_a_persons_meter(
    client: TestClient, session: Session, city: City
) -> None:
    person = _person(session)
    gas = _meter(session, "gas_meter", "燃气表")
    entities.relate(session, SYSTEM, gas.code, RelationIn(type="serves", target=person.code))
    session.flush()
    assert client.get(SERIES, params={"device": gas.code, "metric": "gas_volume"}).status_code == 401
    # A citizen may not read telemetry at all; the grid worker still gets 4xx for bad input, never 500.
    assert _series(client, "citizen", gas.code, "gas_volume").status_code == 403
    wrong_metric = _series(client, "grid_worker", gas.code, "water_volume")
    assert wrong_metric.status_code == 422
    backwards = _series(
        client,
        "grid_worker",
        gas.code,
        "gas_volume",
        since=ago(minutes=1).isoformat(),
        until=ago(hours=1).isoformat(),
    )
    assert backwards.status_code == 422
    assert _audits(session) == []
