"""The classifier in the product: retraining from the hub's history, the registry, suggestions at intake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.access.principal import SYSTEM
from cityhub.dispatch import routing, service
from cityhub.dispatch.service import HubDispatchPolicy
from cityhub.events import categories
from cityhub.events import service as events
from cityhub.events.schemas import EventIn, LocationIn
from cityhub.kit.settings import Settings
from cityhub.models.dispatch import DispatchModel
from cityhub.models.event import Channel, Event, EventStatus
from tests.factories import City, build_city, login

ROAD = "城乡建设/市政设施/道路破损"
MANHOLE = "城乡建设/市政设施/井盖缺失"
NOISE = "环境保护/噪声污染/施工噪声"
PLACES = ("幸福路", "和平路", "解放路", "建设路", "人民路", "团结路", "胜利路", "光明路")
TEMPLATES = {
    ROAD: ("{p}{n}号路面破损", "{p}{n}号路面出现坑洼，车辆经过颠簸，人行道地砖松动"),
    MANHOLE: ("{p}{n}号井盖缺失", "{p}{n}号一处雨水井盖缺失，夜间行人容易跌落"),
    NOISE: ("{p}{n}号工地夜间施工噪声", "{p}{n}号工地夜间施工，机械轰鸣声很大，影响居民休息"),
}
EAST = LocationIn(lon=120.305, lat=36.005)
START = datetime(2026, 9, 1, tzinfo=UTC)


def setup(session: Session) -> City:
    city = build_city(session)
    for path, dept in ((ROAD, "east_roads"), (MANHOLE, "roads"), (NOISE, "env")):
        routing.add_rule(
            session,
            category_id=categories.find(session, path).id,
            lead_department_id=city.departments[dept].id,
        )
    session.flush()
    return city


def history(session: Session, per_category: int, *, start: datetime = START, wrong: bool = False) -> None:
    """Handled events of the past (closed, final category known), one per hour; ``wrong``: mislabelled."""
    paths = list(TEMPLATES)
    ids = {path: categories.find(session, path).id for path in paths}
    for i in range(per_category * len(paths)):
        path = paths[i % len(paths)]
        title, text = TEMPLATES[path]
        place = {"p": PLACES[i % len(PLACES)], "n": str(i)}
        label = paths[(i + 1) % len(paths)] if wrong else path
        session.add(
            Event(
                number=f"H{int(start.timestamp())}-{i:05d}",
                title=title.format_map(place),
                description=text.format_map(place),
                channel=Channel.HOTLINE,
                category_id=ids[label],
                status=EventStatus.CLOSED,
                created_at=start + timedelta(hours=i),
                updated_at=start + timedelta(hours=i),
            )
        )
    session.flush()


def new_report(session: Session, policy: HubDispatchPolicy, title: str, **over: Any) -> Event:
    data = EventIn.model_validate({"title": title, "channel": "app", **over})
    return events.create(session, SYSTEM, data, policy)


def test_retraining_registers_an_active_version_that_suggests_for_uncategorised_reports(
    session: Session, settings: Settings
) -> None:
    setup(session)
    history(session, per_category=14)
    row = service.retrain(session, SYSTEM, settings.data_dir, n_jobs=1)
    assert row.active and (settings.data_dir / row.path).is_file()
    assert row.metrics["examples"] == 42 and row.metrics["train"]["labels"] == 3
    assert row.metrics["test"]["top1"] == 1.0 and row.metrics["test"]["top3"] == 1.0
    assert 0 < row.metrics["test"]["auto_dispatch_rate"] <= 1
    assert row.threshold is not None and row.note.startswith("activated")

    policy = HubDispatchPolicy(settings)
    title, text = TEMPLATES[MANHOLE]
    located = new_report(
        session,
        policy,
        title.format(p="光明路", n=99),
        description=text.format(p="光明路", n=99),
        location=EAST,
    )
    suggestion = located.suggestion or {}
    assert located.category_id == categories.find(session, MANHOLE).id
    assert located.status is EventStatus.DISPATCHED and located.model_version == row.version
    assert suggestion["model_version"] == row.version and suggestion["confidence"] >= policy.review_threshold
    assert suggestion["alternatives"][0]["category"] == MANHOLE
    assert len(suggestion["alternatives"]) == 3 and "井盖" in "".join(suggestion["explanation"])
    assert policy.review_threshold == service.review_threshold(row) >= service.MIN_THRESHOLD
    # Without a location the department is only known city-wide: a person looks first.
    unplaced = new_report(session, policy, "人民路工地夜间施工噪声太大")
    assert unplaced.status is EventStatus.RECEIVED and unplaced.needs_review
    assert unplaced.suggested_category_id == categories.find(session, NOISE).id
    assert (unplaced.suggestion or {})["confidence"] <= 0.5


def test_a_new_version_that_does_worse_on_held_back_events_is_kept_inactive(
    session: Session, settings: Settings
) -> None:
    setup(session)
    history(session, per_category=14)
    good = service.retrain(session, SYSTEM, settings.data_dir, n_jobs=1)
    # Older, mislabelled history now dominates the training part; the newest events are still right.
    history(session, per_category=20, start=START - timedelta(days=30), wrong=True)
    worse = service.retrain(session, SYSTEM, settings.data_dir, n_jobs=1, seed=1)
    assert not worse.active and good.active
    assert worse.note.startswith(f"kept {good.version}")
    assert worse.metrics["compared_with"] == good.version
    assert worse.metrics["test"]["top1"] < worse.metrics["active_top1"]
    assert [m.version for m in session.scalars(select(DispatchModel).where(DispatchModel.active))] == [
        good.version
    ]


def test_models_are_listed_retrained_and_rolled_back_through_the_api(
    client: TestClient, session: Session, settings: Settings
) -> None:
    setup(session)
    admin, dispatcher = login(client, "admin"), login(client, "dispatcher")
    too_early = client.post("/api/v1/dispatch/models/retrain", json={}, headers=admin)
    assert too_early.status_code == 422 and "at least" in too_early.json()["detail"]
    history(session, per_category=14)
    assert client.post("/api/v1/dispatch/models/retrain", json={}, headers=dispatcher).status_code == 403
    first = client.post("/api/v1/dispatch/models/retrain", json={"seed": 1}, headers=admin)
    assert first.status_code == 201, first.text
    second = client.post("/api/v1/dispatch/models/retrain", json={"seed": 2}, headers=admin).json()
    assert second["active"]  # as good as the active one: the newer wins
    listed = client.get("/api/v1/dispatch/models", headers=dispatcher).json()
    assert [m["active"] for m in listed] == [True, False]
    back = client.post(f"/api/v1/dispatch/models/{first.json()['version']}/activate", headers=admin)
    assert back.status_code == 200 and back.json()["active"]
    assert [
        m["version"] for m in client.get("/api/v1/dispatch/models", headers=dispatcher).json() if m["active"]
    ] == [first.json()["version"]]
    assert client.post("/api/v1/dispatch/models/nope/activate", headers=admin).status_code == 404


def test_accepting_a_suggestion_is_one_call_and_corrections_become_training_data(
    client: TestClient, session: Session, settings: Settings
) -> None:
    setup(session)
    history(session, per_category=14)
    service.retrain(session, SYSTEM, settings.data_dir, n_jobs=1)
    dispatcher = login(client, "dispatcher")

    def waiting(title: str) -> dict[str, Any]:
        response = client.post("/api/v1/events", json={"title": title, "address": "东区"}, headers=dispatcher)
        assert response.status_code == 201 and response.json()["needs_review"], response.text
        return dict(response.json())

    accepted = waiting("幸福路88号井盖不见了")
    assert accepted["suggestion"]["category"]["path"] == MANHOLE
    done = client.post(f"/api/v1/events/{accepted['id']}/dispatch", json={}, headers=dispatcher).json()
    assert done["status"] == "dispatched" and done["category"]["path"] == MANHOLE
    assert done["timeline"][-1]["data"]["accepted_suggestion"] is True
    assert done["timeline"][-1]["data"]["corrected_category"] is False

    corrected = waiting("幸福路90号路面塌了一个大坑")
    body = {"category": NOISE}  # a (deliberately odd) correction by the dispatcher
    fixed = client.post(f"/api/v1/events/{corrected['id']}/dispatch", json=body, headers=dispatcher).json()
    assert fixed["timeline"][-1]["data"]["corrected_category"] is True
    examples = {e.event_id: e for e in service.training_examples(session)}
    assert examples[corrected["id"]].label == NOISE and examples[corrected["id"]].corrected
    assert accepted["id"] not in examples  # still open and not corrected: no label yet
