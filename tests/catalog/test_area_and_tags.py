"""Area and tags as policy inputs: an area-bound department's grant delivers its area's rows (and aggregates)
unless the owner approved it city-wide; restricting tags make an unconditional resource wait for the owner
and raise k for aggregates; wrong input is a 4xx problem, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.access import policy
from cityhub.access.principal import SYSTEM
from cityhub.catalog import builtin, csvio, service, sharing, sources
from cityhub.dispatch import routing
from cityhub.events import categories
from cityhub.events import service as events
from cityhub.events.schemas import EventIn
from cityhub.kit.errors import Conflict
from cityhub.models.area import Area
from cityhub.models.org import Role
from tests.catalog.helpers import CARE, PERMITS, add_stewards, care_rows, permit_rows, register
from tests.factories import City, add_user, build_city, login

ROWS = ["permit_no", "district", "issued"]
ROAD = "城乡建设/市政设施/道路破损"
# The tiny city: 东区 370201 is the west half (lon 120.30–120.32), 370202 the east half.
EAST_DISTRICT_LON, WEST_DISTRICT_LON = 120.305, 120.325


@pytest.fixture
def city(client: TestClient, session: Session) -> Iterator[City]:
    built = build_city(session)
    add_stewards(session, built)
    register(session, PERMITS | {"area_field": "district"}, permit_rows(30))
    session.flush()
    sharing.limiter.reset()
    yield built
    sharing.limiter.reset()


def _ask(client: TestClient, user: str, resource: str, fields: list[str], **extra: Any) -> Any:
    body = {
        "resource": resource,
        "fields": fields,
        "purpose": "属地监管：核对辖区内的许可与事件",
        "legal_basis": "《城市道路管理条例》",
        "period_days": 30,
    } | extra
    return client.post("/api/v1/catalog/requests", json=body, headers=login(client, user))


def _approve(client: TestClient, request_id: int, owner: str, **approval: Any) -> Any:
    return client.post(
        f"/api/v1/catalog/requests/{request_id}/approve",
        json={"reason": "同意"} | approval,
        headers=login(client, owner),
    )


def _token(client: TestClient, grant_id: int, user: str) -> dict[str, str]:
    token = client.post(f"/api/v1/catalog/grants/{grant_id}/tokens", json={}, headers=login(client, user))
    assert token.status_code == 201, token.text
    return {"Authorization": f"Bearer {token.json()['token']}"}


def _granted(
    client: TestClient, requester: str, owner: str, resource: str, fields: list[str], **kw: Any
) -> Any:
    mode = kw.pop("mode", "rows")
    request = _ask(client, requester, resource, fields, mode=mode)
    assert request.status_code == 201, request.text
    grant = _approve(client, request.json()["id"], owner, **kw)
    assert grant.status_code == 200, grant.text
    return grant.json()


def test_a_district_departments_token_gets_only_its_districts_rows(client: TestClient, city: City) -> None:
    grant = _granted(client, "east_handler", "roads_steward", "ROADS-PERMITS", ROWS)
    assert grant["scope"] == "area"
    rows = client.get(
        "/api/v1/catalog/shared/rows",
        params={"limit": 100},
        headers=_token(client, grant["id"], "east_handler"),
    )
    assert rows.status_code == 200, rows.text
    body = rows.json()
    assert body["area"] == "370201"
    assert body["count"] == 15 and {r["district"] for r in body["rows"]} == {"370201"}
    # The owner's access log says which area the rows were confined to.
    log = client.get("/api/v1/catalog/access-log", headers=login(client, "roads_steward")).json()
    assert log[0]["query"]["area"] == "370201" and log[0]["row_count"] == 15


def test_after_a_city_wide_approval_it_gets_every_row(client: TestClient, city: City) -> None:
    grant = _granted(client, "east_handler", "roads_steward", "ROADS-PERMITS", ROWS, scope="city")
    assert grant["scope"] == "city"
    rows = client.get(
        "/api/v1/catalog/shared/rows",
        params={"limit": 100},
        headers=_token(client, grant["id"], "east_handler"),
    ).json()
    assert rows["area"] is None and rows["count"] == 30
    assert {r["district"] for r in rows["rows"]} == {"370201", "370202"}
    # The choice is recorded on the grant, in the audit log, with who made it.
    audit = client.get(
        "/api/v1/audit",
        params={"object_type": "catalog_grants", "action": "create"},
        headers=login(client, "admin"),
    ).json()
    # (A created row's entry names its id in ``changes``: the hook runs before the identity is set.)
    created = next(a for a in audit if a["changes"].get("id") == grant["id"])
    assert created["changes"]["scope"] == "city" and created["actor"] == "roads_steward"


def test_a_city_department_is_not_confined(client: TestClient, city: City) -> None:
    grant = _granted(client, "env_handler", "roads_steward", "ROADS-PERMITS", ROWS)
    rows = client.get(
        "/api/v1/catalog/shared/rows",
        params={"limit": 100},
        headers=_token(client, grant["id"], "env_handler"),
    ).json()
    assert rows["area"] is None and rows["count"] == 30


def _events(session: Session, city: City, per_district: dict[float, int]) -> None:
    cat = categories.find(session, ROAD)
    routing.add_rule(session, category_id=cat.id, lead_department_id=city.departments["roads"].id)
    for lon, n in per_district.items():
        for i in range(n):
            data = EventIn(
                title=f"路面破损{i}", category=ROAD, location={"lon": lon, "lat": 36.005 + i * 0.003}
            )
            events.create(session, SYSTEM, data, events.DispatchPolicy())
    session.flush()


def test_aggregates_of_the_hubs_events_are_confined_the_same_way(
    client: TestClient, session: Session, city: City
) -> None:
    _events(session, city, {EAST_DISTRICT_LON: 12, WEST_DISTRICT_LON: 11})
    fields = ["district", "street", "created_at"]
    query = {"group_by": [{"field": "district"}]}

    confined = _granted(client, "east_handler", "ops_steward", "CH-EVENTS", fields, mode="aggregate")
    answer = client.post(
        "/api/v1/catalog/shared/aggregate", json=query, headers=_token(client, confined["id"], "east_handler")
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["area"] == "370201"
    assert {g["key"]["district"]: g["value"] for g in answer.json()["groups"]} == {"370201": 12}

    client.post(
        f"/api/v1/catalog/grants/{confined['id']}/revoke",
        json={"reason": "改为全市"},
        headers=login(client, "ops_steward"),
    )
    city_wide = _granted(
        client, "east_handler", "ops_steward", "CH-EVENTS", fields, mode="aggregate", scope="city"
    )
    answer = client.post(
        "/api/v1/catalog/shared/aggregate",
        json=query,
        headers=_token(client, city_wide["id"], "east_handler"),
    )
    assert {g["key"]["district"]: g["value"] for g in answer.json()["groups"]} == {"370201": 12, "370202": 11}


def test_built_in_rows_are_filtered_in_sql_by_the_area_tree(session: Session, city: City) -> None:
    """A street is below its district: a street-bound grant sees its street, the district both streets."""
    _events(session, city, {EAST_DISTRICT_LON: 12, WEST_DISTRICT_LON: 11})
    resource = service.get(session, SYSTEM, "CH-EVENTS")
    assert sources.area_bound(resource)
    district, street = city.areas["370201"].id, city.areas["370201001"].id
    everything = sources.page(session, resource, offset=0, limit=100)
    in_district = sources.page(session, resource, offset=0, limit=100, within=district)
    in_street = sources.page(session, resource, offset=0, limit=100, within=street)
    assert len(everything) == 23 and "_area_id" not in everything[0]
    assert len(in_district) == 12 and {r["district"] for r in in_district} == {"370201"}
    assert 0 < len(in_street) < 12 and {r["street"] for r in in_street} == {"370201001"}
    assert sources.page(session, resource, offset=0, limit=100, within=city.areas["370202002"].id) != []


@pytest.mark.parametrize("code", ["CH-ENTITIES", "CH-TELEMETRY", "CH-VULNERABLE"])
def test_the_sensing_tables_take_the_area_filter(session: Session, city: City, code: str) -> None:
    """Read by column name from other domains' tables: the confined read is valid SQL there too (a wrong
    column would be a 422 from the savepoint)."""
    resource = service.get(session, SYSTEM, code)
    assert sources.area_bound(resource) and sources.has_data(session, resource)
    assert sources.page(session, resource, offset=0, limit=10, within=city.areas["370201"].id) == []
    assert list(sources.iter_rows(session, resource, within=city.areas["370201001"].id)) == []


def test_an_area_bound_reader_without_its_area_column_fails_closed(
    session: Session, city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Declared area-bound but its select has no area column: a confined read is refused, never unfiltered."""
    monkeypatch.setitem(sources.BUILTIN_BY_CODE, "CH-AREAS", replace(builtin.AREAS, area=True))
    resource = service.get(session, SYSTEM, "CH-AREAS")
    assert len(sources.page(session, resource, offset=0, limit=100)) == 15  # unconfined: the whole tree
    with pytest.raises(Conflict, match="cannot be confined"):
        sources.page(session, resource, offset=0, limit=100, within=city.areas["370201"].id)


def test_the_area_tree_filter_is_the_area_and_everything_below(session: Session, city: City) -> None:
    district = city.areas["370201"].id
    codes = session.scalars(
        select(Area.code).where(policy.catalog_rows_in_area(district, area_codes=Area.code))
    ).all()
    assert sorted(codes) == [
        "370201",
        "370201001",
        "370201001001",
        "370201001001001",
        "370201002",
        "370201002001",
        "370201002001001",
    ]
    ids = session.scalars(
        select(Area.id).where(policy.catalog_rows_in_area(district, area_ids=Area.id))
    ).all()
    assert len(ids) == 7


# ---------------------------------------------------------------- tags

POLICE_LOG: dict[str, Any] = {
    "code": "TRAFFIC-CHECKPOINTS",
    "name": "交通卡口过车统计",
    "department": "traffic",
    "update_cycle": "daily",
    "grade": "general_2",
    "sharing": "unconditional",
    "tags": ["交通", "公安"],
    "fields": [
        {"name": "checkpoint", "title": "卡口", "role": "key"},
        {"name": "district", "title": "区", "role": "area"},
        {"name": "day", "title": "日期", "type": "date", "role": "time"},
        {"name": "vehicles", "title": "过车数", "type": "integer", "min": 0, "max": 1000000},
    ],
}


def test_a_tagged_unconditional_resource_waits_for_the_owner(client: TestClient, session: Session) -> None:
    city = build_city(session)
    add_user(session, city, "police_steward", Role.DATA_STEWARD, dept="police")
    register(session, POLICE_LOG)
    register(session, POLICE_LOG | {"code": "TRAFFIC-PLAIN", "tags": ["交通"]})
    session.flush()

    listed = {
        r["code"]: r
        for r in client.get("/api/v1/catalog/resources", headers=login(client, "env_handler")).json()
    }
    assert listed["TRAFFIC-CHECKPOINTS"]["restricting_tags"] == ["公安"]
    assert listed["TRAFFIC-PLAIN"]["restricting_tags"] == []

    plain = _ask(client, "env_handler", "TRAFFIC-PLAIN", ["district", "day", "vehicles"])
    assert plain.status_code == 201 and plain.json()["status"] == "approved"
    tagged = _ask(client, "env_handler", "TRAFFIC-CHECKPOINTS", ["district", "day", "vehicles"])
    assert tagged.status_code == 201, tagged.text
    assert tagged.json()["status"] == "pending" and tagged.json()["grant_id"] is None
    pending = client.get(
        "/api/v1/catalog/requests",
        params={"incoming": "true", "status": "pending"},
        headers=login(client, "police_steward"),
    ).json()
    assert [r["resource"] for r in pending] == ["TRAFFIC-CHECKPOINTS"]
    approved = _approve(client, tagged.json()["id"], "police_steward")
    assert approved.status_code == 200 and approved.json()["resource"] == "TRAFFIC-CHECKPOINTS"


def test_a_tag_raises_k_for_aggregates(client: TestClient, session: Session) -> None:
    build_city(session)
    people = {"370201001": 25, "370201002": 21, "370202001": 15, "370202002": 12}
    register(session, CARE, care_rows(people))
    register(session, CARE | {"code": "ENV-CARE-MED", "tags": ["民生", "医疗"]}, care_rows(people))
    session.flush()
    assert policy.aggregate_k(["民生", "医疗"]) == 20
    query = {"group_by": [{"field": "street"}]}
    results = {}
    for code in ("ENV-CARE", "ENV-CARE-MED"):
        grant = _granted(
            client,
            "police_handler",
            "admin",
            code,
            ["district", "street", "age", "visited"],
            mode="aggregate",
        )
        answer = client.post(
            "/api/v1/catalog/shared/aggregate",
            json=query,
            headers=_token(client, grant["id"], "police_handler"),
        )
        assert answer.status_code == 200, answer.text
        results[code] = answer.json()
    assert results["ENV-CARE"]["k"] == 10 and len(results["ENV-CARE"]["groups"]) == 4
    med = results["ENV-CARE-MED"]
    assert med["k"] == 20 and med["suppressed_groups"] == 2
    assert {g["key"]["street"]: g["value"] for g in med["groups"]} == {"370201001": 25, "370201002": 21}


# ---------------------------------------------------------------- wrong input


def _problem(response: Any, status: int, text: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert text in response.text


def test_bad_scopes_and_non_owners_are_refused(client: TestClient, city: City) -> None:
    rid = _ask(client, "east_handler", "ROADS-PERMITS", ROWS).json()["id"]
    _problem(_approve(client, rid, "roads_steward", scope="everywhere"), 422, "scope")
    _problem(_approve(client, rid, "roads_steward", scope=None), 422, "scope")
    # Another department's steward does not even see the request; the requester may not decide it.
    _problem(_approve(client, rid, "env_steward", scope="city"), 404, "no sharing request")
    _problem(_approve(client, rid, "east_dispatcher", scope="city"), 404, "no sharing request")
    _problem(_approve(client, rid, "east_handler", scope="city"), 403, "may not decide")
    # The request is still pending: nothing was decided by the refused attempts.
    seen = client.get(f"/api/v1/catalog/requests/{rid}", headers=login(client, "east_handler")).json()
    assert seen["status"] == "pending"


@pytest.mark.parametrize(
    ("area_field", "message"),
    [
        ("nowhere", "area_field nowhere must be"),
        ("permit_no", "area_field permit_no must be"),
        ("length_m", "area_field length_m must be"),
        ("Bad Field", "area_field"),
    ],
)
def test_bad_area_fields_are_refused(client: TestClient, city: City, area_field: str, message: str) -> None:
    body = PERMITS | {"code": "ROADS-OTHER", "department": None, "area_field": area_field}
    _problem(
        client.post("/api/v1/catalog/resources", json=body, headers=login(client, "roads_steward")),
        422,
        message,
    )


def test_the_hubs_resources_take_no_area_field(client: TestClient, city: City) -> None:
    response = client.patch(
        "/api/v1/catalog/resources/CH-EVENTS", json={"area_field": "district"}, headers=login(client, "admin")
    )
    _problem(response, 422, "hub's own data")
    patched = client.patch(
        "/api/v1/catalog/resources/ROADS-PERMITS",
        json={"area_field": None},
        headers=login(client, "roads_steward"),
    )
    assert patched.status_code == 200 and patched.json()["area_field"] is None
    assert patched.json()["area_bound"] is False
    resource = client.get("/api/v1/catalog/resources/CH-EVENTS", headers=login(client, "admin")).json()
    assert resource["area_bound"] is True and resource["area_field"] is None


def test_a_catalog_sheet_declares_the_area_field() -> None:
    sheet = "\n".join(
        [
            "resource_code,resource_name,department,grade,sharing,area_field,field_name,field_type,role",
            "QY-2,企业,scjg,general_3,unconditional,district,uscc,string,key",
            "QY-2,,,,,,district,string,area",
        ]
    )
    (resource,) = csvio.parse_catalog_csv(sheet)
    assert resource.area_field == "district"
