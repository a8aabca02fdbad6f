"""Readings of a meter that serves a registered person (独居老人) show their daily life: only the grid workers
of the person's community read them, each time saying why (``POST /telemetry/series/personal``, decision
0019), every such read is audited with that purpose, and for everyone else they do not exist."""

from __future__ import annotations

from datetime import datetime
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
from tests.entities.helpers import EAST, add_entity, add_person_living_alone
from tests.factories import City, add_user, build_city, login
from tests.telemetry.helpers import ago, reading

SERIES = "/api/v1/telemetry/series"
PERSONAL = "/api/v1/telemetry/series/personal"
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
    return add_person_living_alone(session, phone="13812345678")


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


def _ask(client: TestClient, who: str, code: str, metric: str, purpose: Any = "关爱探视", **body: Any) -> Any:
    """The series asked for with a purpose, as a grid worker's screen asks for it."""
    payload = {"device": code, "metric": metric, "purpose": purpose, **body}
    return client.post(PERSONAL, json=payload, headers=login(client, who))


def _problem(response: Any, status: int) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()


def test_only_the_persons_grid_worker_reads_their_meters_with_a_purpose_and_every_read_is_audited(
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
                _problem(_series(client, who, code, metric, resolution=resolution), 404)
            # A purpose changes nothing for those the policy does not let read them.
            _problem(_ask(client, who, code, metric, purpose="核实用水异常"), 404)
        # The meter itself stays a readable city object; only its readings are hidden.
        assert client.get(f"/api/v1/entities/{gas.code}", headers=login(client, who)).status_code == 200
    assert _audits(session) == []  # nothing was read

    # The person's own grid worker does not read them in passing either: the plain series names the way.
    refused = _problem(_series(client, "grid_worker", gas.code, "gas_volume"), 403)
    assert refused["endpoint"] == "POST /api/v1/telemetry/series/personal" and "purpose" in refused["detail"]
    assert refused["code"] == "purpose_required"
    assert "points" not in refused and _audits(session) == []

    r = _ask(client, "grid_worker", gas.code, "gas_volume", purpose="关爱探视：三天未见用气")
    assert r.status_code == 200, r.text
    assert [p["value"] for p in r.json()["points"]] == [812.40, 812.45, 812.61]
    since, until = ago(hours=6).isoformat(), ago(minutes=1).isoformat()
    hourly = _ask(
        client, "grid_worker", water.code, "water_volume", resolution="1h", since=since, until=until
    )
    assert hourly.status_code == 200 and hourly.json()["resolution"] == "1h"
    # A grid worker placed on the person's community (not one of its grids) looks after them too.
    assert _ask(client, "community_worker", gas.code, "gas_volume", purpose="上门探视").status_code == 200
    reads = _audits(session)
    assert [(a.actor, a.object_id, a.purpose) for a in reads] == [
        ("grid_worker", str(gas.id), "关爱探视：三天未见用气"),  # as the reader gave it
        ("grid_worker", str(water.id), "关爱探视"),
        ("community_worker", str(gas.id), "上门探视"),
    ]
    first, second = reads[0], reads[1]
    assert first.actor_id == city.users["grid_worker"].id
    assert first.changes["device"] == gas.code and first.changes["people"] == [person.code]
    assert (first.changes["metric"], first.changes["resolution"]) == ("gas_volume", "raw")
    assert (second.changes["metric"], second.changes["resolution"]) == ("water_volume", "1h")
    read_window = (
        datetime.fromisoformat(second.changes["since"]),
        datetime.fromisoformat(second.changes["until"]),
    )
    assert read_window == (datetime.fromisoformat(since), datetime.fromisoformat(until))
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

    for who in ("dispatcher", "roads_handler", "steward", "grid_worker"):
        r = _series(client, who, office.code, "gas_volume")
        assert r.status_code == 200 and [p["value"] for p in r.json()["points"]] == [10.0, 10.5]
    # Nothing personal to ask for: the purpose endpoint says so and records nothing.
    nothing = _problem(_ask(client, "grid_worker", office.code, "gas_volume"), 422)
    assert "GET /api/v1/telemetry/series" in nothing["detail"]
    _problem(_series(client, "dispatcher", home.code, "gas_volume"), 404)
    assert _audits(session) == []
    # The person no longer lives with this meter: its readings are ordinary readings again.
    entities.unrelate(session, SYSTEM, home.code, relation)
    session.flush()
    assert _series(client, "dispatcher", home.code, "gas_volume").status_code == 200
    assert _series(client, "grid_worker", home.code, "gas_volume").status_code == 200
    assert _audits(session) == []


@pytest.mark.parametrize(
    "body",
    [
        {"purpose": None},  # no purpose at all
        {"purpose": ""},
        {"purpose": "   "},
        {"purpose": "看"},
        {"purpose": "探" * 201},
        {"purpose": "关爱\x00探视"},
        {"purpose": "关爱\u202e探视"},
        {"purpose": 42},
        {"purpose": ["关爱探视"]},
        {"resolution": "1d"},
        {"limit": 0},
        {"limit": 100_001},
        {"since": "2026-11-21T08:00:00"},  # no UTC offset
        {"since": "yesterday"},
        {"until": "9999-12-31T23:59:59+00:00", "since": "0001-01-01T00:00:00+14:00"},
        {"device": "x" * 41},
        {"device": "370202MT00000001X"},
        {"metric": ""},
        {"metric": "water_volume"},  # not what a gas meter reports
        {"since": "2026-11-21T09:00:00+08:00", "until": "2026-11-21T08:00:00+08:00"},
        {"mode": "raw"},  # a misspelt or unknown parameter is refused, not ignored
    ],
)
def test_bad_requests_for_a_persons_meter_are_422_and_read_nothing(
    client: TestClient, session: Session, city: City, body: dict[str, Any]
) -> None:
    person = _person(session)
    gas = _meter(session, "gas_meter", "燃气表")
    entities.relate(session, SYSTEM, gas.code, RelationIn(type="serves", target=person.code))
    session.flush()
    payload: dict[str, Any] = {"device": gas.code, "metric": "gas_volume", "purpose": "关爱探视", **body}
    if payload["purpose"] is None:
        del payload["purpose"]
    response = client.post(PERSONAL, json=payload, headers=login(client, "grid_worker"))
    assert response.status_code in (404, 422), response.text  # a malformed code may be either, never 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert _audits(session) == []


def test_a_purpose_is_required(client: TestClient, session: Session, city: City) -> None:
    person = _person(session)
    gas = _meter(session, "gas_meter", "燃气表")
    entities.relate(session, SYSTEM, gas.code, RelationIn(type="serves", target=person.code))
    session.flush()
    headers = login(client, "grid_worker")
    missing = client.post(PERSONAL, json={"device": gas.code, "metric": "gas_volume"}, headers=headers)
    assert _problem(missing, 422) and "purpose" in missing.text
    not_json = client.post(PERSONAL, content=b"purpose=x", headers=headers)
    _problem(not_json, 422)
    assert _audits(session) == []


def test_anonymous_and_citizen_requests_for_a_persons_meter(
    client: TestClient, session: Session, city: City
) -> None:
    person = _person(session)
    gas = _meter(session, "gas_meter", "燃气表")
    entities.relate(session, SYSTEM, gas.code, RelationIn(type="serves", target=person.code))
    session.flush()
    assert client.get(SERIES, params={"device": gas.code, "metric": "gas_volume"}).status_code == 401
    body = {"device": gas.code, "metric": "gas_volume", "purpose": "关爱探视"}
    assert client.post(PERSONAL, json=body).status_code == 401
    # A citizen may not read telemetry at all.
    assert _series(client, "citizen", gas.code, "gas_volume").status_code == 403
    _problem(_ask(client, "citizen", gas.code, "gas_volume"), 403)
    assert _audits(session) == []
