"""Linkage rules as data: create or replace from YAML/JSON, disable, list, and read their firings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.access import policy
from cityhub.access.principal import Principal
from cityhub.audit.hooks import bind_principal
from cityhub.indicators.service import parse_document, validation_message
from cityhub.kit.bus import publish_after_commit
from cityhub.kit.errors import NotFound, Unprocessable
from cityhub.kit.timeutil import clock
from cityhub.models.alert import LinkageRule, RuleFiring
from cityhub.rules.engine import CHANGED
from cityhub.rules.spec import RuleSpec

_RULES = TypeAdapter(list[RuleSpec])


def specs_from(data: dict[str, Any]) -> list[RuleSpec]:
    try:
        return _RULES.validate_python(data.get("rules") or [])
    except ValidationError as exc:
        raise Unprocessable(validation_message(exc)) from exc


def load_file(session: Session, principal: Principal, path: Path, *, origin: str | None = None) -> int:
    """Load the ``rules:`` of a YAML file (create or replace by key); returns how many."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise Unprocessable(f"cannot read {path}: {exc}") from exc
    specs = specs_from(parse_document(text))
    for spec in specs:
        upsert(session, principal, spec, origin=origin or path.name)
    return len(specs)


def upsert(session: Session, principal: Principal, spec: RuleSpec, *, origin: str = "api") -> LinkageRule:
    """Create the rule, or replace the definition of the one with the same key."""
    bind_principal(session, principal)
    policy.authorize(principal, "rules.manage")
    now = clock.now()
    row = session.scalar(select(LinkageRule).where(LinkageRule.key == spec.key))
    if row is None:
        row = LinkageRule(key=spec.key, created_at=now, origin=origin)
        session.add(row)
    row.name_zh, row.name_en = spec.name.zh, spec.name.en
    row.spec = spec.as_json()
    row.enabled = True
    row.updated_at = now
    session.flush()
    publish_after_commit(session, CHANGED, {"key": spec.key})
    return row


def get(session: Session, principal: Principal, key: str) -> LinkageRule:
    policy.authorize(principal, "rules.read")
    row = session.scalar(select(LinkageRule).where(LinkageRule.key == key))
    if row is None:
        raise NotFound(f"no rule {key}")
    return row


def disable(session: Session, principal: Principal, key: str) -> LinkageRule:
    bind_principal(session, principal)
    policy.authorize(principal, "rules.manage")
    row = get(session, principal, key)
    row.enabled = False
    row.updated_at = clock.now()
    session.flush()
    publish_after_commit(session, CHANGED, {"key": key})
    return row


def listing(session: Session, principal: Principal) -> list[LinkageRule]:
    policy.authorize(principal, "rules.read")
    return list(session.scalars(select(LinkageRule).order_by(LinkageRule.key)))


def firings(
    session: Session, principal: Principal, rule: LinkageRule, *, limit: int = 50
) -> list[RuleFiring]:
    """The rule's latest episodes: when, where, at which level, and what each action did."""
    policy.authorize(principal, "rules.read")
    return list(
        session.scalars(
            select(RuleFiring)
            .where(RuleFiring.rule_id == rule.id)
            .order_by(RuleFiring.fired_at.desc(), RuleFiring.id.desc())
            .limit(limit)
        )
    )
