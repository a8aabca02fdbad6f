"""SLA policies over the API: durations a deadline can be computed from, resolution not due before signing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cityhub.dispatch import routing
from cityhub.events import categories
from cityhub.models.routing import SlaPolicy
from tests.factories import build_city, login

ROAD = "城乡建设/市政设施/道路破损"


def _road(session: Session) -> str:
    """The road category, routed to the roads bureau: a report in it is dispatched and gets deadlines."""
    city = build_city(session)
    road = categories.find(session, ROAD)
    routing.add_rule(session, category_id=road.id, lead_department_id=city.departments["roads"].id)
    session.flush()
    return road.code


@pytest.mark.parametrize(
    ("sign", "resolve", "says"),
    [
        ("99999999h", "1d", "sign_within: "),
        ("2h", "400d", "resolve_within: "),
        ("5d", "1h", "resolve_within (1h) comes before sign_within (5d)"),
        ("3wd", "2wd", "resolve_within (2wd) comes before sign_within (3wd)"),
    ],
)
def test_an_sla_that_cannot_be_met_is_422_and_reports_stay_accepted(
    client: TestClient, session: Session, sign: str, resolve: str, says: str
) -> None:
    road = _road(session)
    admin = login(client, "admin")
    body = {"category": road, "sign_within": sign, "resolve_within": resolve}
    refused = client.post("/api/v1/sla-policies", json=body, headers=admin)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert says in refused.json()["detail"]
    report = {"title": "路面塌陷", "category": road, "location": {"lon": 120.305, "lat": 36.005}}
    created = client.post("/api/v1/events", json=report, headers=login(client, "citizen"))
    assert created.status_code == 201, created.text


def test_a_year_long_sla_is_accepted_and_its_deadline_computed(client: TestClient, session: Session) -> None:
    road = _road(session)
    admin = login(client, "admin")
    body = {"category": road, "sign_within": "2h", "resolve_within": "250wd"}
    assert client.post("/api/v1/sla-policies", json=body, headers=admin).status_code == 201
    report = {"title": "路面塌陷", "category": road, "location": {"lon": 120.305, "lat": 36.005}}
    created = client.post("/api/v1/events", json=report, headers=login(client, "citizen"))
    assert created.status_code == 201, created.text
    assert created.json()["resolve_deadline"] is not None


def test_an_sla_stored_before_the_bounds_is_skipped_not_fatal(client: TestClient, session: Session) -> None:
    road = _road(session)
    category = categories.find(session, ROAD)
    session.add(SlaPolicy(category_id=category.id, sign_within="99999999h", resolve_within="1d"))
    session.flush()
    report = {"title": "路面塌陷", "category": road, "location": {"lon": 120.305, "lat": 36.005}}
    created = client.post("/api/v1/events", json=report, headers=login(client, "citizen"))
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "dispatched" and created.json()["sign_deadline"] is not None
