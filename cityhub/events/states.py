"""The event lifecycle as an explicit transition table: action → allowed source statuses → target.

A target of ``None`` keeps the status (a note, an extension request, 督办). ``resume`` returns to the
status the event had before it was suspended.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cityhub.kit.errors import InvalidTransition
from cityhub.models.event import EventStatus as S


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[S]
    target: S | None
    label: str


WORKING = frozenset({S.DISPATCHED, S.ACCEPTED, S.IN_PROGRESS})
WAITING = frozenset({S.RECEIVED, S.RETURNED, S.REOPENED})
OPEN = WORKING | WAITING | {S.SUSPENDED, S.RESOLVED}

TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("dispatch", WAITING, S.DISPATCHED, "派单"),
        Transition("accept", frozenset({S.DISPATCHED}), S.ACCEPTED, "签收"),
        Transition("start", frozenset({S.ACCEPTED}), S.IN_PROGRESS, "开始处置"),
        Transition("note", OPEN - {S.RESOLVED}, None, "进展"),
        Transition("resolve", frozenset({S.ACCEPTED, S.IN_PROGRESS}), S.RESOLVED, "办结"),
        Transition("return", frozenset({S.DISPATCHED, S.ACCEPTED}), S.RETURNED, "退单"),
        Transition("request_extension", frozenset({S.ACCEPTED, S.IN_PROGRESS}), None, "申请延期"),
        Transition("decide_extension", frozenset({S.ACCEPTED, S.IN_PROGRESS}), None, "审批延期"),
        Transition("suspend", WORKING, S.SUSPENDED, "挂起"),
        Transition("resume", frozenset({S.SUSPENDED}), None, "恢复"),
        Transition("supervise", OPEN - {S.RESOLVED}, None, "督办"),
        Transition("grade", OPEN, None, "定级"),
        Transition("merge", frozenset({S.RECEIVED, S.RETURNED, S.DISPATCHED}), S.MERGED, "合并"),
        Transition("cancel", WAITING - {S.REOPENED}, S.CANCELLED, "撤销"),
        Transition("rate", frozenset({S.RESOLVED}), S.CLOSED, "回访评价"),
        Transition("reopen", frozenset({S.RESOLVED, S.CLOSED}), S.REOPENED, "重开"),
        Transition("attach", OPEN | {S.CLOSED}, None, "附件"),
    )
}


def allowed_actions(status: S) -> list[str]:
    return [name for name, t in TRANSITIONS.items() if status in t.sources]


def check(action: str, status: S, may: Callable[[str], bool] | None = None) -> Transition:
    """The transition for ``action`` from ``status``; 409 otherwise, naming the actions allowed now —
    those ``may`` grants, when given (the actor's, as the event view lists them)."""
    transition = TRANSITIONS[action]
    if status not in transition.sources:
        raise refusal(action, status, may)
    return transition


def refusal(action: str, status: S, may: Callable[[str], bool] | None = None) -> InvalidTransition:
    """The 409 for ``action`` in ``status``, naming the actions allowed now (those ``may`` grants)."""
    allowed = allowed_actions(status)
    mine = allowed if may is None else [a for a in allowed if may(a)]
    return InvalidTransition(action, f"{status.value} ({status.label})", mine, final=not allowed)
