"""突发事件分级: an emergency graded Ⅰ–Ⅳ by the operation centre, at intake or later, with its reason on the
timeline and in the audit log; 较大 (Ⅲ) and above supervised at once; a scale apart from urgency."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.models.audit import AuditLog
from tests.events.test_api_lifecycle import _report, _setup
from tests.factories import login

GRADE = "/api/v1/events/{}/grade"


def _grade(
    client: TestClient, who: str, event_id: int, grade: str | None, reason: Any = "路面塌陷，一人受伤"
) -> Any:
    return client.post(
        GRADE.format(event_id), json={"grade": grade, "reason": reason}, headers=login(client, who)
    )


def test_the_operation_centre_grades_an_emergency_and_grave_ones_are_supervised(
    client: TestClient, session: Session
) -> None:
    _setup(session)
    event = _report(client, login(client, "grid_worker"))
    assert (event["grade"], event["grade_label"], event["supervised"]) == (None, None, False)

    graded = _grade(client, "dispatcher", event["id"], "IV")
    assert graded.status_code == 200, graded.text
    body = graded.json()
    assert (body["grade"], body["grade_label"], body["supervised"]) == ("IV", "Ⅳ级 一般", False)
    assert body["urgency"] == event["urgency"]  # a scale apart
    # The harm turns out larger: 较大 and above are reported up the line, so supervised from now on.
    raised = _grade(client, "east_dispatcher", event["id"], "II", "塌陷扩大，燃气管道受损").json()
    assert (raised["grade"], raised["grade_label"], raised["supervised"]) == ("II", "Ⅱ级 重大", True)
    # Lowered again, the supervision stays until the event is closed.
    lowered = _grade(client, "admin", event["id"], "IV", "复核后确认影响范围较小").json()
    assert (lowered["grade"], lowered["supervised"]) == ("IV", True)
    # Taken back: not an emergency after all.
    assert _grade(client, "dispatcher", event["id"], None, "经核实为一般市政问题").json()["grade"] is None

    timeline = client.get(f"/api/v1/events/{event['id']}", headers=login(client, "dispatcher")).json()[
        "timeline"
    ]
    grades = [(t["actor"], t["data"], t["note"]) for t in timeline if t["action"] == "grade"]
    assert grades == [
        ("dispatcher", {"from": None, "to": "IV"}, "路面塌陷，一人受伤"),
        ("east_dispatcher", {"from": "IV", "to": "II", "supervised": True}, "塌陷扩大，燃气管道受损"),
        ("admin", {"from": "II", "to": "IV"}, "复核后确认影响范围较小"),
        ("dispatcher", {"from": "IV", "to": None}, "经核实为一般市政问题"),
    ]
    changes = session.scalars(
        select(AuditLog.changes).where(
            AuditLog.object_type == "events",
            AuditLog.object_id == str(event["id"]),
            AuditLog.actor == "east_dispatcher",
        )
    ).all()
    assert {"grade": ["IV", "II"], "supervised": [False, True]}.items() <= changes[0].items()


def test_a_report_is_graded_as_it_comes_in_only_by_who_may_grade(
    client: TestClient, session: Session
) -> None:
    _setup(session)
    graded = _report(client, login(client, "dispatcher"), grade="III")
    assert (graded["grade"], graded["supervised"]) == ("III", True)
    assert _report(client, login(client, "dispatcher"), grade="IV")["supervised"] is False
    for who in ("grid_worker", "citizen", "east_handler", "supervisor"):
        body = {"title": "燃气泄漏", "category": "城乡建设/市政设施/道路破损", "grade": "I"}
        refused = client.post("/api/v1/events", json=body, headers=login(client, who))
        assert refused.status_code == 403, (who, refused.text)
        assert refused.json()["code"] == "grade_not_allowed" and "without a grade" in refused.json()["detail"]
    # Nothing was stored for the refused reports.
    listed = client.get("/api/v1/events", params={"q": "燃气泄漏"}, headers=login(client, "admin")).json()
    assert listed["total"] == 0


def test_who_may_grade_and_when(client: TestClient, session: Session) -> None:
    _setup(session)
    event = _report(client, login(client, "dispatcher"))
    for who in ("east_handler", "supervisor", "grid_worker"):
        refused = _grade(client, who, event["id"], "III")
        assert refused.status_code == 403, (who, refused.text)
    refused = _grade(client, "citizen", event["id"], "III")
    assert refused.status_code == 404  # not theirs to see
    same = _grade(client, "dispatcher", event["id"], None)
    assert same.status_code == 409 and same.json()["code"] == "grade_unchanged"
    other = _report(
        client,
        login(client, "dispatcher"),
        title="井盖缺失",
        description="",
        location={"lon": 120.2, "lat": 36.0},
    )
    merged = client.post(
        f"/api/v1/events/{event['id']}/merge", json={"into": other["id"]}, headers=login(client, "dispatcher")
    )
    assert merged.status_code == 200, merged.text
    final = _grade(client, "dispatcher", event["id"], "III")
    assert final.status_code == 409 and final.json()["code"] == "invalid_transition"


@pytest.mark.parametrize(
    "body",
    [
        {"grade": "V", "reason": "原因"},
        {"grade": "ii", "reason": "原因"},
        {"grade": 2, "reason": "原因"},
        {"grade": "II"},
        {"grade": "II", "reason": "x"},
        {"grade": "II", "reason": "原因", "level": "red"},
        {"reason": "原因"},
    ],
)
def test_bad_grades_are_422(client: TestClient, session: Session, body: dict[str, Any]) -> None:
    _setup(session)
    event = _report(client, login(client, "dispatcher"))
    response = client.post(GRADE.format(event["id"]), json=body, headers=login(client, "dispatcher"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_events_are_listed_by_grade(client: TestClient, session: Session) -> None:
    _setup(session)
    dispatcher = login(client, "dispatcher")
    numbers = {g: _report(client, dispatcher, grade=g)["number"] for g in ("I", "III", "IV")}
    plain = _report(client, dispatcher)["number"]

    def listed(**params: Any) -> set[str]:
        response = client.get("/api/v1/events", params=params, headers=dispatcher)
        assert response.status_code == 200, response.text
        return {e["number"] for e in response.json()["items"]}

    assert listed(grade="I") == {numbers["I"]}
    assert listed(grade=["I", "III"]) == {numbers["I"], numbers["III"]}
    assert plain in listed() and plain not in listed(grade=["I", "II", "III", "IV"])
    assert client.get("/api/v1/events", params={"grade": "V"}, headers=dispatcher).status_code == 422
