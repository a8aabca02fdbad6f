"""The registry over HTTP: register, search, import, relate, reconcile sources, protect registered people."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.entities import codes
from cityhub.models.audit import AuditLog
from tests.entities.helpers import EAST, WEST, add_device, add_entity
from tests.factories import build_city, login


def test_register_allocates_a_checked_code_and_places_the_object(
    client: TestClient, session: Session
) -> None:
    build_city(session)
    admin = login(client, "admin")
    body = {
        "type": "MH",
        "name": "井 1",
        "location": {"lon": EAST[0], "lat": EAST[1]},
        "attributes": {"network": "gas"},
    }
    r = client.post("/api/v1/entities", json=body, headers=admin)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["code"].startswith("370201MH00000001") and codes.is_valid(out["code"])
    assert out["located_in"] == {
        "district": "370201",
        "street": "370201001",
        "community": "370201001001",
        "grid": "370201001001001",
    }
    second = client.post("/api/v1/entities", json=body, headers=admin).json()
    assert second["code"].startswith("370201MH00000002")
    # GCJ-02 input is stored in WGS-84 and the input system is recorded.
    r = client.post(
        "/api/v1/entities",
        json={**body, "location": {"lon": 120.31, "lat": 36.01}, "crs": "gcj02"},
        headers=admin,
    )
    assert r.json()["input_crs"] == "gcj02" and r.json()["lon"] != 120.31


def test_bad_codes_and_attributes_are_422_naming_the_problem(client: TestClient, session: Session) -> None:
    build_city(session)
    admin = login(client, "admin")
    good = codes.compose("370202", "MH", 7)
    cases = [
        ({"code": good[:-1] + ("A" if good[-1] != "A" else "B"), "name": "x"}, "check character"),
        ({"code": "370202XX000000011", "name": "x"}, "not a known entity type"),
        ({"code": codes.compose("370299", "MH", 1), "name": "x", "attributes": {"network": "gas"}}, "370299"),
        ({"type": "MH", "area": "370202", "name": "x"}, "requires network"),
        (
            {"type": "MH", "area": "370202", "name": "x", "attributes": {"network": "gas", "depth": "deep"}},
            "depth",
        ),
        (
            {"type": "MH", "area": "370202", "name": "x", "attributes": {"network": "gas", "colour": 1}},
            "colour",
        ),
        ({"type": "DV", "area": "370202", "name": "x", "attributes": {"device_type": "teapot"}}, "teapot"),
        ({"type": "EN", "area": "370202", "name": "x", "attributes": {"uscc": "91370200123456789X"}}, "uscc"),
        ({"type": "MH", "name": "x", "attributes": {"network": "gas"}}, "give `area`"),
    ]
    for body, message in cases:
        r = client.post("/api/v1/entities", json=body, headers=admin)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert message in r.json()["detail"], (message, r.json()["detail"])
    assert client.get("/api/v1/entities/370202MH00000001Q", headers=admin).status_code == 422
    assert client.get(f"/api/v1/entities/{good}", headers=admin).status_code == 404


def test_search_by_type_area_and_radius(client: TestClient, session: Session) -> None:
    build_city(session)
    near = add_entity(session, "MH", "近", at=EAST, network="gas")
    add_entity(session, "MH", "远", at=WEST, network="water")
    add_device(session, "methane", at=(EAST[0] + 0.001, EAST[1]))
    session.flush()
    h = login(client, "dispatcher")
    by_type = client.get("/api/v1/entities", params={"type": "MH"}, headers=h).json()
    assert by_type["total"] == 2
    in_west = client.get("/api/v1/entities", params={"area": "370202"}, headers=h).json()
    assert [e["name"] for e in in_west["items"]] == ["远"]
    around = client.get(
        "/api/v1/entities", params={"near": f"{EAST[0]},{EAST[1]}", "radius_m": 200}, headers=h
    ).json()
    assert around["items"][0]["code"] == near.code
    assert around["total"] == 2 and around["items"][1]["distance_m"] > 80  # 0.001° of longitude ≈ 90 m
    gas = client.get("/api/v1/entities", params={"attribute": "network=gas"}, headers=h).json()
    assert [e["name"] for e in gas["items"]] == ["近"]
    assert client.get("/api/v1/entities", params={"near": "x,y"}, headers=h).status_code == 422
    assert client.get("/api/v1/entities", headers=login(client, "citizen")).status_code == 403


def test_import_csv_and_geojson_upserts_and_reports_bad_rows(client: TestClient, session: Session) -> None:
    build_city(session)
    admin = login(client, "admin")
    csv_text = (
        "type,name,lon,lat,network,depth\n"
        f"MH,井甲,{EAST[0]},{EAST[1]},gas,1.5\n"
        f"MH,井乙,{WEST[0]},{WEST[1]},,2\n"
        f"MH,井丙,{WEST[0]},{WEST[1]},water,shallow\n"
    )
    r = client.post(
        "/api/v1/entities/import", files={"file": ("m.csv", csv_text.encode(), "text/csv")}, headers=admin
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["created"] == 1 and [e["row"] for e in out["errors"]] == [3, 4]
    assert "network" in out["errors"][0]["message"] and "depth" in out["errors"][1]["message"]
    code = out["codes"][0]
    line = {"type": "LineString", "coordinates": [[EAST[0], EAST[1]], [WEST[0], WEST[1]]]}
    geojson = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"code": code, "name": "井甲(改)"}, "geometry": None},
            {
                "type": "Feature",
                "properties": {"type": "PS", "name": "管段", "network": "gas"},
                "geometry": line,
            },
        ],
    }
    r = client.post(
        "/api/v1/entities/import",
        files={"file": ("p.geojson", json.dumps(geojson).encode(), "application/geo+json")},
        headers=admin,
    )
    assert r.json()["created"] == 1 and r.json()["updated"] == 1, r.text
    assert client.get(f"/api/v1/entities/{code}", headers=admin).json()["name"] == "井甲(改)"
    pipe = client.get(f"/api/v1/entities/{r.json()['codes'][1]}", headers=admin).json()
    assert pipe["geometry"]["type"] == "LineString" and pipe["located_in"]["district"] is not None
    bad = client.post(
        "/api/v1/entities/import", files={"file": ("x.csv", b"\xff\xfe", "text/csv")}, headers=admin
    )
    assert bad.status_code == 422


def test_relations_are_typed(client: TestClient, session: Session) -> None:
    build_city(session)
    building = add_entity(session, "HR", "大厦", floors=30, height=99.5)
    sensor = add_device(session, "fire_facility")
    manhole = add_entity(session, "MH", "井", network="gas")
    session.flush()
    admin = login(client, "admin")
    url = f"/api/v1/entities/{sensor.code}/relations"
    r = client.post(url, json={"type": "installed_on", "target": building.code}, headers=admin)
    assert r.status_code == 201 and r.json()[0]["other"] == building.code
    back = client.get(f"/api/v1/entities/{building.code}", headers=admin).json()
    assert back["relations"] == [
        {
            "type": "installed_on",
            "direction": "in",
            "other": sensor.code,
            "other_type": "DV",
            "other_name": sensor.name,
        }
    ]
    wrong = client.post(
        f"/api/v1/entities/{building.code}/relations",
        json={"type": "connects", "target": manhole.code},
        headers=admin,
    )
    assert wrong.status_code == 422 and "cannot be connects" in wrong.json()["detail"]
    gone = client.delete(url, params={"type": "installed_on", "target": building.code}, headers=admin)
    assert gone.status_code == 204
    assert client.get(url, headers=admin).json() == []


def test_one_datum_one_source(client: TestClient, session: Session) -> None:
    """floors belongs to the housing system: the registry refuses to set it; housing's record wins; another
    system's different value is kept and shown as a disagreement."""
    build_city(session)
    building = add_entity(session, "HR", "大厦", floors=30, height=99.5)
    session.flush()
    admin = login(client, "admin")
    url = f"/api/v1/entities/{building.code}"
    refused = client.patch(url, json={"attributes": {"floors": 31}}, headers=admin)
    assert refused.status_code == 409 and "housing" in refused.json()["detail"]
    r = client.post(
        url + "/sources",
        json={"system": "housing", "record_id": "ZJ-1", "attributes": {"floors": 32}},
        headers=admin,
    )
    assert r.json()["attributes"]["floors"] == 32 and r.json()["attribute_sources"]["floors"] == "housing"
    r = client.post(
        url + "/sources",
        json={"system": "fire", "record_id": "XF-9", "attributes": {"floors": 33}},
        headers=admin,
    )
    out = r.json()
    assert out["attributes"]["floors"] == 32
    assert {s["system"]: s["disagrees_on"] for s in out["sources"]} == {"fire": ["floors"], "housing": []}


def test_registered_people_are_hidden_masked_and_every_read_audited(
    client: TestClient, session: Session
) -> None:
    build_city(session)
    grid = login(client, "grid_worker")
    body = {
        "type": "VR",
        "name": "独居老人登记",
        "location": {"lon": EAST[0], "lat": EAST[1]},
        "attributes": {
            "category": "living_alone_elderly",
            "consent_date": "2026-10-01",
            "person_name": "王秀兰",
            "phone": "13812345678",
            "id_number": "11010519491231002X",
        },
    }
    r = client.post("/api/v1/entities", json=body, headers=grid)
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    # Masked even in the answer to the grid worker who registered them; they may reveal it on purpose.
    assert r.json()["attributes"]["person_name"] == "王**" and r.json()["masked"] and r.json()["can_reveal"]
    # Not for handlers or data stewards at all, masked for the city dispatcher.
    for who in ("roads_handler", "steward"):
        assert (
            client.get("/api/v1/entities", params={"type": "VR"}, headers=login(client, who)).json()["total"]
            == 0
        )
        assert client.get(f"/api/v1/entities/{code}", headers=login(client, who)).status_code == 404
    seen = client.get(f"/api/v1/entities/{code}", headers=login(client, "dispatcher")).json()
    assert seen["masked"] and seen["attributes"]["person_name"] == "王**" and not seen["can_reveal"]
    assert (
        seen["attributes"]["phone"] == "138****5678"
        and seen["attributes"]["category"] == "living_alone_elderly"
    )
    # The west district's dispatcher does not see a person in the east.
    assert client.get(f"/api/v1/entities/{code}", headers=login(client, "east_dispatcher")).status_code == 200
    reads = session.scalars(select(AuditLog).where(AuditLog.action == "view_personal_record")).all()
    assert len(reads) >= 3 and all(a.object_type == "entities" for a in reads)
    assert {a.actor for a in reads} >= {"grid_worker", "dispatcher", "east_dispatcher"}
    # The audit row of the creation does not copy the personal data.
    created = session.scalar(
        select(AuditLog).where(AuditLog.action == "create", AuditLog.object_type == "entities")
    )
    assert created is not None and created.changes["personal"] == "***"


def test_a_source_record_time_needs_its_offset_and_a_year_the_hub_can_hold(
    client: TestClient, session: Session
) -> None:
    build_city(session)
    building = add_entity(session, "HR", "大厦", floors=30, height=99.5)
    session.flush()
    admin = login(client, "admin")
    url = f"/api/v1/entities/{building.code}/sources"
    for observed_at in ("2024-01-01T00:00:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"):
        body = {"system": "qa", "record_id": "r1", "observed_at": observed_at}
        refused = client.post(url, json=body, headers=admin)
        assert refused.status_code == 422, (observed_at, refused.text)
        assert "observed_at" in refused.json()["detail"]
    body = {"system": "qa", "record_id": "r1", "observed_at": "2024-01-01T08:00:00+08:00"}
    kept = client.post(url, json=body, headers=admin)
    assert kept.status_code == 200, kept.text
    assert [s["observed_at"] for s in kept.json()["sources"]] == ["2024-01-01T00:00:00Z"]
