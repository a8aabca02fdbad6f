"""The linkage engine: evaluates every enabled rule after each batch of the sensing stream and on ticks.

It runs as a listener of ``SensingStream`` (same thread, same transaction), reading the stream's
indicator levels and reading windows and the open alerts in the database. For each scope (an area of the
rule's level, or an entity) an *episode* opens when the conditions start to hold — the rule then acts
once — and ends when they stop holding; while it lasts, a worsening level raises the rule's alert. Rules
on ``changed:`` fire once per level change. Webhooks are called after the transaction commits (on a small
thread pool unless inline) and their outcome is added to the firing.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from cityhub.alerts import service as alerts
from cityhub.indicators.areas import AreaInfo
from cityhub.indicators.spec import compare, seconds
from cityhub.indicators.stream import Batch, LevelChange, SensingStream
from cityhub.kit.bus import bus, publish_after_commit
from cityhub.kit.db import unit_of_work
from cityhub.kit.errors import CityHubError
from cityhub.models.alert import OPEN_STATUSES, Alert, AlertSource, LinkageRule, RuleFiring
from cityhub.models.area import AreaLevel
from cityhub.models.indicator import WarningLevel
from cityhub.rules import actions
from cityhub.rules.spec import (
    AlertCondition,
    ChangeCondition,
    Condition,
    IndicatorCondition,
    ReadingCondition,
    RuleSpec,
)

log = logging.getLogger(__name__)

CHANGED = "rules.changed"
WEBHOOKS = "rules.webhooks"
_ALERT_AREA = {
    AreaLevel.DISTRICT: Alert.district_id,
    AreaLevel.STREET: Alert.street_id,
    AreaLevel.COMMUNITY: Alert.community_id,
    AreaLevel.GRID: Alert.grid_id,
}


@dataclass(frozen=True)
class Compiled:
    id: int
    key: str
    spec: RuleSpec

    @property
    def window_s(self) -> float:
        return seconds(self.spec.window)


@dataclass(frozen=True)
class Scope:
    """Where a rule is evaluated: an area of its level, or one entity (device)."""

    key: str
    area_id: int | None
    device: str | None = None


@dataclass
class Outcome:
    holds: bool
    level: WarningLevel | None = None
    evidence: list[dict[str, Any]] = field(default_factory=list)


class LinkageEngine:
    """Rules over the sensing stream; see the module docstring."""

    def __init__(self, factory: sessionmaker[Session], *, inline: bool = True) -> None:
        self.factory = factory
        self.inline = inline
        self.rules: list[Compiled] = []
        self.open: dict[tuple[int, str], int] = {}
        self._stale = True
        self._pool: ThreadPoolExecutor | None = None
        self._unsubscribe: list[Any] = []

    def attach(self, stream: SensingStream) -> LinkageEngine:
        stream.listeners.append(self)
        self.stream = stream
        try:
            with unit_of_work(self.factory) as session:
                self.reload(session)
        except SQLAlchemyError:
            log.warning("linkage engine starts without rules: the database is not ready", exc_info=True)
        self._unsubscribe = [
            bus.subscribe(CHANGED, lambda _t, _p: self._mark_stale()),
            bus.subscribe(WEBHOOKS, lambda _t, p: self._webhooks(p)),
        ]
        if not self.inline:
            self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cityhub-webhook")
        return self

    def detach(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        if self in self.stream.listeners:
            self.stream.listeners.remove(self)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _mark_stale(self) -> None:
        self._stale = True

    def reload(self, session: Session) -> None:
        self.rules = []
        for row in session.scalars(
            select(LinkageRule).where(LinkageRule.enabled.is_(True)).order_by(LinkageRule.id)
        ):
            try:
                self.rules.append(Compiled(row.id, row.key, RuleSpec.model_validate(row.spec)))
            except ValidationError:
                log.exception("rule %s has an invalid stored definition; skipped", row.key)
        for rule in self.rules:
            for condition in rule.spec.when.conditions:
                if isinstance(condition, ReadingCondition):
                    self.stream.require_window(condition.reading, rule.window_s)
        self.open = {
            (f.rule_id, f.scope_key): f.id
            for f in session.scalars(select(RuleFiring).where(RuleFiring.ended_at.is_(None)))
        }
        self._stale = False

    # ---------------------------------------------------------------- evaluation

    def __call__(self, session: Session, stream: SensingStream, batch: Batch) -> None:
        if self._stale:
            self.reload(session)
        for rule in self.rules:
            try:
                with session.begin_nested():
                    self._run(session, rule, batch)
            except Exception:
                log.exception("linkage rule %s failed on this batch", rule.key)

    def _run(self, session: Session, rule: Compiled, batch: Batch) -> None:
        change = rule.spec.change
        if change is not None:
            for level_change in batch.changes:
                if self._is_change(change, level_change):
                    self._on_change(session, rule, level_change, batch.now)
            return
        for scope in self._scopes(session, rule, batch):
            outcome = self._evaluate(session, rule, scope, batch.now)
            self._settle(session, rule, scope, outcome, batch.now)

    def _scopes(self, session: Session, rule: Compiled, batch: Batch) -> list[Scope]:
        stream = self.stream
        if rule.spec.scope == "entity":
            devices = set(stream.devices) if batch.tick else batch.devices
            devices |= {key for (rid, key) in self.open if rid == rule.id}
            return [Scope(d, self._device_area(d), d) for d in sorted(devices)]
        level = AreaLevel(rule.spec.scope)
        candidates = set(batch.areas)
        if batch.tick:
            candidates |= self._relevant_areas(session, rule)
        open_keys = {key for (rid, key) in self.open if rid == rule.id}
        scopes = []
        for area_id in candidates:
            area = stream.areas.get(session, area_id)
            if area is not None and area.level is level:
                scopes.append(Scope(area.code, area.id))
                open_keys.discard(area.code)
        for code in open_keys:
            area = stream.areas.by_code(session, code)
            if area is not None:
                scopes.append(Scope(area.code, area.id))
        return scopes

    def _device_area(self, device: str) -> int | None:
        metrics = self.stream.devices.get(device, {})
        return next((s.area_id for s in metrics.values() if s.area_id is not None), None)

    def _relevant_areas(self, session: Session, rule: Compiled) -> set[int]:
        stream = self.stream
        areas: set[int | None] = set()
        for condition in rule.spec.when.conditions:
            if isinstance(condition, ReadingCondition):
                areas.update(s.area_id for s in stream.series_of(condition.reading))
            elif isinstance(condition, IndicatorCondition):
                compiled = stream.defs.by_key(condition.indicator)
                if compiled is not None:
                    areas.update(state.area_id for _, state in stream.levels_of(compiled.id))
        out: set[int] = set()
        for area_id in areas:
            out.update(stream.areas.chain(session, area_id).values())
        return out

    def _evaluate(self, session: Session, rule: Compiled, scope: Scope, now: datetime) -> Outcome:
        spec = rule.spec
        results = [self._condition(session, rule, c, scope, now) for c in spec.when.conditions]
        all_results = results[: len(spec.when.all)]
        any_results = results[len(spec.when.all) :]
        holds = all(r.holds for r in all_results) and (not any_results or any(r.holds for r in any_results))
        matched = [r for r in results if r.holds]
        return Outcome(
            holds,
            WarningLevel.worst([r.level for r in matched]),
            [e for r in matched for e in r.evidence][:20],
        )

    def _condition(
        self, session: Session, rule: Compiled, condition: Condition, scope: Scope, now: datetime
    ) -> Outcome:
        since = now - timedelta(seconds=rule.window_s)
        if isinstance(condition, IndicatorCondition):
            return self._indicator(session, rule, condition, scope, since)
        if isinstance(condition, AlertCondition):
            return self._alerts(session, rule, condition, scope, since)
        if isinstance(condition, ReadingCondition):
            return self._readings(session, rule, condition, scope, since)
        return Outcome(True)  # a change condition is checked where the change is seen

    def _inside(self, session: Session, rule: Compiled, area_id: int | None, scope: Scope) -> bool:
        if rule.spec.scope == "entity" or scope.area_id is None:
            return True
        areas = self.stream.areas
        level = AreaLevel(rule.spec.scope)
        if areas.chain(session, area_id).get(level) == scope.area_id:
            return True
        # An indicator of a coarser area (the district's, in a street rule) covers the scope too.
        return area_id is not None and area_id in areas.chain(session, scope.area_id).values()

    def _indicator(
        self, session: Session, rule: Compiled, c: IndicatorCondition, scope: Scope, since: datetime
    ) -> Outcome:
        compiled = self.stream.defs.by_key(c.indicator)
        if compiled is None:
            return Outcome(False)
        floor = WarningLevel(c.at_least) if c.at_least else None
        matched = []
        for subject, state in self.stream.levels_of(compiled.id):
            if scope.device is not None and subject != scope.device:
                continue
            if state.at < since.timestamp() or not self._inside(session, rule, state.area_id, scope):
                continue
            if floor is not None and (state.level is None or state.level.rank < floor.rank):
                continue
            if c.op is not None and (state.value is None or not compare(state.value, c.op, c.value or 0.0)):
                continue
            matched.append((subject, state))
        if len(matched) < c.min_count:
            return Outcome(False)
        level = WarningLevel.worst(
            [s.level for _, s in matched if s.level is not None and s.level.is_warning]
        )
        evidence = [
            {
                "indicator": c.indicator,
                "subject": subject,
                "value": s.value,
                "level": s.level.value if s.level else None,
            }
            for subject, s in matched[:10]
        ]
        return Outcome(True, level, evidence)

    def _alerts(
        self, session: Session, rule: Compiled, c: AlertCondition, scope: Scope, since: datetime
    ) -> Outcome:
        where = [Alert.status.in_(OPEN_STATUSES), Alert.last_seen >= since]
        where.append(Alert.type.startswith(c.alert[:-1]) if c.alert.endswith("*") else Alert.type == c.alert)
        if c.at_least:
            where.append(
                Alert.level.in_([lv for lv in WarningLevel if lv.rank >= WarningLevel(c.at_least).rank])
            )
        if scope.device is not None:
            where.append(Alert.device == scope.device)
        elif rule.spec.scope != "city" and scope.area_id is not None:
            where.append(_ALERT_AREA[AreaLevel(rule.spec.scope)] == scope.area_id)
        rows = session.execute(select(Alert.id, Alert.level, Alert.type).where(*where).limit(100)).all()
        count = session.scalar(select(func.count(Alert.id)).where(*where)) or 0
        if count < c.min_count:
            return Outcome(False)
        level = WarningLevel.worst([r.level for r in rows])
        return Outcome(
            True, level, [{"alert": r.id, "type": r.type, "level": r.level.value} for r in rows[:10]]
        )

    def _readings(
        self, session: Session, rule: Compiled, c: ReadingCondition, scope: Scope, since: datetime
    ) -> Outcome:
        matched = []
        end = since.timestamp() + rule.window_s
        for series in self.stream.series_of(c.reading):
            if scope.device is not None and series.device != scope.device:
                continue
            if series.last_ts < since.timestamp() or not self._inside(session, rule, series.area_id, scope):
                continue
            value = (
                series.last_value
                if c.aggregate == "last"
                else series.aggregate(c.aggregate, rule.window_s, end)
            )
            if value is not None and compare(value, c.op, c.value):
                matched.append(
                    {"device": series.device, "metric": c.reading, "value": value, "aggregate": c.aggregate}
                )
        return Outcome(len(matched) >= c.min_devices, None, matched[:10])

    # ---------------------------------------------------------------- episodes and actions

    def _settle(
        self, session: Session, rule: Compiled, scope: Scope, outcome: Outcome, now: datetime
    ) -> None:
        key = (rule.id, scope.key)
        firing_id = self.open.get(key)
        if outcome.holds and firing_id is None:
            self._fire(session, rule, scope, outcome, now, episode=True)
        elif outcome.holds and firing_id is not None:
            self._continue(session, rule, scope, outcome, now, firing_id)
        elif firing_id is not None:
            self._end(session, rule, scope, now, firing_id)

    def _is_change(self, c: ChangeCondition, change: LevelChange) -> bool:
        if change.indicator.key != c.changed or change.before is None or change.after is None:
            return False
        return not c.worse_only or change.after.rank > change.before.rank

    def _on_change(self, session: Session, rule: Compiled, change: LevelChange, now: datetime) -> None:
        scope = Scope(change.subject, change.area_id, change.subject)
        outcome = self._evaluate(session, rule, scope, now)
        if not outcome.holds:
            return
        assert change.before is not None and change.after is not None
        outcome.level = change.after if change.after.is_warning else None
        outcome.evidence.insert(
            0,
            {
                "indicator": change.indicator.key,
                "subject": change.subject,
                "from": change.before.value,
                "to": change.after.value,
                "value": change.value,
            },
        )
        thresholds = change.indicator.spec.thresholds
        risk = thresholds is not None and thresholds.scale == "risk5"
        fields = {
            "from": change.before.risk_label if risk else change.before.label,
            "to": change.after.risk_label if risk else change.after.label,
        }
        self._fire(session, rule, scope, outcome, now, episode=False, extra=fields)

    def _fields(
        self, session: Session, rule: Compiled, scope: Scope, level: WarningLevel | None
    ) -> dict[str, str]:
        return {
            "area": self.stream.areas.full_name(session, scope.area_id),
            "rule": rule.spec.name.zh,
            "level": level.label if level else "",
            "subject": scope.key,
        }

    def _alert_level(self, rule: Compiled, outcome: Outcome) -> WarningLevel:
        spec = rule.spec.alert
        assert spec is not None
        if spec.level:
            return WarningLevel(spec.level)
        floor = WarningLevel(spec.floor)
        worst = outcome.level
        return worst if worst is not None and worst.rank > floor.rank else floor

    def _fire(
        self,
        session: Session,
        rule: Compiled,
        scope: Scope,
        outcome: Outcome,
        now: datetime,
        *,
        episode: bool,
        extra: dict[str, str] | None = None,
    ) -> None:
        spec = rule.spec
        level = self._alert_level(rule, outcome) if spec.alert else outcome.level
        fields = {**self._fields(session, rule, scope, level), **(extra or {})}
        firing = RuleFiring(
            rule_id=rule.id,
            scope_key=scope.key[:60],
            area_id=scope.area_id,
            fired_at=now,
            last_true_at=now,
            ended_at=None if episode else now,
            level=level,
            evidence={"conditions": outcome.evidence},
            actions=[],
        )
        session.add(firing)
        session.flush()
        results: list[dict[str, Any]] = []
        alert = self._raise(session, rule, scope, outcome, fields) if spec.alert else None
        if alert is not None:
            results.append({"action": "alert", "ok": True, "alert_id": alert.id, "level": alert.level.value})
            firing.alert_id = alert.id
        if spec.event is not None:
            results.append(self._event(session, rule, scope, outcome, fields, firing, alert))
        firing.actions = results
        if episode:
            self.open[(rule.id, firing.scope_key)] = firing.id
        if spec.webhooks:
            payload: dict[str, Any] = {
                "rule": rule.key,
                "scope": scope.key,
                "level": level.value if level else None,
                "fired_at": now.isoformat(),
            }
            payload.update(
                {"alert_id": firing.alert_id, "event_id": firing.event_id, "evidence": outcome.evidence}
            )
            publish_after_commit(
                session, WEBHOOKS, {"rule_id": rule.id, "firing_id": firing.id, "payload": payload}
            )
        session.flush()

    def _raise(
        self, session: Session, rule: Compiled, scope: Scope, outcome: Outcome, fields: dict[str, str]
    ) -> Alert:
        spec = rule.spec.alert
        assert spec is not None
        level = self._alert_level(rule, outcome)
        trigger = alerts.Trigger(
            source_kind=AlertSource.RULE,
            source=f"{rule.key}:{scope.key}",
            type=spec.type or rule.key,
            title=actions.fill(spec.title or "{area}{rule} ({level})", {**fields, "level": level.label}),
            level=level,
            device=scope.device,
            evidence=outcome.evidence,
            areas=self.stream.areas.chain(session, scope.area_id),
            area_id=scope.area_id,
            rule_id=rule.id,
            department_id=self.stream.defs.departments.get(spec.department) if spec.department else None,
            notify=list(spec.notify),
            escalation=[
                {"after_s": seconds(s.after), "notify": s.notify, "raise_to": s.raise_to}
                for s in spec.escalation
            ],
            auto_clear=spec.auto_clear,
            details={"rule": rule.key},
        )
        return alerts.raise_alert(session, trigger).alert

    def _event(
        self,
        session: Session,
        rule: Compiled,
        scope: Scope,
        outcome: Outcome,
        fields: dict[str, str],
        firing: RuleFiring,
        alert: Alert | None,
    ) -> dict[str, Any]:
        spec = rule.spec.event
        assert spec is not None
        area: AreaInfo | None = self.stream.areas.get(session, scope.area_id)
        place = actions.Place(area, fields["area"])
        lines = [f"协同联动规则 {rule.key}: {rule.spec.name.zh}"]
        lines += [_describe(e) for e in outcome.evidence[:10]]
        if alert is not None:
            lines.append(f"预警 #{alert.id} {alert.level.label}")
        try:
            event, result = actions.create_event(
                session, spec, place, fields, "\n".join(lines), self.stream.defs.departments
            )
        except CityHubError as exc:
            return {"action": "event", "ok": False, "error": exc.message}
        firing.event_id = event.id
        if alert is not None:
            alerts.link_event(session, alert, event.id, event.number)
        return result

    def _continue(
        self, session: Session, rule: Compiled, scope: Scope, outcome: Outcome, now: datetime, firing_id: int
    ) -> None:
        firing = session.get(RuleFiring, firing_id)
        if firing is None or firing.ended_at is not None:
            self.open.pop((rule.id, scope.key), None)
            return
        firing.last_true_at = now
        if rule.spec.alert is None:
            return
        level = self._alert_level(rule, outcome)
        if firing.level is None or level.rank > firing.level.rank:
            firing.level = level
            fields = self._fields(session, rule, scope, level)
            alert = self._raise(session, rule, scope, outcome, fields)
            firing.alert_id = alert.id

    def _end(self, session: Session, rule: Compiled, scope: Scope, now: datetime, firing_id: int) -> None:
        firing = session.get(RuleFiring, firing_id)
        self.open.pop((rule.id, scope.key), None)
        if firing is None:
            return
        firing.ended_at = now
        if rule.spec.alert is not None:
            alerts.clear_open(
                session,
                f"{rule.key}:{scope.key}",
                rule.spec.alert.type or rule.key,
                "conditions no longer hold",
            )

    # ---------------------------------------------------------------- webhooks, after the commit

    def _webhooks(self, message: Any) -> None:
        if self._pool is not None:
            self._pool.submit(self._call_webhooks, message)
        else:
            self._call_webhooks(message)

    def _call_webhooks(self, message: dict[str, Any]) -> None:
        rule = next((r for r in self.rules if r.id == message.get("rule_id")), None)
        if rule is None:
            return
        results = [actions.call_webhook(hook, message["payload"]) for hook in rule.spec.webhooks]
        try:
            with unit_of_work(self.factory) as session:
                firing = session.get(RuleFiring, message["firing_id"])
                if firing is not None:
                    firing.actions = [*firing.actions, *results]
        except Exception:
            log.exception("could not record the webhook outcomes of firing %s", message.get("firing_id"))


def _describe(evidence: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in evidence.items())
