"""The transition table, state by state: every (status, action) pair is either allowed or a 409."""

from __future__ import annotations

import pytest

from cityhub.events import states
from cityhub.kit.errors import InvalidTransition
from cityhub.models.event import EventStatus as S

EXPECTED: dict[S, set[str]] = {
    S.RECEIVED: {"dispatch", "note", "supervise", "grade", "merge", "cancel", "attach"},
    S.DISPATCHED: {"accept", "note", "return", "suspend", "supervise", "grade", "merge", "attach"},
    S.ACCEPTED: {
        "start",
        "note",
        "resolve",
        "return",
        "request_extension",
        "decide_extension",
        "suspend",
        "supervise",
        "grade",
        "attach",
    },
    S.IN_PROGRESS: {
        "note",
        "resolve",
        "request_extension",
        "decide_extension",
        "suspend",
        "supervise",
        "grade",
        "attach",
    },
    S.RESOLVED: {"rate", "reopen", "grade", "attach"},
    S.CLOSED: {"reopen", "attach"},
    S.RETURNED: {"dispatch", "note", "supervise", "grade", "merge", "cancel", "attach"},
    S.SUSPENDED: {"note", "resume", "supervise", "grade", "attach"},
    S.REOPENED: {"dispatch", "note", "supervise", "grade", "attach"},
    S.MERGED: set(),
    S.CANCELLED: set(),
}

TARGETS = {
    "dispatch": S.DISPATCHED,
    "accept": S.ACCEPTED,
    "start": S.IN_PROGRESS,
    "resolve": S.RESOLVED,
    "return": S.RETURNED,
    "suspend": S.SUSPENDED,
    "merge": S.MERGED,
    "cancel": S.CANCELLED,
    "rate": S.CLOSED,
    "reopen": S.REOPENED,
}


def test_every_status_is_covered() -> None:
    assert set(EXPECTED) == set(S)


@pytest.mark.parametrize("status", list(S))
def test_allowed_actions_per_status(status: S) -> None:
    assert set(states.allowed_actions(status)) == EXPECTED[status]


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("action", sorted(states.TRANSITIONS))
def test_each_pair_moves_or_conflicts(status: S, action: str) -> None:
    if action in EXPECTED[status]:
        transition = states.check(action, status)
        assert transition.target == TARGETS.get(action)
    else:
        with pytest.raises(InvalidTransition) as info:
            states.check(action, status)
        assert info.value.status == 409
        assert info.value.extra["allowed_actions"] == states.allowed_actions(status)
        assert action in info.value.message


def test_final_statuses_say_so() -> None:
    with pytest.raises(InvalidTransition, match="the event is final"):
        states.check("dispatch", S.MERGED)


def test_the_conflict_names_only_what_the_actor_may_do() -> None:
    with pytest.raises(InvalidTransition) as info:
        states.check("resolve", S.DISPATCHED, lambda action: action in {"accept", "return"})
    assert info.value.extra["allowed_actions"] == ["accept", "return"]
    with pytest.raises(InvalidTransition, match="none of yours"):
        states.check("resolve", S.DISPATCHED, lambda action: False)
