"""The living demo city: reports arrive and move through the loop by the right people, without errors."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session

from cityhub.access.principal import SYSTEM
from cityhub.events import evaluation
from cityhub.events import service as events
from cityhub.events.service import EventFilter
from cityhub.kit.timeutil import SHANGHAI, clock
from cityhub.models.event import (
    AssignmentRole,
    AssignmentStatus,
    Channel,
    Event,
    EventAction,
    EventAssignment,
    EventStatus,
)
from cityhub.models.org import Role, User
from cityhub.org.service import principal_for
from cityhub.sim import seed, texts
from cityhub.sim.stream import ACTIONS, OPEN_PART, DemoStream, backfill, bucket_of
from tests.sim import rolled_back, seeded_city

# A Monday morning in Qingdao; steps are half an hour of simulated time apart.
START = datetime(2025, 11, 17, 8, 0, tzinfo=SHANGHAI)
STEP = timedelta(minutes=30)
STEPS = 48


@dataclass
class Run:
    connection: Connection
    counts: Counter[str]
    per_step: list[dict[str, int]]
    review_queue: list[int]  # its length after each step


@pytest.fixture(scope="module")
def run(engine: Engine) -> Iterator[Run]:
    """The demo city after a simulated day of the stream (seed 7), shared by the tests of this module."""
    with seeded_city(engine) as (connection, _city), rolled_back(connection) as factory:
        stream = DemoStream(factory, seed=7)
        per_step, queue = [], []
        for i in range(STEPS):
            per_step.append(stream.step(now=START + STEP * i))
            with factory() as session:
                queue.append(events.search(session, SYSTEM, EventFilter(needs_review=True), limit=1)[1])
        yield Run(connection, sum((Counter(c) for c in per_step), Counter()), per_step, queue)


@pytest.fixture
def db(run: Run) -> Iterator[Session]:
    with rolled_back(run.connection) as factory, factory() as session:
        yield session


# What may happen beside the loop, at any point of it.
ASIDES = {
    "supervise",
    "grade",
    "escalate",
    "merged_in",
    "request_extension",
    "approve_extension",
    "reject_extension",
    "suspend",
    "resume",
}


def _actors(session: Session) -> dict[str, User]:
    return {u.username: u for u in session.scalars(select(User))}


def test_a_day_of_life_raises_nothing_and_does_every_kind_of_work(run: Run) -> None:
    assert run.counts["errors"] == 0
    assert all(set(step) == set(ACTIONS) for step in run.per_step)
    assert all(1 <= step["created"] <= 3 for step in run.per_step[:5])
    loop = ("created", "dispatched", "accepted", "started", "noted", "resolved", "rated", "co_resolved")
    assert all(run.counts[action] > 0 for action in loop), run.counts
    assert run.counts["returned"] + run.counts["merged"] + run.counts["extension_requested"] > 0
    assert run.counts["graded"] > 0, run.counts  # some critical reports are graded as emergencies


def test_events_stand_in_every_stage_of_the_loop(db: Session) -> None:
    statuses = Counter(db.scalars(select(Event.status)))
    assert {EventStatus.DISPATCHED, EventStatus.RESOLVED, EventStatus.CLOSED} <= set(statuses)
    assert statuses[EventStatus.ACCEPTED] + statuses[EventStatus.IN_PROGRESS] > 0
    assert statuses[EventStatus.CLOSED] >= 10


def test_some_reports_wait_in_the_review_queue_until_a_dispatcher_sends_them(run: Run, db: Session) -> None:
    assert sum(size > 0 for size in run.review_queue) >= STEPS / 4
    users = _actors(db)
    by_hand = db.scalars(
        select(EventAction).where(EventAction.action == "dispatch", EventAction.actor != "system")
    )
    assert {users[a.actor].role for a in by_hand} == {Role.DISPATCHER}
    unclassified = db.scalars(
        select(Event).where(Event.suggestion_confidence == 0, Event.category_id.is_not(None))
    )
    assert any(texts.classify(e.title) for e in unclassified)  # the dispatcher classified it from the title


def test_reports_come_from_every_channel_with_plausible_details(db: Session) -> None:
    reports = list(db.scalars(select(Event)))
    channels = Counter(e.channel for e in reports)
    assert channels.most_common(1)[0][0] is Channel.HOTLINE
    assert {Channel.APP, Channel.GRID} <= set(channels)
    assert all(e.title and e.description and e.address and e.address.startswith("青岛市") for e in reports)
    phones = [e.reporter_phone for e in reports if e.reporter_phone]
    assert phones and all(re.fullmatch(r"1[358]\d{9}", p) for p in phones)
    assert any(e.anonymous for e in reports)
    assert any(e.input_crs == "gcj02" for e in reports)
    assert any(e.lon is None and e.district_id is not None for e in reports)  # located by address alone
    assert sum(e.location_resolved for e in reports) >= 0.9 * len(reports)


def test_a_closed_event_went_through_the_loop_by_the_right_people(db: Session) -> None:
    users = _actors(db)
    closed = Event.status == EventStatus.CLOSED
    simple = db.scalars(select(Event).where(closed, Event.return_count == 0, Event.reopen_count == 0)).all()
    checked = 0
    for event in simple:
        timeline = events.timeline(db, event.id)
        if any(a.action.startswith("co_") for a in timeline):
            continue
        steps = [a.action for a in timeline if a.action not in ASIDES]
        assert steps == ["create", "dispatch", "accept", "start", "note", "resolve", "rate"], event.number
        by = {a.action: a.actor for a in timeline}
        for action in ("accept", "start", "note", "resolve"):
            actor = users[by[action]]
            assert actor.role is Role.HANDLER and actor.department_id == event.lead_department_id
        assert by["dispatch"] == "system" or users[by["dispatch"]].role is Role.DISPATCHER
        rater = users[by["rate"]]
        if event.reporter_user_id is not None:
            assert rater.id == event.reporter_user_id and rater.role is Role.CITIZEN
        elif event.channel is Channel.HOTLINE:
            assert rater.username == seed.colleague_of("operator_12345")
        else:
            assert rater.role is Role.DISPATCHER
        checked += 1
    assert checked >= 5


def test_co_handlers_finish_their_part_before_the_lead_resolves(db: Session) -> None:
    users = _actors(db)
    co = EventAssignment.role == AssignmentRole.CO
    parts = db.scalars(select(EventAssignment).where(co, EventAssignment.status == AssignmentStatus.RESOLVED))
    checked = 0
    for part in parts:
        timeline = events.timeline(db, part.event_id)
        done = [
            i
            for i, a in enumerate(timeline)
            if a.action == "co_resolve" and a.department_id == part.department_id
        ]
        assert done and users[timeline[done[-1]].actor].department_id == part.department_id
        # In each round (a reopened event is dispatched again) where this part was taken up, the lead resolves
        # only after the part was done.
        for r, a in enumerate(timeline):
            if a.action != "resolve":
                continue
            start = max(i for i, b in enumerate(timeline[:r]) if b.action == "dispatch")
            mine = [
                i
                for i, b in enumerate(timeline[start:r], start)
                if b.action.startswith("co_") and b.department_id == part.department_id
            ]
            assert not mine or timeline[mine[-1]].action == "co_resolve", [(b.action, b.at) for b in timeline]
        checked += 1
    assert checked > 0
    unfinished = select(EventAssignment.event_id).where(co, EventAssignment.status.in_(OPEN_PART))
    finished = Event.status.in_((EventStatus.RESOLVED, EventStatus.CLOSED))
    assert not db.scalars(select(Event.number).where(Event.id.in_(unfinished), finished)).all()


def test_merged_reports_point_at_an_open_original_at_the_same_place(db: Session) -> None:
    for event in db.scalars(select(Event).where(Event.status == EventStatus.MERGED)):
        original = db.get(Event, event.merged_into_id)
        assert original is not None and original.created_at < event.created_at
        assert (original.address, original.category_id) == (event.address, event.category_id)


def test_returned_events_are_redispatched_elsewhere(db: Session) -> None:
    returns = db.scalars(select(EventAction).where(EventAction.action == "return")).all()
    for action in returns:
        later = db.scalars(
            select(EventAction).where(
                EventAction.event_id == action.event_id,
                EventAction.action == "dispatch",
                EventAction.id > action.id,
            )
        ).first()
        if later is not None:
            assert later.department_id != action.department_id
            assert later.actor in {seed.colleague_of(name) for name in ("dispatcher", "dispatcher_shinan")}


def test_temperament_comes_from_the_id() -> None:
    assert [bucket_of(i) for i in (1, 2, 3)] == [37, 74, 11]
    assert Counter(bucket_of(i) // 10 for i in range(1, 1001)) == {d: 100 for d in range(10)}


def test_the_same_seed_tells_the_same_story(run: Run) -> None:
    def titles(seed_value: int) -> list[str]:
        with rolled_back(run.connection) as factory:
            DemoStream(factory, seed=seed_value).step(now=START + STEP * (STEPS + 1))
            with factory() as session:
                new = Event.created_at > START + STEP * STEPS
                return list(session.scalars(select(Event.title).where(new).order_by(Event.id)))

    assert titles(11) == titles(11)
    assert titles(11) != titles(12)


def test_step_leaves_the_clock_as_it_found_it(run: Run) -> None:
    with rolled_back(run.connection) as factory:
        DemoStream(factory, seed=1).step(now=START + STEP * (STEPS + 2))
        assert abs(clock.now() - datetime.now(SHANGHAI)) < timedelta(minutes=1)
        frozen = START + timedelta(days=30)
        clock.freeze(frozen)
        DemoStream(factory, seed=1).step(now=START + STEP * (STEPS + 3))
        assert clock.now() == frozen


def test_backfill_fills_the_past_days_with_closed_rated_events(run: Run) -> None:
    until = START + timedelta(days=3)
    with rolled_back(run.connection) as factory:
        counts = backfill(factory, days=2, per_day=30, seed=3, until=until)
        assert counts["errors"] == 0 and counts["created"] > 40
        with factory() as session:
            since = until - timedelta(days=2)
            history = list(session.scalars(select(Event).where(Event.created_at > since)))
            assert min(e.created_at for e in history) < since + timedelta(hours=12)
            closed = [e for e in history if e.status is EventStatus.CLOSED]
            assert len(closed) > len(history) / 2 and all(e.rating for e in closed)
            rows = evaluation.report(session, SYSTEM, evaluation.GroupBy.DEPARTMENT, since, until)
            assert rows and any(r.satisfaction_rate is not None for r in rows)
            escalated = select(func.count()).select_from(Event).where(Event.escalated.is_(True))
            assert (session.scalar(escalated) or 0) > 0


# ---------------------------------------------------------------- the texts, without a database


def _leaves() -> set[str]:
    return {
        f"{first}/{second}/{leaf}"
        for first, seconds in seed.TAXONOMY.items()
        for second, leaves in seconds.items()
        for leaf in leaves
    }


def test_every_template_belongs_to_a_leaf_category() -> None:
    leaves = _leaves()
    assert len(leaves) >= 60 and len(seed.TAXONOMY) >= 10
    assert {r.category for r in texts.REPORTS} <= leaves


@pytest.mark.parametrize("channel", [c.value for c in (Channel.HOTLINE, Channel.APP, Channel.GRID)])
def test_a_dispatcher_recognises_every_composed_title(channel: str) -> None:
    rng = random.Random(5)
    for report in texts.REPORTS:
        for district, name in (("370202", "市南区"), ("370285", "莱西市"), ("370211", "黄岛区")):
            composed = texts.compose(rng, report, channel, district, name)
            assert report.keyword in composed.title
            assert texts.classify(composed.title) is report, composed.title
            assert composed.description.startswith(texts.OPENINGS[channel])
            assert "{" not in composed.title + composed.description + composed.address


def test_places_cover_the_districts_and_return_stories_point_somewhere() -> None:
    assert set(texts.PLACES) == set(seed.POPULATION_2020) == set(seed.DISTRICT_SLUGS)
    for places in texts.PLACES.values():
        assert {road for crossing in places.crossings for road in crossing} <= set(places.roads)
    codes = {d.code for d in seed.CITY_DEPARTMENTS}
    paths = _leaves() | {p.rsplit("/", 1)[0] for p in _leaves()}
    for story in texts.RETURN_STORIES:
        assert story.redirect in codes or story.redirect == texts.DISTRICT_REDIRECT
        assert any(p.startswith(story.category_prefix) for p in paths)


def test_phone_numbers_and_names_look_real() -> None:
    rng = random.Random(1)
    assert all(re.fullmatch(r"1[358]\d{9}", texts.phone_number(rng)) for _ in range(200))
    assert all(2 <= len(texts.person_name(rng)) <= 3 for _ in range(200))


def test_the_stream_acts_as_staff_and_leaves_a_persons_events_to_them(run: Run) -> None:
    with rolled_back(run.connection) as factory:
        with factory() as session:
            users = _actors(session)
            people = {name for name, user in users.items() if user.password_hash is not None}
            assert set(seed.DEMO_USERNAMES) <= people
            # A day of life, all of it by staff who cannot log in: a person's login is never used.
            by_people = session.scalars(select(EventAction).where(EventAction.actor.in_(people))).all()
            assert not by_people, [(a.actor, a.action, a.event_id) for a in by_people]

            # The dispatcher takes the first event the departments would sign in hand (a note).
            waiting = session.scalars(
                select(Event).where(Event.status == EventStatus.DISPATCHED).order_by(Event.dispatched_at)
            ).all()
            held = next(e for e in waiting if bucket_of(e.id) >= 4)  # not one that signs late anyway
            events.add_note(session, principal_for(session, users["dispatcher"]), held.id, "我来跟进此事")
            # The oldest resolved report is the citizen's own (as if they had reported it): theirs to rate.
            resolved = session.scalars(
                select(Event).where(Event.status == EventStatus.RESOLVED).order_by(Event.updated_at)
            ).all()
            theirs = resolved[0]
            created = session.scalars(
                select(EventAction).where(EventAction.event_id == theirs.id, EventAction.action == "create")
            ).one()
            created.actor = "citizen"
            others = [e.id for e in [*waiting, *resolved] if e.id not in (held.id, theirs.id)]
            session.commit()
            noted = max(a.id for a in events.timeline(session, held.id))

        stream = DemoStream(factory, seed=11)
        for i in range(12):
            stream.step(now=START + STEP * (STEPS + i))

        with factory() as session:
            after = [a for a in events.timeline(session, held.id) if a.id > noted]
            assert {a.actor for a in after} <= {"system"}, [(a.action, a.actor) for a in after]
            assert "rate" not in {a.action for a in events.timeline(session, theirs.id)}
            # Meanwhile the stream went on with the others: it signed and rated events queued behind them.
            moved = session.scalars(
                select(EventAction.action).where(
                    EventAction.event_id.in_(others), EventAction.action.in_(("accept", "return", "rate"))
                )
            ).all()
            assert {"rate"} <= set(moved) and {"accept", "return"} & set(moved)


def test_a_new_event_of_a_persons_department_waits_for_them_before_a_colleague_signs(run: Run) -> None:
    with rolled_back(run.connection) as factory:
        with factory() as session:
            users = _actors(session)
            person = users["handler_shinan_chengguan"]  # a printed handler: someone can log in as them
            waiting = session.scalars(
                select(Event).where(Event.status == EventStatus.DISPATCHED).order_by(Event.dispatched_at)
            ).all()
            event = next(e for e in waiting if bucket_of(e.id) >= 4)  # not one that signs late anyway
            # As if it had just been dispatched to the person's department, before anything else waiting.
            at = START + STEP * STEPS
            event.lead_department_id = person.department_id
            event.dispatched_at = at
            for other in waiting:
                if other is not event:
                    other.dispatched_at = at + timedelta(seconds=1)
            for part in session.scalars(select(EventAssignment).where(EventAssignment.event_id == event.id)):
                part.department_id = person.department_id
            session.commit()

        stream = DemoStream(factory, seed=5)
        for minute in range(1, 15):  # within the quarter of an hour left for the person
            stream.step(now=at + timedelta(minutes=minute))
        with factory() as session:
            still = session.get(Event, event.id)
            assert still is not None and still.status is EventStatus.DISPATCHED
        for minute in range(16, 40):  # then a colleague picks it up
            stream.step(now=at + timedelta(minutes=minute))
        with factory() as session:
            signed = [a for a in events.timeline(session, event.id) if a.action in ("accept", "return")]
            assert signed and signed[0].actor == seed.colleague_of("handler_shinan_chengguan")
