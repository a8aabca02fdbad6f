"""Reference data kept in the process: current after every kind of write, never after a rollback."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from cityhub.dispatch import routing
from cityhub.events import categories, deadlines
from cityhub.kit import cache
from cityhub.kit.timeutil import clock
from cityhub.models.dispatch import DispatchModel, Place, PlaceKind
from cityhub.models.event import Urgency
from cityhub.models.revision import REFERENCE_TABLES, ReferenceRevision
from cityhub.org import service as org
from tests.factories import build_city, login

ROAD = "城乡建设/市政设施/道路破损"


def _stored(session: Session) -> int:
    return int(session.scalar(select(ReferenceRevision.value)) or 0)


def _one_row_in_each(session: Session) -> None:
    city = build_city(session)
    road = categories.find(session, ROAD).id
    roads, east = city.departments["roads"].id, city.areas["370201"].id
    routing.add_rule(session, category_id=road, lead_department_id=roads)
    deadlines.set_sla(session, category_id=road, urgency=None, sign_within="4wh", resolve_within="3wd")
    session.add(Place(name="五四广场", kind=PlaceKind.LANDMARK, area_id=east, aliases=[], source="test"))
    session.add(
        DispatchModel(
            version="v1",
            path="models/dispatch/v1.pkl",
            created_at=clock.now(),
            target_precision=0.97,
            trained_by="test",
        )
    )
    session.flush()


@pytest.mark.parametrize("table", REFERENCE_TABLES)
def test_every_write_to_a_reference_table_changes_the_revision(session: Session, table: str) -> None:
    _one_row_in_each(session)
    before = _stored(session)
    # Plain SQL, as another process or a person at the database console would write.
    assert session.execute(text(f"UPDATE {table} SET id = id")).rowcount
    assert _stored(session) != before


def test_inserts_and_deletes_change_it_too(session: Session) -> None:
    city = build_city(session)
    before = _stored(session)
    rule = routing.add_rule(session, lead_department_id=city.departments["roads"].id)
    inserted = _stored(session)
    routing.delete_rule(session, rule.id)
    assert len({before, inserted, _stored(session)}) == 3


def test_the_same_session_sees_its_own_edits_at_once(session: Session) -> None:
    city = build_city(session)
    road = categories.find(session, ROAD).id
    east = city.areas["370201"].id
    assert routing.find_route(session, road, [east]) is None
    rule = routing.add_rule(session, category_id=road, lead_department_id=city.departments["roads"].id)
    route = routing.find_route(session, road, [east])
    assert route is not None and route.rule_id == rule.id

    categories.import_rows(session, [["城乡建设", "市政设施", "路灯不亮"]])
    assert categories.find(session, "路灯不亮").path == "城乡建设/市政设施/路灯不亮"


def test_a_write_by_plain_sql_is_seen_by_the_next_transaction(session: Session) -> None:
    city = build_city(session)
    roads = city.departments["roads"]
    assert org.departments(session)[roads.id].name == roads.name
    session.commit()  # (a savepoint release in the test's transaction)
    session.execute(text("UPDATE departments SET name = '道路养护中心' WHERE id = :id"), {"id": roads.id})
    session.commit()
    assert org.departments(session)[roads.id].name == "道路养护中心"


def test_a_rolled_back_write_leaves_what_was_kept_before(session: Session) -> None:
    city = build_city(session)
    road = categories.find(session, ROAD).id
    deadlines.set_sla(session, category_id=road, urgency=None, sign_within="4wh", resolve_within="3wd")
    session.commit()
    before = _stored(session)
    assert str(deadlines.find_sla(session, road, Urgency.NORMAL).sign_within) == "4wh"

    savepoint = session.begin_nested()
    deadlines.set_sla(session, category_id=road, urgency=None, sign_within="1wh", resolve_within="1wd")
    assert str(deadlines.find_sla(session, road, Urgency.NORMAL).sign_within) == "1wh"
    savepoint.rollback()

    assert _stored(session) == before
    assert str(deadlines.find_sla(session, road, Urgency.NORMAL).sign_within) == "4wh"
    assert city.departments["roads"].id in org.departments(session)


def test_the_revision_is_read_once_per_transaction(session: Session) -> None:
    build_city(session)
    session.commit()
    statements: list[str] = []
    connection = session.connection()

    def seen(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(connection, "before_cursor_execute", seen)
    try:
        for _ in range(3):
            categories.find(session, ROAD)
            org.departments(session)
            routing.find_route(session, None, [])
    finally:
        event.remove(connection, "before_cursor_execute", seen)
    assert sum("reference_revision" in s for s in statements) == 1
    assert cache.revision(session) == _stored(session)


def test_a_request_reads_the_revision_with_its_principal(client: TestClient, session: Session) -> None:
    """The revision comes along with the request's principal (no round trip of its own), and it is the
    one the request's transaction starts at: an edit made between two requests is seen by the second."""
    city = build_city(session)
    roads = city.departments["roads"]
    routing.add_rule(session, category_id=categories.find(session, ROAD).id, lead_department_id=roads.id)
    session.commit()
    headers = login(client, "dispatcher")
    report = {"title": "路面破损", "category": ROAD, "location": {"lon": 120.305, "lat": 36.005}}
    created = client.post("/api/v1/events", json=report, headers=headers)
    assert created.status_code == 201, created.text
    url = f"/api/v1/events/{created.json()['id']}"

    statements: list[str] = []

    def seen(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(session.get_bind(), "before_cursor_execute", seen)
    try:
        assert client.get(url, headers=headers).json()["lead_department"]["name"] == roads.name
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", seen)
    reading = [s for s in statements if "reference_revision" in s]
    assert len(reading) == 1 and "users" in reading[0]

    session.execute(text("UPDATE departments SET name = '道路养护中心' WHERE id = :id"), {"id": roads.id})
    session.commit()
    assert client.get(url, headers=headers).json()["lead_department"]["name"] == "道路养护中心"
