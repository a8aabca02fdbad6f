"""Linkage rules (协同联动): definitions as data and what they did."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import Response
from pydantic import BaseModel

from cityhub.access.deps import PrincipalDep, SessionDep
from cityhub.models.alert import LinkageRule, RuleFiring
from cityhub.rules import service
from cityhub.rules.spec import RuleSpec

router = APIRouter(tags=["rules"])

RuleKey = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_.\-]{1,79}$", description="the rule's key")]


class RuleOut(BaseModel):
    key: str
    name_zh: str
    name_en: str
    enabled: bool
    origin: str
    spec: dict[str, Any]
    updated_at: datetime


class FiringOut(BaseModel):
    """One episode of a rule in one scope, with the outcome of each action."""

    id: int
    scope: str
    area_id: int | None
    fired_at: datetime
    last_true_at: datetime
    ended_at: datetime | None
    level: str | None
    alert_id: int | None
    event_id: int | None
    evidence: dict[str, Any]
    actions: list[dict[str, Any]]


def _out(row: LinkageRule) -> RuleOut:
    return RuleOut(
        key=row.key,
        name_zh=row.name_zh,
        name_en=row.name_en,
        enabled=row.enabled,
        origin=row.origin,
        spec=row.spec,
        updated_at=row.updated_at,
    )


def _firing(f: RuleFiring) -> FiringOut:
    return FiringOut(
        id=f.id,
        scope=f.scope_key,
        area_id=f.area_id,
        fired_at=f.fired_at,
        last_true_at=f.last_true_at,
        ended_at=f.ended_at,
        level=f.level.value if f.level else None,
        alert_id=f.alert_id,
        event_id=f.event_id,
        evidence=f.evidence,
        actions=f.actions,
    )


@router.get("/rules", response_model=list[RuleOut])
def list_rules(principal: PrincipalDep, session: SessionDep) -> list[RuleOut]:
    """Every linkage rule (enabled or not)."""
    return [_out(r) for r in service.listing(session, principal)]


@router.post("/rules", response_model=RuleOut, status_code=status.HTTP_201_CREATED)
def put_rule(body: RuleSpec, principal: PrincipalDep, session: SessionDep) -> RuleOut:
    """Create a rule, or replace the definition of the one with the same key."""
    return _out(service.upsert(session, principal, body))


@router.get("/rules/{key}", response_model=RuleOut)
def get_rule(key: RuleKey, principal: PrincipalDep, session: SessionDep) -> RuleOut:
    """One rule's definition."""
    return _out(service.get(session, principal, key))


@router.get("/rules/{key}/firings", response_model=list[FiringOut])
def rule_firings(
    key: RuleKey,
    principal: PrincipalDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[FiringOut]:
    """The rule's latest episodes, newest first, with what each action did (alert, event, webhooks)."""
    rule = service.get(session, principal, key)
    return [_firing(f) for f in service.firings(session, principal, rule, limit=limit)]


@router.delete("/rules/{key}", status_code=status.HTTP_204_NO_CONTENT)
def disable_rule(key: RuleKey, principal: PrincipalDep, session: SessionDep) -> Response:
    """Stop evaluating the rule (post it again to enable it)."""
    service.disable(session, principal, key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
