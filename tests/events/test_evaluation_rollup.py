"""The evaluation rollup: the report read from it equals the live report, for every principal and period."""

from __future__ import annotations

import importlib.util
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from cityhub.access.principal import SYSTEM, Principal
from cityhub.dispatch import routing
from cityhub.events import categories, deadlines, evaluation, service
from cityhub.events.evaluation import GroupBy, plan
from cityhub.events.schemas import EventIn
from cityhub.kit.settings import Settings
from cityhub.kit.timeutil import clock
from cityhub.models.event import (
    EvaluationDirtyDay,
    EvaluationRollup,
    EvaluationSpan,
    Event,
    EventAssignment,
)
from cityhub.models.org import Role
from cityhub.org.service import principal_for
from cityhub.scheduler import Scheduler
from tests.factories import City, add_user, build_city, login

ROAD = "城乡建设/市政设施/道路破损"
NOISE = "环境保护/噪声污染/施工噪声"
START = datetime(2026, 9, 28, 1, 0, tzinfo=UTC)
PLACES = [(120.305, 36.005), (120.305, 36.035), (120.325, 36.005), (120.335, 36.03)]  # 东区 1·2, 西区 1·2
PERIODS = [
    (None, None),
    (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)),  # a UTC month
    (datetime(2026, 9, 30, 16, tzinfo=UTC), datetime(2026, 10, 31, 16, tzinfo=UTC)),  # October in Shanghai
    (datetime(2026, 10, 5, 3, tzinfo=UTC), datetime(2026, 10, 5, 20, tzinfo=UTC)),  # within a day
    (datetime(2026, 9, 29, 7, 30, tzinfo=UTC), None),
    (None, datetime(2026, 10, 20, 3, tzinfo=UTC)),
    (datetime(2026, 10, 2, 12, tzinfo=UTC), datetime(2026, 11, 6, 12, tzinfo=UTC)),
    (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)),  # empty
]


def _handlers(session: Session, city: City) -> dict[int, Principal]:
    return {
        city.departments[name].id: principal_for(session, city.users[user])
        for name, user in [
            ("roads", "roads_handler"),
            ("east_roads", "east_handler"),
            ("env", "env_handler"),
            ("police", "police_handler"),
        ]
    }


def _scenario(session: Session, city: City) -> list[int]:
    """Two months of events in both districts: on time and late, co-handled, returned, rated, open."""
    depts, areas = city.departments, city.areas
    road, noise = categories.find(session, ROAD).id, categories.find(session, NOISE).id
    routing.add_rule(session, category_id=road, lead_department_id=depts["roads"].id)
    routing.add_rule(
        session,
        category_id=road,
        area_id=areas["370201"].id,
        lead_department_id=depts["east_roads"].id,
        co_department_ids=(depts["police"].id,),
    )
    routing.add_rule(session, category_id=noise, lead_department_id=depts["env"].id)
    deadlines.set_sla(session, category_id=None, urgency=None, sign_within="2wh", resolve_within="1wd")
    handlers = _handlers(session, city)
    dispatcher = principal_for(session, city.users["dispatcher"])
    policy = service.DispatchPolicy()
    ids = []
    for i in range(30):
        at = START + timedelta(days=i * 1.9, hours=(i * 7) % 23, minutes=i * 11 % 60)
        clock.freeze(at)
        lon, lat = PLACES[i % len(PLACES)]
        located = i % 11 != 7
        data = EventIn(
            title=f"事件{i}",
            category=ROAD if i % 3 else NOISE,
            location={"lon": lon, "lat": lat} if located else None,
            address=None if located else "某路某号",
        )
        event_id = service.create(session, SYSTEM, data, policy).id
        ids.append(event_id)
        event = session.get(Event, event_id)
        assert event is not None
        if event.lead_department_id is None:
            continue
        parts = service.assignments(session, event_id)
        lead = handlers[event.lead_department_id]
        co = [handlers[p.department_id] for p in parts if p.role.value == "co"]
        kind = i % 5
        if kind == 0:
            continue
        if kind == 3:
            clock.freeze(at + timedelta(minutes=40))
            service.return_(session, lead, event_id, "不属于本部门")
            service.dispatch(session, dispatcher, event_id, policy, department_id=city.departments["env"].id)
            clock.freeze(at + timedelta(hours=1))
            service.accept(session, handlers[city.departments["env"].id], event_id)
            continue
        clock.freeze(at + (timedelta(minutes=20) if kind != 2 else timedelta(hours=5)))
        for helper in co:
            service.accept(session, helper, event_id)
        service.accept(session, lead, event_id)
        if kind == 4:
            continue
        clock.freeze(at + (timedelta(hours=30, seconds=i * 0.123457) if kind == 1 else timedelta(days=3)))
        for helper in co:
            service.resolve(session, helper, event_id, "协办完成")
        service.resolve(session, lead, event_id, "已修复")
        clock.freeze(at + timedelta(days=4))
        service.rate(session, dispatcher, event_id, 5 if kind == 1 else 2 + i % 3)
    return ids


def _principals(session: Session, city: City) -> dict[str, Principal]:
    add_user(session, city, "street_supervisor", Role.SUPERVISOR, area="370202001")
    names = [
        "admin",
        "steward",
        "dispatcher",
        "east_dispatcher",
        "street_supervisor",
        "roads_handler",
        "east_handler",
        "police_handler",
        "grid_worker",
        "citizen",
    ]
    return {"system": SYSTEM} | {name: principal_for(session, city.users[name]) for name in names}


def _assert_same(session: Session, principals: dict[str, Principal]) -> int:
    compared = 0
    for who, principal in principals.items():
        for group_by in GroupBy:
            for since, until in PERIODS:
                fast = evaluation.report(session, principal, group_by, since, until)
                live = evaluation.report(session, principal, group_by, since, until, use_rollup=False)
                assert fast == live, (who, group_by, since, until)
                compared += len(fast)
    return compared


def test_the_rollup_gives_the_live_figures_for_every_principal_and_period(session: Session) -> None:
    city = build_city(session)
    _scenario(session, city)
    principals = _principals(session, city)
    assert session.scalar(select(EvaluationDirtyDay.id).limit(1)) is not None  # the triggers marked the days
    assert _assert_same(session, principals) > 0  # nothing rolled up yet: every day is live

    assert evaluation.refresh(session, max_days=5) == 5  # the earliest five; the rest stay live
    _assert_same(session, principals)
    days = evaluation.refresh(session, max_days=100)
    assert days >= 20
    assert session.scalar(select(EvaluationDirtyDay.id).limit(1)) is None
    spans = set(session.scalars(select(EvaluationRollup.span).distinct()))
    assert spans == {EvaluationSpan.DAY, EvaluationSpan.MONTH}
    _assert_same(session, principals)
    assert evaluation.refresh(session) == 0

    # Changes after the refresh: their days are live again until the next refresh.
    later = _scenario_changes(session, city)
    assert later
    _assert_same(session, principals)
    evaluation.refresh(session, max_days=1000)
    _assert_same(session, principals)


def _scenario_changes(session: Session, city: City) -> list[date]:
    dispatcher = principal_for(session, city.users["dispatcher"])
    handlers = _handlers(session, city)
    # The earliest accepted lead part, by id: without an ORDER BY, PostgreSQL returns the rows in heap
    # order, and an updated row lands in whatever space earlier tests' rolled-back rows left free in the
    # worker's database, so which event came first depended on the tests that ran before this one.
    open_parts = session.execute(
        select(EventAssignment.event_id, EventAssignment.department_id)
        .where(EventAssignment.status == "accepted", EventAssignment.role == "lead")
        .order_by(EventAssignment.id)
    ).all()
    clock.freeze(START + timedelta(days=80))
    event_id, department_id = open_parts[0]
    # Only the co-handlers still on the event resolve their part: a return withdraws the co parts, and a
    # withdrawn department no longer sees the event.
    co = session.scalars(
        select(EventAssignment.department_id).where(
            EventAssignment.event_id == event_id,
            EventAssignment.role == "co",
            EventAssignment.status.in_(service.OPEN_ASSIGNMENT),
        )
    ).all()
    for helper in co:
        service.resolve(session, handlers[helper], event_id, "协办完成")
    service.resolve(session, handlers[department_id], event_id, "迟到的办结")
    service.rate(session, dispatcher, event_id, 4)
    return list(session.scalars(select(EvaluationDirtyDay.day).distinct()))


def test_the_fast_path_reads_the_rollup(session: Session) -> None:
    city = build_city(session)
    _scenario(session, city)
    evaluation.refresh(session, max_days=1000)
    october = (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
    before = evaluation.report(session, SYSTEM, GroupBy.DISTRICT, *october)
    # Tamper with October's month row: the fast path shows it, the live path does not.
    session.execute(
        update(EvaluationRollup)
        .where(EvaluationRollup.span == EvaluationSpan.MONTH, EvaluationRollup.bucket == date(2026, 10, 1))
        .values(parts=EvaluationRollup.parts + 1000)
    )
    tampered = evaluation.report(session, SYSTEM, GroupBy.DISTRICT, *october)
    assert sum(r.volume for r in tampered) > sum(r.volume for r in before) + 999
    assert evaluation.report(session, SYSTEM, GroupBy.DISTRICT, *october, use_rollup=False) == before
    # A handler's visibility is not expressible on the rollup: always live.
    roads = principal_for(session, city.users["roads_handler"])
    assert evaluation.report(session, roads, GroupBy.DEPARTMENT, *october) == evaluation.report(
        session, roads, GroupBy.DEPARTMENT, *october, use_rollup=False
    )


def test_the_api_serves_the_rows_of_the_live_query(client: TestClient, session: Session) -> None:
    city = build_city(session)
    _scenario(session, city)
    evaluation.refresh(session, max_days=1000)
    session.flush()
    clock.unfreeze()  # the tokens are checked against the real time
    # October in Shanghai time, as a person types it: partial UTC days at both edges.
    since, until = datetime(2026, 9, 30, 16, tzinfo=UTC), datetime(2026, 10, 31, 16, tzinfo=UTC)
    for user in ("supervisor", "east_dispatcher", "roads_handler"):
        for group_by in (GroupBy.DEPARTMENT, GroupBy.DISTRICT):
            response = client.get(
                "/api/v1/reports/evaluation",
                params={"group_by": group_by.value, "since": "2026-10-01T00:00", "until": "2026-11-01T00:00"},
                headers=login(client, user),
            )
            assert response.status_code == 200, response.text
            principal = principal_for(session, city.users[user])
            live = evaluation.report(session, principal, group_by, since, until, use_rollup=False)
            assert live
            assert response.json()["rows"] == [row.as_dict() for row in live]


def test_triggers_mark_the_days_of_changed_parts_and_events(session: Session) -> None:
    city = build_city(session)
    ids = _scenario(session, city)
    evaluation.refresh(session, max_days=1000)
    event = session.get(Event, ids[0])
    assert event is not None
    part = session.scalars(select(EventAssignment).where(EventAssignment.event_id == event.id)).first()
    assert part is not None
    day = part.assigned_at.astimezone(UTC).date()

    def marked() -> set[date]:
        session.flush()
        return set(session.scalars(select(EvaluationDirtyDay.day)))

    part.note = "只改备注"
    event.title = "只改标题"
    assert marked() == set()
    event.rating = 3
    assert marked() == {day}
    session.execute(delete(EvaluationDirtyDay))
    part.status = part.status  # no change, no mark
    assert marked() == set()
    session.execute(
        text("UPDATE event_assignments SET accepted_at = assigned_at WHERE id = :id"), {"id": part.id}
    )
    assert marked() == {day}
    session.execute(delete(EvaluationDirtyDay))
    session.execute(text("UPDATE events SET district_id = NULL WHERE id = :id"), {"id": event.id})
    assert marked() == {day}


def test_the_scheduler_job_rolls_up_a_month_of_days_per_run(
    session: Session,
    session_factory: sessionmaker[Session],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    city = build_city(session)
    _scenario(session, city)
    session.flush()
    dirty = len(set(session.scalars(select(EvaluationDirtyDay.day))))
    monkeypatch.setattr(evaluation, "MAX_DAYS_PER_RUN", dirty - 3)
    scheduler = Scheduler(session_factory, settings, [])
    assert scheduler.run_once("evaluation-rollup") == dirty - 3
    assert scheduler.run_once("evaluation-rollup") == 3
    assert scheduler.run_once("evaluation-rollup") == 0
    assert session.scalar(select(EvaluationDirtyDay.id).limit(1)) is None


def _migration() -> ModuleType:
    path = Path(evaluation.__file__).parents[1] / "migrations" / "versions" / "0006_evaluation.py"
    spec = importlib.util.spec_from_file_location("migration_0006", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_migration_backfill_equals_the_refresh(session: Session) -> None:
    city = build_city(session)
    _scenario(session, city)
    evaluation.refresh(session, max_days=1000)
    columns = [
        getattr(EvaluationRollup, c) for c in ("span", "bucket", *evaluation.DIMENSIONS, *evaluation.SUMS)
    ]

    def rows() -> list[tuple[object, ...]]:
        return sorted(tuple(r) for r in session.execute(select(*columns)))

    refreshed = rows()
    session.execute(delete(EvaluationRollup))
    for statement in _migration().backfill_statements(session.get_bind().dialect.name):
        session.execute(text(statement))
    assert rows() == refreshed


@pytest.mark.parametrize(
    ("since", "until", "dirty", "expected"),
    [
        (None, None, [], ((None, None), [], [], [], [])),
        (
            datetime(2026, 9, 30, 16, tzinfo=UTC),
            datetime(2026, 11, 30, 16, tzinfo=UTC),
            [date(2026, 10, 7), date(2026, 12, 1)],
            (
                (date(2026, 10, 1), date(2026, 11, 1)),
                [date(2026, 10, 1)],
                [(date(2026, 11, 1), date(2026, 11, 30)), (date(2026, 10, 1), date(2026, 11, 1))],
                [date(2026, 10, 7)],
                [
                    (datetime(2026, 9, 30, 16, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)),
                    (datetime(2026, 10, 7, tzinfo=UTC), datetime(2026, 10, 8, tzinfo=UTC)),
                    (datetime(2026, 11, 30, tzinfo=UTC), datetime(2026, 11, 30, 16, tzinfo=UTC)),
                ],
            ),
        ),
        (
            datetime(2026, 1, 1, tzinfo=UTC),
            datetime(2026, 4, 1, tzinfo=UTC),
            [date(2026, 2, 27), date(2026, 2, 28)],
            (
                (date(2026, 1, 1), date(2026, 4, 1)),
                [date(2026, 2, 1)],
                [(date(2026, 2, 1), date(2026, 3, 1))],
                [date(2026, 2, 27), date(2026, 2, 28)],
                [(datetime(2026, 2, 27, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))],
            ),
        ),
        (
            datetime(2026, 10, 5, 3, tzinfo=UTC),
            datetime(2026, 10, 6, 2, tzinfo=UTC),
            [date(2026, 10, 5)],
            (
                None,
                [],
                [],
                [],
                [(datetime(2026, 10, 5, 3, tzinfo=UTC), datetime(2026, 10, 6, 2, tzinfo=UTC))],
            ),
        ),
        (
            datetime(2026, 10, 5, 3, tzinfo=UTC),
            datetime(2026, 10, 9, tzinfo=UTC),
            [date(2026, 10, 7)],
            (
                None,
                [],
                [(date(2026, 10, 6), date(2026, 10, 9))],
                [date(2026, 10, 7)],
                [
                    (datetime(2026, 10, 5, 3, tzinfo=UTC), datetime(2026, 10, 6, tzinfo=UTC)),
                    (datetime(2026, 10, 7, tzinfo=UTC), datetime(2026, 10, 8, tzinfo=UTC)),
                ],
            ),
        ),
    ],
)
def test_the_period_splits_into_months_days_and_live_edges(
    since: datetime | None,
    until: datetime | None,
    dirty: list[date],
    expected: tuple[object, ...],
) -> None:
    split = plan(dirty, since, until)
    months, skip_months, days, skip_days, live = expected
    assert (split.months, split.skip_months, split.days, split.skip_days, split.live) == (
        months,
        skip_months,
        days,
        skip_days,
        live,
    )
