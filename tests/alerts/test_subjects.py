"""Registering a person whose meters are watched (the consent is an instant that has happened), and who sees
who an alert is about: masked for everyone, revealed to their community's grid worker on purpose, audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.access.principal import SYSTEM
from cityhub.alerts import service, subjects
from cityhub.alerts.schemas import SubjectIn
from cityhub.alerts.service import Trigger
from cityhub.models.alert import AlertSource
from cityhub.models.area import Area, AreaLevel
from cityhub.models.audit import AuditLog
from cityhub.models.indicator import WarningLevel
from cityhub.models.org import Role
from tests.factories import add_user, build_city, login

URL = "/api/v1/alert-subjects"
GRID = "370201001001001"


def _subject(consent_at: str) -> dict[str, str]:
    return {"name": "王阿姨", "area": GRID, "consent_at": consent_at}


@pytest.mark.parametrize(
    ("consent_at", "says"),
    [
        ("0001-01-01T00:00:00+14:00", "between the years"),
        ("9999-12-31T23:59:59-12:00", "between the years"),
        ("2024-01-01T00:00:00", "UTC offset"),
        ("tomorrow", "in the future"),
    ],
)
def test_a_consent_time_that_cannot_have_happened_is_refused(
    client: TestClient, session: Session, consent_at: str, says: str
) -> None:
    build_city(session)
    if consent_at == "tomorrow":
        consent_at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    refused = client.post(URL, json=_subject(consent_at), headers=login(client, "admin"))
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert says in refused.json()["detail"] and "consent" in refused.json()["detail"]


def test_a_consent_given_with_an_offset_is_kept(client: TestClient, session: Session) -> None:
    build_city(session)
    created = client.post(URL, json=_subject("2024-01-01T08:00:00+08:00"), headers=login(client, "admin"))
    assert created.status_code == 201, created.text


def test_the_same_person_registered_twice_in_a_community_is_409(client: TestClient, session: Session) -> None:
    build_city(session)
    admin = login(client, "admin")
    body = {**_subject(datetime.now(UTC).isoformat()), "phone": "13900001111"}
    first = client.post(URL, json=body, headers=admin)
    assert first.status_code == 201, first.text
    again = client.post(URL, json=body, headers=admin)
    assert again.status_code == 409 and f"subject {first.json()['id']}" in again.json()["detail"]
    # Another person of the same name (another phone) is someone else.
    other = client.post(URL, json={**body, "phone": "13900002222"}, headers=admin)
    assert other.status_code == 201, other.text


# ---------------------------------------------------------------- who an alert is about

WEST_GRID = "370202001001001"
PERSON = {"name": "王秀英", "phone": "13805320171", "address": "东区1社区3号楼501"}
MASKED = {"name": "王**", "phone": "138****0171", "address": None, "masked": True}


def _alert(session: Session, *, subject_id: int | None) -> int:
    """An alert in the grid worker's grid (raised as the stream raises them), about a person or nobody, with
    the reading that raised it."""
    ids = {a.code: a.id for a in session.scalars(select(Area))}
    areas = {
        AreaLevel.DISTRICT: ids["370201"],
        AreaLevel.STREET: ids["370201001"],
        AreaLevel.COMMUNITY: ids["370201001001"],
        AreaLevel.GRID: ids[GRID],
    }
    trigger = Trigger(
        source_kind=AlertSource.THRESHOLD,
        source=f"gas-meter-{subject_id}",
        type="elderly.no_gas_24h",
        title="独居老人 24 小时未用燃气",
        level=WarningLevel.YELLOW,
        value=0.004,
        evidence=[{"device": f"gas-meter-{subject_id}", "metric": "gas_volume", "value": 812.404}],
        subject_id=subject_id,
        areas=areas,
    )
    return service.raise_alert(session, trigger).alert.id


def _alert_about_a_person(session: Session) -> tuple[int, int]:
    """An alert about a person living in the grid worker's community; a grid worker of the west district."""
    city = build_city(session)
    add_user(session, city, "west_grid_worker", Role.GRID_WORKER, area=WEST_GRID)
    person = subjects.register(
        session, SYSTEM, SubjectIn(**PERSON, area=GRID, consent_at=datetime.now(UTC) - timedelta(days=30))
    )
    alert_id = _alert(session, subject_id=person.id)
    session.flush()
    return alert_id, person.id


def _reads(session: Session) -> list[AuditLog]:
    return list(session.scalars(select(AuditLog).where(AuditLog.action == "read_personal_data")))


def test_an_alert_shows_its_subject_masked_even_to_the_grid_worker_who_may_reveal_it(
    client: TestClient, session: Session
) -> None:
    alert_id, person_id = _alert_about_a_person(session)
    worker = login(client, "grid_worker")
    seen = client.get(f"/api/v1/alerts/{alert_id}", headers=worker).json()["subject"]
    assert seen == {"id": person_id, "kind": "elderly_alone", **MASKED, "can_reveal": True}
    listed = client.get("/api/v1/alerts", headers=worker).json()["items"]
    assert [a["subject"] for a in listed] == [seen]
    for who in ("dispatcher", "admin", "supervisor"):
        other = client.get(f"/api/v1/alerts/{alert_id}", headers=login(client, who)).json()["subject"]
        assert other == {**seen, "can_reveal": False}, who
    assert _reads(session) == []  # nothing was shown, so nothing was read


def test_the_readings_behind_an_alert_about_a_person_are_for_their_grid_worker_only(
    client: TestClient, session: Session
) -> None:
    """The value and the evidence of such an alert are readings of the person's meter: shown to whoever may
    see who it is, as the readings themselves are (policy.readable_readings), withheld from everyone else."""
    alert_id, _ = _alert_about_a_person(session)
    about_nobody = _alert(session, subject_id=None)
    session.flush()
    seen = client.get(f"/api/v1/alerts/{alert_id}", headers=login(client, "grid_worker")).json()
    assert (seen["value"], [e["value"] for e in seen["evidence"]]) == (0.004, [812.404])
    for who in ("dispatcher", "admin", "supervisor"):
        headers = login(client, who)
        other = client.get(f"/api/v1/alerts/{alert_id}", headers=headers).json()
        assert (other["value"], other["evidence"]) == (None, []), who
        listed = {a["id"]: a for a in client.get("/api/v1/alerts", headers=headers).json()["items"]}
        assert (listed[alert_id]["value"], listed[alert_id]["evidence"]) == (None, []), who
        # An alert about no one keeps its readings for everyone who reads it.
        assert listed[about_nobody]["value"] == 0.004, who
    assert _reads(session) == []


def test_registering_a_person_answers_with_them_masked(client: TestClient, session: Session) -> None:
    build_city(session)
    body = {**PERSON, "area": GRID, "consent_at": datetime.now(UTC).isoformat()}
    created = client.post(URL, json=body, headers=login(client, "grid_worker"))
    assert created.status_code == 201, created.text
    assert created.json() == {
        "id": created.json()["id"],
        "kind": "elderly_alone",
        **MASKED,
        "can_reveal": True,
    }
    assert _reads(session) == []


def test_the_grid_worker_reveals_who_it_is_with_a_purpose_and_that_read_is_audited(
    client: TestClient, session: Session
) -> None:
    alert_id, person_id = _alert_about_a_person(session)
    shown = client.post(
        f"/api/v1/alerts/{alert_id}/subject",
        json={"purpose": "  上门探视，电话无人接听 "},
        headers=login(client, "grid_worker"),
    )
    assert shown.status_code == 200, shown.text
    assert shown.json() == {
        "id": person_id,
        "kind": "elderly_alone",
        **PERSON,
        "masked": False,
        "can_reveal": True,
    }
    [read] = _reads(session)
    assert (read.actor, read.object_type, read.object_id) == ("grid_worker", "alert_subjects", str(person_id))
    assert read.purpose == "上门探视，电话无人接听"
    assert read.changes == {"fields": ["name", "phone", "address"]}


@pytest.mark.parametrize(
    ("who", "status", "says"),
    [
        ("admin", 403, "only the grid workers of their community"),
        ("dispatcher", 403, "only the grid workers of their community"),
        ("supervisor", 403, "only the grid workers of their community"),
        ("west_grid_worker", 404, "no alert"),  # cannot read the alert at all
        ("roads_handler", 404, "no alert"),
        ("steward", 403, "may not alerts read"),
        ("citizen", 403, "may not alerts read"),
    ],
)
def test_a_reveal_by_anyone_else_is_refused_and_reads_nothing(
    client: TestClient, session: Session, who: str, status: int, says: str
) -> None:
    alert_id, _ = _alert_about_a_person(session)
    refused = client.post(
        f"/api/v1/alerts/{alert_id}/subject", json={"purpose": "核实情况"}, headers=login(client, who)
    )
    assert refused.status_code == status, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert says in refused.json()["detail"]
    assert "王秀英" not in refused.text and _reads(session) == []


@pytest.mark.parametrize(
    "body",
    [None, {}, {"purpose": " "}, {"purpose": "看"}, {"purpose": "看" * 201}, {"purpose": "上门\x00探视"}],
)
def test_a_reveal_without_a_purpose_is_422(
    client: TestClient, session: Session, body: dict[str, str] | None
) -> None:
    alert_id, _ = _alert_about_a_person(session)
    refused = client.post(
        f"/api/v1/alerts/{alert_id}/subject", json=body, headers=login(client, "grid_worker")
    )
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert _reads(session) == []


def test_a_reveal_of_no_alert_or_of_an_alert_about_nobody_says_so(
    client: TestClient, session: Session
) -> None:
    _alert_about_a_person(session)
    nobody = _alert(session, subject_id=None)
    session.flush()
    worker = login(client, "grid_worker")
    purpose = {"purpose": "上门探视"}
    unknown = client.post("/api/v1/alerts/999999/subject", json=purpose, headers=worker)
    assert unknown.status_code == 404 and unknown.json()["detail"] == "no alert 999999"
    empty = client.post(f"/api/v1/alerts/{nobody}/subject", json=purpose, headers=worker)
    assert empty.status_code == 422 and "not about a registered person" in empty.json()["detail"]
    assert _reads(session) == []
