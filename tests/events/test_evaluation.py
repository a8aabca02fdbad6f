"""Evaluation per department, district and category: each figure from events whose outcome is known."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from cityhub.access.principal import SYSTEM
from cityhub.dispatch import routing
from cityhub.events import categories, deadlines, evaluation, service
from cityhub.events.schemas import EventIn
from cityhub.kit.timeutil import clock
from cityhub.org.service import principal_for
from tests.factories import build_city

ROAD = "城乡建设/市政设施/道路破损"
MONDAY_9AM = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def test_report_counts_on_time_returns_and_satisfaction(session: Session) -> None:
    city = build_city(session)
    cat = categories.find(session, ROAD)
    routing.add_rule(session, category_id=cat.id, lead_department_id=city.departments["roads"].id)
    deadlines.set_sla(session, category_id=None, urgency=None, sign_within="2wh", resolve_within="1wd")
    roads = principal_for(session, city.users["roads_handler"])
    env = principal_for(session, city.users["env_handler"])
    dispatcher = principal_for(session, city.users["dispatcher"])
    policy = service.DispatchPolicy()

    def report_at(minutes: int) -> int:
        clock.freeze(MONDAY_9AM + timedelta(minutes=minutes))
        data = EventIn(title="道路破损", category=ROAD, location={"lon": 120.305, "lat": 36.005})
        return service.create(session, SYSTEM, data, policy).id

    # 1: signed in 30 min, resolved same day, rated 5.  2: signed late (3 h), resolved late, rated 2.
    # 3: returned by roads, redispatched to env, signed on time, still open.
    fast, slow, wrong = report_at(0), report_at(1), report_at(2)
    clock.freeze(MONDAY_9AM + timedelta(minutes=30))
    service.accept(session, roads, fast)
    service.resolve(session, roads, fast, "已修复")
    service.rate(session, dispatcher, fast, 5)
    service.return_(session, roads, wrong, "不属于本部门")
    service.dispatch(session, dispatcher, wrong, policy, department_id=city.departments["env"].id)
    service.accept(session, env, wrong)
    clock.freeze(MONDAY_9AM + timedelta(hours=3))
    service.accept(session, roads, slow)
    clock.freeze(MONDAY_9AM + timedelta(days=2))
    service.resolve(session, roads, slow, "已修复")
    service.rate(session, dispatcher, slow, 2)

    rows = {r.name: r for r in evaluation.report(session, SYSTEM, evaluation.GroupBy.DEPARTMENT)}
    r = rows["市政公用局"]
    assert r.volume == 3
    assert r.signed_on_time_rate == 0.5  # fast on time, slow late; the returned one was never signed
    assert r.resolved_on_time_rate == 0.5
    assert r.return_rate == round(1 / 3, 4)
    assert r.resolution_rate == round(2 / 3, 4)
    assert r.satisfaction_rate == 0.5 and r.mean_rating == 3.5
    assert rows["生态环境局"].volume == 1 and rows["生态环境局"].signed_on_time_rate == 1.0

    by_district = evaluation.report(session, SYSTEM, evaluation.GroupBy.DISTRICT)
    assert [(d.name, d.volume) for d in by_district] == [("东区", 3)]
    assert by_district[0].return_rate == round(1 / 3, 4)
    handler_view = evaluation.report(session, env, evaluation.GroupBy.DEPARTMENT)
    assert {row.name for row in handler_view} <= {"生态环境局", "市政公用局"}
    later = evaluation.report(
        session, SYSTEM, evaluation.GroupBy.CATEGORY, since=MONDAY_9AM + timedelta(days=1)
    )
    assert later == []
