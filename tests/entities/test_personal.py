"""A registered person's record (登记关爱对象): masked in every view, each read audited; revealed only to a
grid worker of their community who says why, and that read audited with the purpose."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.access.principal import SYSTEM
from cityhub.entities import codes, service
from cityhub.entities.schemas import SourceIn
from cityhub.models.audit import AuditLog
from cityhub.models.entity import Entity
from cityhub.models.org import Role
from tests.entities.helpers import add_entity
from tests.factories import add_user, build_city, login

PERSONAL = {"person_name": "王秀兰", "phone": "13812345678", "id_number": "11010519491231002X"}
EMERGENCY_CONTACT = "13900001111"


def _person(session: Session) -> Entity:
    """A person living in the grid worker's community, with a civil-affairs record naming their emergency
    contact; and a grid worker of the west district."""
    city = build_city(session)
    add_user(session, city, "west_grid_worker", Role.GRID_WORKER, area="370202001001001")
    person = add_entity(
        session,
        "VR",
        "独居老人登记",
        category="living_alone_elderly",
        consent_date="2026-10-01",
        **PERSONAL,
    )
    civil = SourceIn(system="civil", record_id="MZ-1", attributes={"emergency_contact": EMERGENCY_CONTACT})
    service.record_source(session, SYSTEM, person.code, civil)
    session.flush()
    return person


def _reads(session: Session, action: str = "read_personal_data") -> list[AuditLog]:
    """Audit rows of reads: reveals (``read_personal_data``), masked looks (``view_personal_record``)."""
    return list(session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def _reveal(client: TestClient, code: str, who: str, purpose: object = "上门探视") -> Response:
    return client.post(
        f"/api/v1/entities/{code}/personal", json={"purpose": purpose}, headers=login(client, who)
    )


def test_every_view_masks_the_person_and_tells_their_grid_worker_they_may_reveal(
    client: TestClient, session: Session
) -> None:
    person = _person(session)
    building = add_entity(session, "HR", "大厦", floors=30, height=99.5)
    session.flush()
    worker = login(client, "grid_worker")
    [listed] = client.get("/api/v1/entities", params={"type": "VR"}, headers=worker).json()["items"]
    shown = client.get(f"/api/v1/entities/{person.code}", headers=worker).json()
    for out in (listed, shown):
        assert out["masked"] and out["can_reveal"]
        assert out["attributes"]["person_name"] == "王**" and out["attributes"]["phone"] == "138****5678"
        assert out["attributes"]["id_number"] != PERSONAL["id_number"]
    assert shown["sources"][0]["attributes"]["emergency_contact"] == "139****1111"
    dispatcher = client.get(f"/api/v1/entities/{person.code}", headers=login(client, "dispatcher")).json()
    assert dispatcher["masked"] and not dispatcher["can_reveal"]
    plain = client.get(f"/api/v1/entities/{building.code}", headers=worker).json()
    assert not plain["masked"] and not plain["can_reveal"]
    # Each look at the person's record is audited, masked as it was, apart from the reveals.
    assert _reads(session) == []
    reads = _reads(session, "view_personal_record")
    assert [(r.actor, r.purpose) for r in reads] == [
        ("grid_worker", "list"),
        ("grid_worker", "detail"),
        ("dispatcher", "detail"),
    ]
    assert all(r.changes == {"code": person.code, "masked": True} for r in reads)


def test_the_grid_worker_reveals_the_record_with_a_purpose_and_that_read_is_audited_once(
    client: TestClient, session: Session
) -> None:
    person = _person(session)
    shown = _reveal(client, person.code, "grid_worker", " 上门探视，核对紧急联系人 ")
    assert shown.status_code == 200, shown.text
    out = shown.json()
    assert not out["masked"] and out["can_reveal"]
    assert {k: out["attributes"][k] for k in PERSONAL} == PERSONAL
    assert out["sources"][0]["attributes"]["emergency_contact"] == EMERGENCY_CONTACT
    [read] = _reads(session)
    assert (read.actor, read.object_type, read.object_id) == ("grid_worker", "entities", str(person.id))
    assert read.purpose == "上门探视，核对紧急联系人"
    assert read.changes == {"fields": ["person_name", "id_number", "phone", "emergency_contact"]}


@pytest.mark.parametrize(
    ("who", "status", "says"),
    [
        ("admin", 403, "only the grid workers of their community"),
        ("dispatcher", 403, "only the grid workers of their community"),
        ("east_dispatcher", 403, "only the grid workers of their community"),
        ("supervisor", 403, "only the grid workers of their community"),
        ("west_grid_worker", 404, "no entity"),  # cannot read the record at all
        ("roads_handler", 404, "no entity"),
        ("steward", 404, "no entity"),
        ("citizen", 403, "may not entities read"),
    ],
)
def test_a_reveal_by_anyone_else_is_refused_and_reads_nothing(
    client: TestClient, session: Session, who: str, status: int, says: str
) -> None:
    person = _person(session)
    refused = _reveal(client, person.code, who)
    assert refused.status_code == status, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert says in refused.json()["detail"]
    assert "王秀兰" not in refused.text and _reads(session) == []


@pytest.mark.parametrize("purpose", [None, " ", "看", "看" * 201, "上门\x00探视", 42])
def test_a_reveal_without_a_purpose_is_422(client: TestClient, session: Session, purpose: object) -> None:
    person = _person(session)
    refused = _reveal(client, person.code, "grid_worker", purpose)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert _reads(session) == []


def test_a_reveal_of_a_record_without_personal_data_or_of_no_record_says_so(
    client: TestClient, session: Session
) -> None:
    person = _person(session)
    building = add_entity(session, "HR", "大厦", floors=30, height=99.5)
    session.flush()
    plain = _reveal(client, building.code, "grid_worker")
    assert plain.status_code == 422 and "holds no personal data" in plain.json()["detail"]
    wrong_check = person.code[:-1] + ("A" if person.code[-1] != "A" else "B")
    malformed = _reveal(client, wrong_check, "grid_worker")
    assert malformed.status_code == 422 and "check character" in malformed.json()["detail"]
    unknown = _reveal(client, codes.compose(person.code[:6], "VR", 99_999_999), "grid_worker")
    assert unknown.status_code == 404 and "no entity" in unknown.json()["detail"]
    assert _reads(session) == []
