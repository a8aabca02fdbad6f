"""The catalog (一本账): the hub's own data graded automatically, registering, 就高从严, browse and search."""

from __future__ import annotations

import copy

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityhub.access.principal import SYSTEM, Principal
from cityhub.catalog import service
from cityhub.catalog.schemas import ResourceIn, ResourceUpdate
from cityhub.kit.errors import Conflict, Forbidden, Unprocessable
from cityhub.models.catalog import DataGrade
from cityhub.models.org import Role
from tests.catalog.helpers import CARE, PERMITS, add_stewards, care_rows, csv_text, permit_rows, register
from tests.factories import build_city, login


def test_the_hubs_own_data_is_registered_with_default_grades(session: Session) -> None:
    city = build_city(session)
    found = {r.code: r for r in service.search(session, SYSTEM, service.ResourceFilter(builtin=True))}
    assert {"CH-EVENTS", "CH-AREAS", "CH-DEPARTMENTS", "CH-AUDIT", "CH-VULNERABLE"} <= set(found)
    # Reporter identity and the whereabouts of vulnerable people: sensitive personal information → 重要.
    assert found["CH-EVENTS"].grade == DataGrade.IMPORTANT
    assert found["CH-VULNERABLE"].grade == DataGrade.IMPORTANT
    assert found["CH-AREAS"].grade == DataGrade.GENERAL_1
    assert {r.department_id for r in found.values()} == {city.departments["centre"].id}
    # A second look registers nothing twice.
    assert service.ensure_builtin(session) == 0


def test_an_empty_hub_registers_nothing(session: Session) -> None:
    assert service.ensure_builtin(session) == 0


def test_sensitive_personal_information_lifts_the_grade(session: Session) -> None:
    """就高从严: declared 一般(2级) but holding sensitive personal information → 重要."""
    build_city(session)
    resource = register(session, CARE)
    assert resource.grade == DataGrade.IMPORTANT
    with pytest.raises(Unprocessable, match="cannot be empty"):
        service.update(session, SYSTEM, "ENV-CARE", ResourceUpdate.model_validate({"grade": None}))
    lowered = service.update(session, SYSTEM, "ENV-CARE", ResourceUpdate(grade=DataGrade.GENERAL_1))
    assert lowered.grade == DataGrade.IMPORTANT


def test_a_steward_registers_for_their_own_department_only(session: Session) -> None:
    city = build_city(session)
    add_stewards(session, city)
    steward = Principal(
        city.users["roads_steward"].id,
        "roads_steward",
        Role.DATA_STEWARD,
        department_id=city.departments["roads"].id,
    )
    spec = copy.deepcopy(PERMITS)
    del spec["department"]
    resource = service.register(session, steward, ResourceIn.model_validate(spec))
    assert resource.department_id == city.departments["roads"].id
    other = copy.deepcopy(PERMITS) | {"code": "ENV-X", "department": "env"}
    with pytest.raises(Forbidden):
        service.register(session, steward, ResourceIn.model_validate(other))
    with pytest.raises(Conflict):
        service.register(session, SYSTEM, ResourceIn.model_validate(PERMITS))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sharing_conditions": ""}, "needs its conditions"),
        ({"quality_checks": [{"dimension": "completeness", "fields": ["nope"]}]}, "unknown fields"),
        (
            {
                "quality_checks": [
                    {"dimension": "conformity", "fields": ["permit_no"], "format": "regex", "pattern": "(("}
                ]
            },
            "invalid regular expression",
        ),
        ({"fields": [{"name": "a"}, {"name": "a"}]}, "must be unique"),
        ({"department": "nowhere"}, "no department"),
    ],
)
def test_bad_declarations_are_refused(session: Session, change: dict[str, object], message: str) -> None:
    build_city(session)
    spec = copy.deepcopy(PERMITS) | change
    if "fields" in change:
        spec["quality_checks"] = []
    with pytest.raises(Unprocessable, match=message):
        service.register(session, SYSTEM, ResourceIn.model_validate(spec))


def test_personal_fields_are_masked_by_default() -> None:
    spec = ResourceIn.model_validate(
        copy.deepcopy(PERMITS) | {"fields": [{"name": "who", "personal": True}], "quality_checks": []}
    )
    assert spec.fields[0].mask == "redact"


def test_browse_and_search(client: TestClient, session: Session) -> None:
    build_city(session)
    register(session, PERMITS, permit_rows(5))
    register(session, CARE)
    headers = login(client, "dispatcher")

    def codes(**params: str) -> set[str]:
        response = client.get("/api/v1/catalog/resources", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return {r["code"] for r in response.json()}

    assert {"ROADS-PERMITS", "ENV-CARE", "CH-EVENTS"} <= codes()
    assert codes(department="roads") == {"ROADS-PERMITS"}
    assert codes(tag="许可") == {"ROADS-PERMITS"}
    assert codes(tag="民生") == {"ENV-CARE", "CH-VULNERABLE"}
    assert codes(grade="important") >= {"ENV-CARE", "CH-EVENTS"}
    assert "ROADS-PERMITS" not in codes(grade="important")
    assert codes(q="挖掘") == {"ROADS-PERMITS"}
    assert codes(sharing="none") >= {"CH-AUDIT"}
    detail = client.get("/api/v1/catalog/resources/ROADS-PERMITS", headers=headers).json()
    assert detail["sample_rows"] == 5 and detail["has_data"] is True
    assert detail["grade_label"] == "一般数据（3级）" and detail["sharing_label"] == "有条件共享"
    assert client.get("/api/v1/catalog/resources/NOPE-1", headers=headers).status_code == 404


def test_citizens_see_only_what_is_open(client: TestClient, session: Session) -> None:
    build_city(session)
    headers = login(client, "citizen")
    codes = {r["code"] for r in client.get("/api/v1/catalog/resources", headers=headers).json()}
    assert "CH-AREAS" in codes  # 无条件开放
    assert "CH-EVENTS" not in codes  # 不予开放
    assert client.get("/api/v1/catalog/resources/CH-EVENTS", headers=headers).status_code == 404


def test_register_and_upload_through_the_api(client: TestClient, session: Session) -> None:
    city = build_city(session)
    add_stewards(session, city)
    headers = login(client, "roads_steward")
    spec = copy.deepcopy(PERMITS)
    del spec["department"]
    created = client.post("/api/v1/catalog/resources", json=spec, headers=headers)
    assert created.status_code == 201, created.text
    rows = permit_rows(6)
    rows[2]["length_m"] = "long"
    upload = client.put(
        "/api/v1/catalog/resources/ROADS-PERMITS/sample",
        files={"file": ("permits.csv", csv_text(rows).encode(), "text/csv")},
        headers=headers,
    )
    assert upload.status_code == 200, upload.text
    assert upload.json()["rows"] == 6
    assert "row 3, length_m" in upload.json()["rejected"][0]
    bad = client.put(
        "/api/v1/catalog/resources/ROADS-PERMITS/sample",
        files={"file": ("x.csv", b"who,what\n1,2\n", "text/csv")},
        headers=headers,
    )
    assert bad.status_code == 422 and "unknown: who, what" in bad.json()["detail"]
    other = login(client, "env_steward")
    forbidden = client.put(
        "/api/v1/catalog/resources/ROADS-PERMITS/sample",
        files={"file": ("p.csv", csv_text(rows).encode(), "text/csv")},
        headers=other,
    )
    assert forbidden.status_code == 403
    regrade = client.patch(
        "/api/v1/catalog/resources/ROADS-PERMITS",
        json={"grade": "general_4", "tags": ["许可"]},
        headers=headers,
    )
    assert regrade.status_code == 200 and regrade.json()["grade"] == "general_4"
    assert (
        client.patch(
            "/api/v1/catalog/resources/ROADS-PERMITS", json={"grade": "x"}, headers=headers
        ).status_code
        == 422
    )


def test_sample_rows_of_care_records(session: Session) -> None:
    build_city(session)
    resource = register(session, CARE, care_rows({"370201001": 3}))
    assert service.detail(session, resource).sample_rows == 3
    assert service.detail(session, resource).holds_sensitive_personal_information
