"""一事多诉: a second report of an open problem nearby is merged, every reporter hears the result."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.dispatch import duplicates, routing
from cityhub.events import categories
from cityhub.models.category import Category
from cityhub.models.event import Channel, DeadlineState, Event, EventStatus
from tests.factories import City, build_city, login

ROAD = "城乡建设/市政设施/道路破损"
NOISE = "环境保护/噪声污染/施工噪声"
AT = {"lon": 120.305, "lat": 36.005}


def setup(session: Session) -> City:
    city = build_city(session)
    road = categories.find(session, ROAD).id
    routing.add_rule(session, category_id=road, lead_department_id=city.departments["east_roads"].id)
    noise = categories.find(session, NOISE).id
    routing.add_rule(session, category_id=noise, lead_department_id=city.departments["env"].id)
    session.flush()
    return city


def report(client: TestClient, who: str, **over: Any) -> dict[str, Any]:
    body = {
        "title": "东区第1街道幸福路12号路面破损",
        "description": "市民来电反映：幸福路12号北侧人行道地砖松动破损多处，老人孩子容易绊倒，请尽快处理。",
        "channel": "hotline_12345",
        "category": ROAD,
        "location": AT,
        "address": "幸福路12号北侧",
        "reporter": {"name": "王芳", "phone": "13912345678"},
        **over,
    }
    response = client.post("/api/v1/events", json=body, headers=login(client, who))
    assert response.status_code == 201, response.text
    return dict(response.json())


def again(client: TestClient, who: str = "dispatcher", **over: Any) -> dict[str, Any]:
    """Another caller, the same problem in other words, from a few metres away."""
    body = {
        "description": "又有市民来电反映：东区第1街道幸福路12号路面破损，称问题仍未解决，请尽快处理。",
        "location": {"lon": 120.3052, "lat": 36.0051},
        "reporter": {"name": "李强", "phone": "13712345678"},
    }
    return report(client, who, **{**body, **over})


def test_a_second_report_of_the_same_problem_is_merged_and_linked(
    client: TestClient, session: Session
) -> None:
    setup(session)
    first = report(client, "dispatcher")
    second = again(client)
    assert first["status"] == "dispatched"
    assert second["status"] == "merged" and second["merged_into"] == first["id"]
    assert second["assignments"] == [] and second["needs_review"] is False
    [candidate] = second["suggestion"]["duplicates"]
    assert candidate["number"] == first["number"] and candidate["merge"] is True
    assert candidate["distance_m"] < 30 and candidate["score"] >= duplicates.RULES.merge_at
    timeline = client.get(f"/api/v1/events/{second['id']}", headers=login(client, "dispatcher")).json()[
        "timeline"
    ]
    assert timeline[-1]["action"] == "merge" and timeline[-1]["actor"] == "system"

    linked = client.get(
        f"/api/v1/events/{first['id']}/duplicates", headers=login(client, "dispatcher")
    ).json()
    assert [r["number"] for r in linked["linked_reports"]] == [second["number"]]
    assert linked["linked_reports"][0]["reporter"]["name"] == "李*"  # masked in the list
    mine = client.get(f"/api/v1/events/{second['id']}/duplicates", headers=login(client, "dispatcher")).json()
    assert mine["master"]["number"] == first["number"]
    assert [(c["event"]["number"], c["status"]) for c in mine["candidates"]] == [(first["number"], "merged")]


def test_other_problems_at_the_same_place_and_far_away_reports_are_not_merged(
    client: TestClient, session: Session
) -> None:
    setup(session)
    first = report(client, "dispatcher")
    noise = report(
        client,
        "dispatcher",
        title="幸福路12号旁工地夜间施工噪声",
        description="市民来电反映：工地每天夜间施工，机械轰鸣声很大，严重影响周边居民休息。",
        category=NOISE,
    )
    far = again(client, location={"lon": 120.315, "lat": 36.015})  # about 1.4 km away
    assert noise["status"] == "dispatched" and noise["suggestion"]["duplicates"] == []
    assert far["status"] == "dispatched" and far["merged_into"] is None
    assert first["merged_into"] is None


def test_an_unsure_duplicate_is_proposed_and_the_dispatcher_decides(
    client: TestClient, session: Session
) -> None:
    setup(session)
    first = report(client, "dispatcher")
    # Given by address only: the detector cannot measure the distance, so it proposes and does not merge.
    unsure = again(client, location=None, address="东区第1街道幸福路12号", category=None)
    assert unsure["status"] == "received" and unsure["needs_review"] is True
    [proposal] = unsure["suggestion"]["duplicates"]
    assert proposal["number"] == first["number"] and proposal["merge"] is False
    dispatcher = login(client, "dispatcher")
    listed = client.get(f"/api/v1/events/{unsure['id']}/duplicates", headers=dispatcher).json()
    assert [(c["event"]["number"], c["status"]) for c in listed["candidates"]] == [
        (first["number"], "proposed")
    ]
    url = f"/api/v1/events/{unsure['id']}/duplicates/{first['id']}/dismiss"
    assert client.post(url, headers=login(client, "roads_handler")).status_code == 404  # cannot read it
    dismissed = client.post(url, headers=dispatcher).json()
    assert dismissed["candidates"][0]["status"] == "dismissed"
    assert (
        client.post(
            f"/api/v1/events/{unsure['id']}/duplicates/999999/dismiss", headers=dispatcher
        ).status_code
        == 404
    )


def test_every_reporter_hears_the_result_through_the_api_and_open311(
    client: TestClient, session: Session
) -> None:
    setup(session)
    first = report(client, "dispatcher")
    mine = again(client, "citizen", channel="app", reporter=None)
    assert mine["status"] == "merged"
    citizen = login(client, "citizen")
    assert client.get(f"/api/v1/events/{first['id']}", headers=citizen).status_code == 404  # not theirs
    before = client.get(f"/api/v1/events/{mine['id']}/duplicates", headers=citizen).json()["master"]
    assert before["status"] == "dispatched" and before["resolution"] is None
    open311 = client.get(f"/open311/v2/requests/{mine['number']}.json").json()[0]
    assert open311["status"] == "open"

    handler = login(client, "east_handler")
    assert client.post(f"/api/v1/events/{first['id']}/accept", json={}, headers=handler).status_code == 200
    done = client.post(
        f"/api/v1/events/{first['id']}/resolve", json={"resolution": "已更换破损地砖"}, headers=handler
    )
    assert done.status_code == 200
    after = client.get(f"/api/v1/events/{mine['id']}/duplicates", headers=citizen).json()["master"]
    assert after["status"] == "resolved" and after["resolution"] == "已更换破损地砖"
    open311 = client.get(f"/open311/v2/requests/{mine['number']}.json").json()[0]
    assert open311["status"] == "closed" and "已更换破损地砖" in open311["status_notes"]
    assert first["number"] in open311["status_notes"]
    closed = client.get("/open311/v2/requests.json", params={"status": "closed"}).json()
    assert mine["number"] in {r["service_request_id"] for r in closed}


def test_old_and_finished_events_are_not_merge_targets(client: TestClient, session: Session) -> None:
    setup(session)
    first = report(client, "dispatcher")
    event = session.get(Event, first["id"])
    assert event is not None
    event.created_at = datetime.now(UTC) - duplicates.RULES.window - timedelta(hours=1)
    session.flush()
    later = again(client)
    assert later["status"] == "dispatched" and later["suggestion"]["duplicates"] == []


def test_scores_rank_the_same_problem_above_a_neighbour_of_the_same_kind() -> None:
    at = datetime(2026, 11, 2, tzinfo=UTC)
    corpus = [
        "市民来电反映：路面破损，请尽快处理。",
        "市民反映：垃圾清运不及时。",
        "市民反映：路灯不亮。",
    ] * 20
    model = duplicates.TextModel(corpus)

    def r(i: int, title: str, text: str, lon: float) -> duplicates.Report:
        return duplicates.Report(i, f"N{i}", f"{title}。{text}", at, title, lon, 36.0, ROAD)

    new = r(0, "幸福路12号路面破损", "又有市民来电反映：幸福路12号路面破损，称问题仍未解决。", 120.3000)
    same = r(1, "幸福路12号路面破损", "市民来电反映：幸福路12号人行道地砖松动破损多处。", 120.3002)
    neighbour = r(2, "幸福路30号路面破损", "市民来电反映：幸福路30号人行道地砖松动破损多处。", 120.3012)
    ranked = duplicates.rank(model, new, [neighbour, same])
    assert [c.event_id for c in ranked] == [1, 2]
    assert ranked[0].merge and not ranked[1].merge


MANHOLE = "城乡建设/市政设施/井盖缺失"
AGAIN = ("幸福路12号路面破损", "又有市民来电反映：幸福路12号路面破损，称问题仍未解决。")
SAME = ("幸福路12号路面破损", "市民来电反映：幸福路12号人行道地砖松动破损多处，请尽快处理。")
NEIGHBOUR = ("幸福路30号路面破损", "市民反映：幸福路30号附近人行道地砖破损，老人容易绊倒。")
OTHER = ("幸福路工地夜间施工噪声", "市民来电反映：工地夜间施工，机械轰鸣声很大，影响居民休息。")


def around(session: Session, lon: float, lat: float) -> list[Event]:
    """Open reports every 25 m in eight directions up to 750 m away (the search box's corners included):
    the very words of ``AGAIN``, the same problem, a neighbour's, another one; of the same, a sibling,
    another or no category."""
    paths = [ROAD, MANHOLE, NOISE, None]
    ids = {p: categories.find(session, p).id for p in paths if p is not None}
    at = datetime.now(UTC) - timedelta(hours=1)
    events = []
    for i, (distance, bearing) in enumerate((d, b) for d in range(0, 751, 25) for b in range(0, 360, 45)):
        title, description = (AGAIN, SAME, NEIGHBOUR, OTHER)[i % 4]
        path = paths[i // 4 % 4]
        dlat = distance * math.cos(math.radians(bearing)) / 111_195
        dlon = distance * math.sin(math.radians(bearing)) / (111_195 * math.cos(math.radians(lat)))
        events.append(
            Event(
                number=f"T{i:05d}",
                title=title,
                description=description,
                channel=Channel.HOTLINE,
                category_id=ids[path] if path and i % 3 else None,
                suggested_category_id=ids[path] if path and not i % 3 else None,
                status=EventStatus.DISPATCHED,
                lon=lon + dlon,
                lat=lat + dlat,
                address="幸福路12号",
                created_at=at + timedelta(seconds=i * 37 % 1000),  # newest not the farthest
                updated_at=at,
                deadline_state=DeadlineState.NORMAL,
            )
        )
    session.add_all(events)
    session.flush()
    return events


def one_by_one(
    session: Session, new: Event, others: list[Event], rules: duplicates.Rules, category_id: int
) -> list[duplicates.Candidate]:
    """What ``detect`` proposes, found the slow way: every pair of the newest ``max_scanned`` reports in
    the search box scored, those reaching ``propose_at`` kept."""
    assert new.lon is not None and new.lat is not None
    paths = {c.id: c.path for c in session.scalars(select(Category))}

    def as_report(e: Event, category_id: int | None) -> duplicates.Report:
        text = duplicates.report_text(e.title, e.description)
        category = paths.get(category_id or 0)
        return duplicates.Report(
            e.id, e.number, text, e.created_at, e.title, e.lon, e.lat, category, e.address
        )

    lon, lat = new.lon, new.lat
    dlat = rules.search_radius_m / 111_320
    dlon = dlat / math.cos(math.radians(lat))

    def in_box(e: Event) -> bool:
        assert e.lon is not None and e.lat is not None
        return abs(e.lat - lat) <= dlat and abs(e.lon - lon) <= dlon

    in_the_box = [e for e in others if in_box(e)]
    scanned = sorted(in_the_box, key=lambda e: (e.created_at, e.id), reverse=True)[: rules.max_scanned]
    every = [as_report(e, e.category_id or e.suggested_category_id) for e in scanned]
    ranked = duplicates.rank(duplicates.corpus.get(session), as_report(new, category_id), every, rules)
    return [c for c in ranked if c.score >= rules.propose_at][: rules.keep]


@pytest.mark.parametrize(
    "rules",
    [
        duplicates.RULES,
        duplicates.Rules(propose_at=0.2, keep=100),
        duplicates.Rules(propose_at=0.2, keep=100, max_scanned=60),
        duplicates.Rules(propose_at=0.2, keep=100, search_radius_m=6_000),  # too many squares: by time
    ],
)
@pytest.mark.parametrize(("lon", "lat"), [(120.305, 36.005), (18.95, 69.65), (-70.9, -53.2)])
def test_detection_proposes_what_scoring_every_pair_would(
    session: Session, rules: duplicates.Rules, lon: float, lat: float
) -> None:
    """Reports too far away or of another kind are left out before their texts are compared: the
    proposals are still those of scoring every pair, at the edge of ``propose_at``'s reach too."""
    setup(session)
    others = around(session, lon, lat)
    now = datetime.now(UTC)
    new = Event(
        number="T99999",
        title=AGAIN[0],
        description=AGAIN[1],
        channel=Channel.APP,
        status=EventStatus.RECEIVED,
        lon=lon,
        lat=lat,
        address="幸福路12号北侧",
        created_at=now,
        updated_at=now,
        deadline_state=DeadlineState.NORMAL,
    )
    session.add(new)
    session.flush()
    road = categories.find(session, ROAD).id
    expected = one_by_one(session, new, others, rules, road)
    assert len(expected) >= 3
    assert duplicates.detect(session, new, rules, category_id=road) == expected
