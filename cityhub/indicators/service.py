"""Indicator definitions (as data, from YAML/JSON), current values, history and the city summary.

Definitions are validated by ``spec.IndicatorSpec`` and stored whole; a change is published
(``indicators.changed``) after the commit so the running stream reloads them. Functions take the session
and the principal first and flush, never commit.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from cityhub.access import policy
from cityhub.access.principal import Principal
from cityhub.audit.hooks import bind_principal
from cityhub.indicators.spec import IndicatorSpec, WatchSpec
from cityhub.kit.bus import publish_after_commit
from cityhub.kit.errors import NotFound, Unprocessable
from cityhub.kit.timeutil import clock
from cityhub.models.area import Area
from cityhub.models.indicator import Indicator, IndicatorState, IndicatorValue, MetricWatch, WarningLevel

CHANGED = "indicators.changed"
_INDICATORS = TypeAdapter(list[IndicatorSpec])
_WATCHES = TypeAdapter(list[WatchSpec])
# Levels of nesting a definitions document may have, its leaves counted. The deepest the hub ships (the
# scenario packs) have 9; PyYAML builds the document recursively, so a document of thousands of levels
# (``[[[[…]]]]``) would exhaust the stack (RecursionError) before anything could look at it.
MAX_DOCUMENT_DEPTH = 32
# Nodes a definitions document may stand for once its aliases (``*name``) are expanded. Anchors are a fair
# way to share thresholds, but nine aliases of nine aliases of … (billion laughs) are a few hundred bytes
# that validation would expand into billions of objects. The shipped documents have a few thousand.
MAX_EXPANDED_NODES = 100_000


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses, while reading, a document nested deeper than MAX_DOCUMENT_DEPTH,
    and before building it, one whose aliases would expand it beyond MAX_EXPANDED_NODES."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self._depth >= MAX_DOCUMENT_DEPTH:
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, f"nested deeper than {MAX_DOCUMENT_DEPTH} levels", mark
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None and _expanded_size(node, {}) > MAX_EXPANDED_NODES:
            raise yaml.composer.ComposerError(
                None,
                None,
                f"its aliases (*name) expand it beyond {MAX_EXPANDED_NODES} values: write the repeated parts "
                "out or share fewer",
                node.start_mark,
            )
        return node


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many nodes ``node`` stands for with every alias written out; each shared node is counted once
    per use but computed once (``sizes``), so this is linear in the document, whatever it expands to."""
    if (known := sizes.get(id(node))) is not None:
        return known
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    sizes[id(node)] = size
    return size


def validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
    return "; ".join(parts)


def parse_document(text: str) -> dict[str, Any]:
    """A YAML (or JSON) document: a list of indicators, or a mapping with ``indicators:`` and ``watches:``."""
    try:
        data = yaml.load(text, Loader=_BoundedLoader)  # a SafeLoader
    except yaml.YAMLError as exc:
        raise Unprocessable(f"not valid YAML/JSON: {exc}") from exc
    if isinstance(data, list):
        return {"indicators": data}
    if not isinstance(data, dict):
        raise Unprocessable("expected a list of indicators or a mapping with indicators: / watches:")
    return data


def specs_from(data: dict[str, Any]) -> tuple[list[IndicatorSpec], list[WatchSpec]]:
    try:
        indicators = _INDICATORS.validate_python(data.get("indicators") or [])
        watches = _WATCHES.validate_python(data.get("watches") or [])
    except ValidationError as exc:
        raise Unprocessable(validation_message(exc)) from exc
    return indicators, watches


def load_file(session: Session, principal: Principal, path: Path, *, origin: str | None = None) -> int:
    """Load every indicator and watch of a YAML file (create or replace by key); returns how many."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise Unprocessable(f"cannot read {path}: {exc}") from exc
    indicators, watches = specs_from(parse_document(text))
    for spec in indicators:
        upsert(session, principal, spec, origin=origin or path.name)
    for watch in watches:
        upsert_watch(session, principal, watch, origin=origin or path.name)
    return len(indicators) + len(watches)


def upsert(session: Session, principal: Principal, spec: IndicatorSpec, *, origin: str = "api") -> Indicator:
    """Create the indicator, or replace the definition of the one with the same key (values are kept)."""
    bind_principal(session, principal)
    policy.authorize(principal, "indicators.manage")
    now = clock.now()
    row = session.scalar(select(Indicator).where(Indicator.key == spec.key))
    if row is None:
        row = Indicator(key=spec.key, created_at=now, origin=origin)
        session.add(row)
    row.name_zh, row.name_en = spec.name.zh, spec.name.en
    row.domain, row.unit = spec.domain, spec.unit
    row.spec = spec.as_json()
    row.enabled = True
    row.updated_at = now
    session.flush()
    publish_after_commit(session, CHANGED, {"key": spec.key})
    return row


def upsert_watch(
    session: Session, principal: Principal, spec: WatchSpec, *, origin: str = "api"
) -> MetricWatch:
    bind_principal(session, principal)
    policy.authorize(principal, "indicators.manage")
    row = session.scalar(select(MetricWatch).where(MetricWatch.metric == spec.metric))
    if row is None:
        row = MetricWatch(metric=spec.metric, origin=origin)
        session.add(row)
    row.spec = spec.as_json()
    row.enabled = True
    row.updated_at = clock.now()
    session.flush()
    publish_after_commit(session, CHANGED, {"watch": spec.metric})
    return row


def disable(session: Session, principal: Principal, key: str) -> Indicator:
    """Stop evaluating an indicator; its values and history stay."""
    bind_principal(session, principal)
    policy.authorize(principal, "indicators.manage")
    row = get(session, principal, key)
    row.enabled = False
    row.updated_at = clock.now()
    session.flush()
    publish_after_commit(session, CHANGED, {"key": key})
    return row


def get(session: Session, principal: Principal, key: str) -> Indicator:
    policy.authorize(principal, "indicators.read")
    row = session.scalar(select(Indicator).where(Indicator.key == key))
    if row is None:
        raise NotFound(f"no indicator {key}")
    return row


def listing(session: Session, principal: Principal, *, domain: str | None = None) -> list[Indicator]:
    policy.authorize(principal, "indicators.read")
    query = select(Indicator).order_by(Indicator.domain, Indicator.key)
    if domain:
        query = query.where(Indicator.domain == domain)
    return list(session.scalars(query))


def watches(session: Session, principal: Principal) -> list[MetricWatch]:
    policy.authorize(principal, "indicators.read")
    return list(session.scalars(select(MetricWatch).order_by(MetricWatch.metric)))


def _area_id(session: Session, code: str | None) -> int | None:
    if code is None:
        return None
    area_id = session.scalar(select(Area.id).where(Area.code == code))
    if area_id is None:
        raise NotFound(f"no area {code}")
    return area_id


def states(
    session: Session,
    principal: Principal,
    indicator: Indicator,
    *,
    area: str | None = None,
    min_level: WarningLevel | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[IndicatorState], int]:
    """Current values of the indicator's subjects, worst first; ``area``: the subjects in that district
    (or that exact area)."""
    policy.authorize(principal, "indicators.read")
    where = [IndicatorState.indicator_id == indicator.id]
    area_id = _area_id(session, area)
    if area_id is not None:
        where.append((IndicatorState.district_id == area_id) | (IndicatorState.area_id == area_id))
    if min_level is not None:
        where.append(IndicatorState.level.in_([lv for lv in WarningLevel if lv.rank >= min_level.rank]))
    total = session.scalar(select(func.count(IndicatorState.id)).where(*where)) or 0
    rows = list(session.scalars(select(IndicatorState).where(*where)))
    rows.sort(key=lambda s: (-(s.level.rank if s.level else -1), -(s.value or 0.0), s.subject))
    return rows[offset : offset + limit], int(total)


def history(
    session: Session,
    principal: Principal,
    indicator: Indicator,
    subject: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
) -> list[IndicatorValue]:
    """Stored values of one subject (an area code or a device's city code), oldest first."""
    policy.authorize(principal, "indicators.read")
    where = [IndicatorValue.indicator_id == indicator.id, IndicatorValue.subject == subject]
    if since is not None:
        where.append(IndicatorValue.at >= since)
    if until is not None:
        where.append(IndicatorValue.at < until)
    rows = session.scalars(
        select(IndicatorValue).where(*where).order_by(IndicatorValue.at.desc()).limit(limit)
    )
    return list(reversed(list(rows)))


# ---------------------------------------------------------------- the city summary


@dataclass
class IndicatorSummary:
    key: str
    name_zh: str
    name_en: str
    unit: str
    level: WarningLevel | None
    value: float | None
    subject: str | None
    subjects: int
    by_level: dict[str, int]


@dataclass
class DomainSummary:
    domain: str
    level: WarningLevel | None
    indicators: list[IndicatorSummary]


def summary(session: Session, principal: Principal, *, district: str | None = None) -> list[DomainSummary]:
    """The worst level per domain, and per indicator its worst subject and how many subjects are at each
    level (risk green and "no warning" count as normal); ``district`` limits it to one district."""
    policy.authorize(principal, "indicators.read")
    district_id = _area_id(session, district)
    where: list[ColumnElement[bool]] = [Indicator.enabled.is_(True)]
    if district_id is not None:
        where.append(IndicatorState.district_id == district_id)
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for indicator_id, level, n in session.execute(
        select(IndicatorState.indicator_id, IndicatorState.level, func.count(IndicatorState.id))
        .join(Indicator, Indicator.id == IndicatorState.indicator_id)
        .where(*where)
        .group_by(IndicatorState.indicator_id, IndicatorState.level)
    ):
        counts[indicator_id][level.value if level else "normal"] = int(n)
    worst = _worst_states(session, where)
    domains: dict[str, list[IndicatorSummary]] = defaultdict(list)
    for row in session.scalars(select(Indicator).where(Indicator.enabled.is_(True)).order_by(Indicator.key)):
        top = worst.get(row.id)
        domains[row.domain].append(
            IndicatorSummary(
                key=row.key,
                name_zh=row.name_zh,
                name_en=row.name_en,
                unit=row.unit,
                level=top.level if top else None,
                value=top.value if top else None,
                subject=top.subject if top else None,
                subjects=sum(counts[row.id].values()),
                by_level=counts[row.id],
            )
        )
    out = []
    for domain, items in sorted(domains.items()):
        level = WarningLevel.worst([i.level for i in items if i.level and i.level.is_warning])
        out.append(DomainSummary(domain, level, items))
    return out


def _worst_states(session: Session, where: list[Any]) -> dict[int, IndicatorState]:
    """Per indicator, the subject at the worst level (the most extreme value among equals)."""
    best: dict[int, IndicatorState] = {}

    def rank(state: IndicatorState) -> tuple[int, float]:
        return (state.level.rank if state.level else -1, abs(state.value or 0.0))

    rows = session.scalars(
        select(IndicatorState).join(Indicator, Indicator.id == IndicatorState.indicator_id).where(*where)
    )
    for state in rows:
        current = best.get(state.indicator_id)
        if current is None or rank(state) > rank(current):
            best[state.indicator_id] = state
    return best
