"""An event's whole life over the API, by the roles that take each step."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.dispatch import routing
from cityhub.events import categories
from cityhub.models.audit import AuditLog
from tests.factories import City, build_city, login

ROAD = "城乡建设/市政设施/道路破损"


def _setup(session: Session) -> City:
    city = build_city(session)
    cat = categories.find(session, ROAD)
    routing.add_rule(session, category_id=cat.id, lead_department_id=city.departments["roads"].id)
    routing.add_rule(
        session,
        category_id=cat.id,
        area_id=city.areas["370201"].id,
        lead_department_id=city.departments["east_roads"].id,
        co_department_ids=(city.departments["police"].id,),
    )
    session.flush()
    return city


def _report(client: TestClient, headers: dict[str, str], **over: Any) -> dict[str, Any]:
    body = {
        "title": "东区第1街道路面塌陷",
        "description": "市民来电反映路面出现塌陷坑，车辆经过危险。",
        "channel": "hotline_12345",
        "category": ROAD,
        "location": {"lon": 120.305, "lat": 36.005},
        "reporter": {"name": "张三丰", "phone": "13812345678"},
        **over,
    }
    response = client.post("/api/v1/events", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_report_is_stored_with_the_systems_part_in_one_write_even_with_cold_caches(
    client: TestClient, session: Session
) -> None:
    _setup(session)  # the reference data just changed: every cache intake reads is rebuilt on first use
    eid = _report(client, login(client, "dispatcher"))["id"]
    rows = session.scalars(
        select(AuditLog)
        .where(AuditLog.object_type == "events", AuditLog.object_id == str(eid))
        .order_by(AuditLog.id)
    ).all()
    # One INSERT of the event: the reporter's creation and one change by the system, with the suggestion
    # and the dispatch together (a flush in between would split the system's part in two rows).
    assert [(r.action, r.actor) for r in rows] == [("create", "dispatcher"), ("update", "system")]
    assert {"suggestion", "status", "lead_department_id"} <= set(rows[1].changes)
    assert rows[1].changes["status"] == ["received", "dispatched"]


def test_point_is_located_and_routed_to_the_district_department(client: TestClient, session: Session) -> None:
    _setup(session)
    event = _report(client, login(client, "dispatcher"))
    assert event["areas"]["district"]["code"] == "370201"
    assert event["areas"]["street"]["code"] == "370201001"
    assert event["areas"]["grid"]["code"] == "370201001001001"
    assert event["status"] == "dispatched"
    assert event["lead_department"]["code"] == "east-roads"
    assert {a["department"]["code"] for a in event["assignments"]} == {"east-roads", "traffic"}
    assert event["number"].count("-") == 1 and len(event["number"]) == 15
    assert event["sign_deadline"] is not None and event["resolve_deadline"] is not None


def test_gcj02_point_is_converted_before_locating(client: TestClient, session: Session) -> None:
    _setup(session)
    from cityhub.geo.crs import wgs84_to_gcj02

    lon, lat = wgs84_to_gcj02(120.305, 36.005)
    event = _report(client, login(client, "dispatcher"), location={"lon": lon, "lat": lat, "crs": "gcj02"})
    assert abs(event["location"]["lon"] - 120.305) < 1e-6
    assert event["areas"]["district"]["code"] == "370201"


def test_a_point_far_outside_the_city_is_refused_and_one_just_outside_goes_to_review(
    client: TestClient, session: Session
) -> None:
    _setup(session)
    dispatcher = login(client, "dispatcher")
    body = {"title": "路面塌陷", "category": ROAD, "address": "东区第1街道幸福路10号"}
    for lon, lat in ((0, 0), (116.397, 39.909), (-120.305, -36.005)):  # nowhere, Beijing, wrong signs
        far = client.post(
            "/api/v1/events", json={**body, "location": {"lon": lon, "lat": lat}}, headers=dispatcher
        )
        assert far.status_code == 422, far.text
        assert "far outside" in far.json()["detail"] and "longitude first" in far.json()["detail"]
    # 5 km east of the city's edge (at sea, say): kept, for a dispatcher to place.
    near = _report(client, dispatcher, location={"lon": 120.40, "lat": 36.005})
    assert near["location"] is not None and near["status"] == "received" and near["needs_review"]


def test_whole_life_by_the_right_roles(client: TestClient, session: Session) -> None:
    _setup(session)
    citizen = login(client, "citizen")
    event = _report(client, citizen)
    eid = event["id"]
    handler, police = login(client, "east_handler"), login(client, "police_handler")
    other = login(client, "roads_handler")

    # Another department cannot see it at all.
    assert client.get(f"/api/v1/events/{eid}", headers=other).status_code == 404
    assert client.post(f"/api/v1/events/{eid}/accept", json={}, headers=other).status_code == 404

    # An illegal transition is a 409 naming what is allowed.
    bad = client.post(f"/api/v1/events/{eid}/resolve", json={"resolution": "x"}, headers=handler)
    assert bad.status_code == 409
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert "accept" in bad.json()["allowed_actions"]
    # It names what this handler may do now, as the event's view lists it: not the dispatcher's or the
    # supervisor's actions.
    seen = client.get(f"/api/v1/events/{eid}", headers=handler).json()
    assert bad.json()["allowed_actions"] == seen["allowed_actions"]
    assert not {"dispatch", "supervise", "merge"} & set(bad.json()["allowed_actions"])

    steps = [
        (handler, "accept", {}),
        (police, "accept", {}),
        (handler, "start", {"note": "已派人赶赴现场"}),
        (police, "resolve", {"resolution": "已设置围挡并疏导交通"}),
        (handler, "notes", {"note": "正在回填"}),
        (handler, "resolve", {"resolution": "已回填修复路面"}),
    ]
    for headers, action, body in steps:
        response = client.post(f"/api/v1/events/{eid}/{action}", json=body, headers=headers)
        assert response.status_code == 200, (action, response.text)
    assert response.json()["status"] == "resolved"

    # The citizen rates; the event is closed.
    rated = client.post(
        f"/api/v1/events/{eid}/rate", json={"rating": 5, "comment": "很满意"}, headers=citizen
    )
    assert rated.status_code == 200, rated.text
    assert rated.json()["status"] == "closed"
    actions = [a["action"] for a in rated.json()["timeline"]]
    assert actions == [
        "create",
        "dispatch",
        "accept",
        "co_accept",
        "start",
        "co_resolve",
        "note",
        "resolve",
        "rate",
    ]
    # The citizen follows their report's progress, not the hub's internals: no suggestion, no staff names.
    assert rated.json()["suggestion"] is None
    assert {a["actor"] for a in rated.json()["timeline"]} == {"citizen", "staff"}
    assert all(a["data"] == {} for a in rated.json()["timeline"] if a["actor"] == "staff")
    staff_view = client.get(f"/api/v1/events/{eid}", headers=handler).json()
    assert staff_view["suggestion"] is not None
    assert "east_handler" in {a["actor"] for a in staff_view["timeline"]}

    # The audit log shows who did what.
    admin = login(client, "admin")
    audit = client.get(
        "/api/v1/audit", params={"object_type": "events", "object_id": str(eid)}, headers=admin
    )
    actors = {row["actor"] for row in audit.json()}
    assert {"citizen", "east_handler", "system"} <= actors
    # The reporter created it; the suggestion is the system's.
    assert [r["actor"] for r in audit.json() if r["action"] == "create"] == ["citizen"]
    suggested = [r for r in audit.json() if "suggestion" in r["changes"]]
    assert suggested and {r["actor"] for r in suggested} == {"system"}
    statuses = [row["changes"].get("status") for row in audit.json() if "status" in row["changes"]]
    assert ["resolved", "closed"] in statuses


def test_lead_cannot_resolve_before_co_handlers(client: TestClient, session: Session) -> None:
    _setup(session)
    eid = _report(client, login(client, "dispatcher"))["id"]
    handler = login(client, "east_handler")
    client.post(f"/api/v1/events/{eid}/accept", json={}, headers=handler)
    response = client.post(f"/api/v1/events/{eid}/resolve", json={"resolution": "done"}, headers=handler)
    assert response.status_code == 409
    assert "交警支队" in response.json()["detail"]
    # A program (the dashboard, in Chinese) knows the error and which departments it waits for.
    assert response.json()["code"] == "co_handlers_open"
    assert response.json()["departments"] == ["交警支队"]


def test_return_goes_back_to_dispatcher_who_redispatches(client: TestClient, session: Session) -> None:
    city = _setup(session)
    dispatcher = login(client, "dispatcher")
    eid = _report(client, dispatcher)["id"]
    handler = login(client, "east_handler")
    assert (
        client.post(f"/api/v1/events/{eid}/return", json={"reason": "x"}, headers=handler).status_code == 422
    )
    returned = client.post(
        f"/api/v1/events/{eid}/return", json={"reason": "属于市级道路，非区管"}, headers=handler
    )
    assert returned.json()["status"] == "returned"
    queue = client.get("/api/v1/review-queue", headers=dispatcher).json()
    assert eid in [e["id"] for e in queue["items"]]
    # The returning department can no longer act on it.
    assert client.post(f"/api/v1/events/{eid}/accept", json={}, headers=handler).status_code in (403, 404)
    again = client.post(
        f"/api/v1/events/{eid}/dispatch",
        json={"department": city.departments["roads"].id},
        headers=dispatcher,
    )
    assert again.status_code == 200, again.text
    assert again.json()["lead_department"]["code"] == "roads"
    assert (
        client.post(
            f"/api/v1/events/{eid}/accept", json={}, headers=login(client, "roads_handler")
        ).status_code
        == 200
    )


def test_reporter_is_masked_until_asked_for_with_a_purpose_and_the_read_is_audited(
    client: TestClient, session: Session
) -> None:
    _setup(session)
    dispatcher = login(client, "dispatcher")
    eid = _report(client, dispatcher)["id"]
    listed = client.get("/api/v1/events", headers=dispatcher).json()["items"][0]
    assert listed["reporter"]["name"] == "张**" and listed["reporter"]["phone"] == "138****5678"
    # Opening the event shows it masked too, and reads nothing personal.
    shown = client.get(f"/api/v1/events/{eid}", headers=dispatcher).json()["reporter"]
    assert shown == {"name": "张**", "phone": "138****5678", "anonymous": False, "can_reveal": True}
    supervisor = login(client, "supervisor")
    assert client.get(f"/api/v1/events/{eid}", headers=supervisor).json()["reporter"]["can_reveal"] is False

    def reads() -> list[tuple[str, str | None, Any]]:
        rows = session.scalars(
            select(AuditLog).where(AuditLog.action == "read_personal_data", AuditLog.object_id == str(eid))
        )
        return [(r.actor, r.purpose, r.changes["fields"]) for r in rows]

    assert reads() == []
    url = f"/api/v1/events/{eid}/reporter"
    refused = client.post(url, json={"purpose": "核实情况"}, headers=supervisor)
    assert refused.status_code == 403 and "call this event's reporter back" in refused.json()["detail"]
    for purpose in ({}, {"purpose": " "}, {"purpose": "x" * 201}, {"purpose": "回访\x00"}):
        assert client.post(url, json=purpose, headers=dispatcher).status_code == 422, purpose
    assert (
        client.post(
            "/api/v1/events/999999/reporter", json={"purpose": "回访"}, headers=dispatcher
        ).status_code
        == 404
    )
    assert reads() == []
    full = client.post(url, json={"purpose": "  回访报告人  "}, headers=dispatcher)
    assert (
        full.status_code == 200 and full.json()["phone"] == "13812345678" and full.json()["name"] == "张三丰"
    )
    assert reads() == [("dispatcher", "回访报告人", ["reporter_name", "reporter_phone"])]
    # A department that does not lead the event cannot even find it.
    assert client.post(url, json={"purpose": "回访"}, headers=login(client, "env_handler")).status_code == 404
    # The reporter's details never reach the audit log's change records.
    created = session.scalars(
        select(AuditLog).where(AuditLog.object_type == "events", AuditLog.action == "create")
    ).all()
    assert all("13812345678" not in str(r.changes) for r in created)


def test_district_dispatcher_sees_only_their_district(client: TestClient, session: Session) -> None:
    _setup(session)
    dispatcher = login(client, "dispatcher")
    east = _report(client, dispatcher)["id"]
    west = _report(client, dispatcher, location={"lon": 120.325, "lat": 36.005})["id"]
    seen = {
        e["id"]
        for e in client.get("/api/v1/events", headers=login(client, "east_dispatcher")).json()["items"]
    }
    assert east in seen and west not in seen


def test_unauthenticated_and_bad_input_get_clear_4xx(client: TestClient, session: Session) -> None:
    _setup(session)
    assert client.get("/api/v1/events").status_code == 401
    headers = login(client, "dispatcher")
    bad = client.post("/api/v1/events", json={"title": ""}, headers=headers)
    assert bad.status_code == 422 and bad.json()["errors"]
    # A body naming a category the taxonomy lacks is unprocessable (422), not a missing resource (404).
    unknown = client.post("/api/v1/events", json={"title": "x", "category": "不存在"}, headers=headers)
    assert unknown.status_code == 422
    assert unknown.headers["content-type"] == "application/problem+json"
    assert "不存在" in unknown.json()["detail"]
    off_map = client.post(
        "/api/v1/events", json={"title": "x", "location": {"lon": 500, "lat": 0}}, headers=headers
    )
    assert off_map.status_code == 422
    huge = client.post(
        "/api/v1/events", content=b"x" * 2_000_000, headers={**headers, "content-type": "application/json"}
    )
    assert huge.status_code == 413


def test_merge_cancel_and_reopen(client: TestClient, session: Session) -> None:
    _setup(session)
    dispatcher, citizen = login(client, "dispatcher"), login(client, "citizen")
    first = _report(client, citizen)["id"]
    # Given by address only, the second report is not close enough to be merged automatically.
    duplicate = _report(
        client, login(client, "citizen2"), category=None, location=None, address="东区第1街道"
    )["id"]
    assert (
        client.post(
            f"/api/v1/events/{duplicate}/merge", json={"into": duplicate}, headers=dispatcher
        ).status_code
        == 422
    )
    merged = client.post(f"/api/v1/events/{duplicate}/merge", json={"into": first}, headers=dispatcher).json()
    assert merged["status"] == "merged" and merged["merged_into"] == first
    timeline = client.get(f"/api/v1/events/{first}", headers=dispatcher).json()["timeline"]
    assert timeline[-1]["action"] == "merged_in"

    test_call = _report(client, dispatcher, category=None, title="测试来电", description="系统测试")["id"]
    cancelled = client.post(
        f"/api/v1/events/{test_call}/cancel", json={"reason": "测试来电"}, headers=dispatcher
    )
    assert cancelled.json()["status"] == "cancelled"

    handler = login(client, "east_handler")
    for who, action, body in [
        (handler, "accept", {}),
        (login(client, "police_handler"), "accept", {}),
        (login(client, "police_handler"), "resolve", {"resolution": "已疏导"}),
        (handler, "resolve", {"resolution": "已修复"}),
        (citizen, "rate", {"rating": 1, "comment": "没有修好"}),
    ]:
        assert client.post(f"/api/v1/events/{first}/{action}", json=body, headers=who).status_code == 200
    reopened = client.post(f"/api/v1/events/{first}/reopen", json={"reason": "路面仍有坑洞"}, headers=citizen)
    assert reopened.json()["status"] == "reopened"
    assert first in [e["id"] for e in client.get("/api/v1/review-queue", headers=dispatcher).json()["items"]]
    # Another citizen cannot see, rate or reopen someone else's report.
    assert (
        client.post(
            f"/api/v1/events/{first}/reopen", json={"reason": "xx"}, headers=login(client, "citizen2")
        ).status_code
        == 404
    )


def test_values_the_database_cannot_hold_are_400(client: TestClient, session: Session) -> None:
    _setup(session)
    headers = login(client, "dispatcher")
    assert client.get("/api/v1/events/by-number/a%00b", headers=headers).status_code in (400, 404)
    assert client.get("/api/v1/events", params={"q": "a\x00b"}, headers=headers).status_code in (200, 400)
    assert client.get(f"/api/v1/events/{2**64}", headers=headers).status_code == 422
    assert client.get("/api/v1/review-queue", params={"offset": 2**70}, headers=headers).status_code == 422
