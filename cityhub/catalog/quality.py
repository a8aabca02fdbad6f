"""The quality engine: a resource's checks (declared as data, GB/T 36344 dimensions) run in one pass over
its rows, scored per dimension, kept as history, and turned into a data-quality alert for the owning
department while they fail.

There is no alerts domain for data quality: an alert is a ``quality_alerts`` row plus a
``catalog.quality_failed`` message on the bus, published after commit (``catalog.quality_recovered`` when
a later run passes).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import fmean
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.cn import ric, uscc

from cityhub.access import policy
from cityhub.access.principal import Principal
from cityhub.catalog import service, sources
from cityhub.catalog.schemas import (
    CheckResult,
    CheckSpec,
    ConformityFormat,
    Dimension,
    QualityAlertOut,
    QualityDashboardRow,
    QualityRunOut,
)
from cityhub.kit.bus import publish_after_commit
from cityhub.kit.errors import NotFound
from cityhub.kit.timeutil import clock
from cityhub.models.catalog import CatalogResource, DataGrade, QualityAlert, QualityRun, UpdateCycle

QUALITY_FAILED = "catalog.quality_failed"
QUALITY_RECOVERED = "catalog.quality_recovered"
MAX_EXAMPLES = 5
RESOURCES_PER_TICK = 20
# Checks run at the resource's update cycle, but at least daily and at most hourly.
MIN_INTERVAL, MAX_INTERVAL = timedelta(hours=1), timedelta(days=1)
# Data may be this much older than its update cycle before it counts as late.
TIMELINESS_GRACE = 1.5

PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}|\d{5})$")
AREA_CODE = re.compile(r"^[1-8]\d{5}\d{0,14}$")


# ---------------------------------------------------------------- the checks


@dataclass
class Tally:
    """What a check counted: ``checked`` values, ``failed`` among them, and where (row numbers)."""

    checked: int = 0
    failed: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, ok: bool, row_no: int) -> None:
        self.checked += 1
        if not ok:
            self.failed += 1
            if len(self.examples) < MAX_EXAMPLES:
                # Row numbers, never values: a failing ID number is still personal information.
                self.examples.append(f"row {row_no}")


class Check(Protocol):
    spec: CheckSpec

    def feed(self, row_no: int, row: dict[str, Any]) -> None: ...

    def finish(self, ctx: RunContext) -> CheckResult: ...


@dataclass(frozen=True)
class RunContext:
    session: Session
    resource: CatalogResource
    now: datetime


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _result(spec: CheckSpec, tally: Tally, message: str = "", *, empty_passes: bool = True) -> CheckResult:
    if tally.checked == 0:
        return CheckResult(
            dimension=spec.dimension,
            check=spec.label,
            checked=0,
            failed=0,
            score=None,
            passed=empty_passes,
            message=message or "nothing to check (no values)",
        )
    score = round(100.0 * (1 - tally.failed / tally.checked), 2)
    return CheckResult(
        dimension=spec.dimension,
        check=spec.label,
        checked=tally.checked,
        failed=tally.failed,
        score=score,
        passed=score >= spec.threshold,
        message=message or f"{tally.failed} of {tally.checked} fail",
        examples=tally.examples,
    )


@dataclass
class Completeness:
    """完整性: required values present (not null, not blank)."""

    spec: CheckSpec
    tally: Tally = field(default_factory=Tally)

    def feed(self, row_no: int, row: dict[str, Any]) -> None:
        for name in self.spec.fields:
            self.tally.add(not _blank(row.get(name)), row_no)

    def finish(self, ctx: RunContext) -> CheckResult:
        return _result(self.spec, self.tally)


# GB/T 2260 provincial codes (31 provinces, Taiwan, Hong Kong, Macao).
PROVINCES = frozenset(
    {*(str(c) for c in (*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47))), "50", "51", "52"}
    | {"53", "54", "61", "62", "63", "64", "65", "71", "81", "82"}
)


def valid_citizen_id(value: str) -> bool:
    """GB 11643: 18 characters, a province, a real birth date and the MOD 11-2 check character (stdnum).

    Not ``stdnum``'s ``is_valid``: it also wants the county code to have existed in the birth year, which
    rejects real numbers — a resident of 市南区 (created 1983) born in 1945 carries 370202….
    """
    number = value.strip().upper()  # stdnum's compact() costs more than the whole check; values are trimmed
    if len(number) != 18 or not number[:-1].isdigit() or number[:2] not in PROVINCES:
        return False
    if number[-1] != ric.calc_check_digit(number):
        return False
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return born <= clock.now().date()


def _conforms(spec: CheckSpec) -> Callable[[str], bool]:
    fmt = spec.format
    if fmt is ConformityFormat.CITIZEN_ID:
        return valid_citizen_id
    if fmt is ConformityFormat.USCC:
        return uscc.is_valid
    if fmt is ConformityFormat.PHONE:
        return lambda v: PHONE.fullmatch(v) is not None
    if fmt is ConformityFormat.AREA_CODE:
        return lambda v: AREA_CODE.fullmatch(v) is not None
    if fmt is ConformityFormat.DATE:
        return lambda v: sources.as_datetime(v) is not None
    if fmt is ConformityFormat.CODE_LIST:
        allowed = frozenset(spec.values or ())
        return lambda v: v in allowed
    pattern = re.compile(spec.pattern or "")
    return lambda v: pattern.fullmatch(v) is not None


@dataclass
class Conformity:
    """规范性: values in their format or code list; ID numbers (GB 11643) and unified social credit codes
    (GB 32100) including their check characters."""

    spec: CheckSpec
    tally: Tally = field(default_factory=Tally)

    def __post_init__(self) -> None:
        self._ok = _conforms(self.spec)

    def feed(self, row_no: int, row: dict[str, Any]) -> None:
        for name in self.spec.fields:
            value = row.get(name)
            if not _blank(value):
                self.tally.add(self._ok(str(value).strip()), row_no)

    def finish(self, ctx: RunContext) -> CheckResult:
        return _result(
            self.spec, self.tally, f"{self.tally.failed} of {self.tally.checked} not {self.spec.format}"
        )


@dataclass
class Accuracy:
    """准确性: numbers within their plausible range."""

    spec: CheckSpec
    tally: Tally = field(default_factory=Tally)

    def feed(self, row_no: int, row: dict[str, Any]) -> None:
        low, high = self.spec.min, self.spec.max
        for name in self.spec.fields:
            value = row.get(name)
            if _blank(value):
                continue
            number = sources.as_number(value)
            ok = number is not None and (low is None or number >= low) and (high is None or number <= high)
            self.tally.add(ok, row_no)

    def finish(self, ctx: RunContext) -> CheckResult:
        low = "-∞" if self.spec.min is None else f"{self.spec.min:g}"
        high = "∞" if self.spec.max is None else f"{self.spec.max:g}"
        bounds = f"[{low}, {high}]"
        return _result(self.spec, self.tally, f"{self.tally.failed} of {self.tally.checked} outside {bounds}")


@dataclass
class Uniqueness:
    """唯一性: no two rows share the key."""

    spec: CheckSpec
    tally: Tally = field(default_factory=Tally)
    seen: set[tuple[str, ...]] = field(default_factory=set)

    def feed(self, row_no: int, row: dict[str, Any]) -> None:
        values = [row.get(n) for n in self.spec.fields]
        if any(_blank(v) for v in values):
            return
        key = tuple(str(v) for v in values)
        self.tally.add(key not in self.seen, row_no)
        self.seen.add(key)

    def finish(self, ctx: RunContext) -> CheckResult:
        return _result(self.spec, self.tally, f"{self.tally.failed} duplicates among {self.tally.checked}")


@dataclass
class Consistency:
    """一致性 between sources: each value exists in the reference resource, or — with a key — equals the
    reference's value for the same key."""

    spec: CheckSpec
    values: list[tuple[int, str, str | None]] = field(default_factory=list)

    def feed(self, row_no: int, row: dict[str, Any]) -> None:
        value = row.get(self.spec.fields[0])
        if _blank(value):
            return
        key = row.get(self.spec.key) if self.spec.key else None
        self.values.append((row_no, str(value), None if key is None else str(key)))

    def finish(self, ctx: RunContext) -> CheckResult:
        reference = ctx.session.scalar(
            select(CatalogResource).where(CatalogResource.code == self.spec.reference)
        )
        if reference is None or not sources.has_data(ctx.session, reference):
            return _result(self.spec, Tally(), f"reference {self.spec.reference} has no data to compare with")
        tally = Tally()
        if self.spec.key:
            by_key = self._reference_map(ctx.session, reference)
            for row_no, value, key in self.values:
                if key is not None and key in by_key:
                    tally.add(by_key[key] == value, row_no)
            return _result(
                self.spec, tally, f"{tally.failed} of {tally.checked} differ from {reference.code}"
            )
        known = self._reference_set(ctx.session, reference)
        for row_no, value, _key in self.values:
            tally.add(value in known, row_no)
        return _result(self.spec, tally, f"{tally.failed} of {tally.checked} not found in {reference.code}")

    def _reference_field(self) -> str:
        return self.spec.reference_field or self.spec.fields[0]

    def _reference_set(self, session: Session, reference: CatalogResource) -> set[str]:
        name = self._reference_field()
        return {str(r[name]) for r in sources.iter_rows(session, reference) if not _blank(r.get(name))}

    def _reference_map(self, session: Session, reference: CatalogResource) -> dict[str, str]:
        name, key = self._reference_field(), self.spec.reference_key or self.spec.key or ""
        return {
            str(r[key]): str(r.get(name))
            for r in sources.iter_rows(session, reference)
            if not _blank(r.get(key))
        }


@dataclass
class Timeliness:
    """时效性: the newest record is no older than the declared update cycle allows."""

    spec: CheckSpec
    latest: datetime | None = None

    def feed(self, row_no: int, row: dict[str, Any]) -> None:
        at = sources.as_datetime(row.get(self.spec.fields[0]))
        if at is not None and (self.latest is None or at > self.latest):
            self.latest = at

    def finish(self, ctx: RunContext) -> CheckResult:
        allowed = UpdateCycle(ctx.resource.update_cycle).period * TIMELINESS_GRACE
        spec = self.spec
        if self.latest is None:
            return CheckResult(
                dimension=spec.dimension,
                check=spec.label,
                checked=0,
                failed=1,
                score=0.0,
                passed=False,
                message="no dated records: the data is not being updated",
            )
        age = max(ctx.now - self.latest, timedelta(0))
        score = 100.0 if age <= allowed else round(100.0 * allowed / age, 2)
        return CheckResult(
            dimension=spec.dimension,
            check=spec.label,
            checked=1,
            failed=0 if age <= allowed else 1,
            score=score,
            passed=score >= spec.threshold,
            message=f"newest record {_hours(age)} old; "
            f"the {ctx.resource.update_cycle} cycle allows {_hours(allowed)}",
        )


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"


CHECKS: dict[Dimension, Callable[[CheckSpec], Check]] = {
    Dimension.COMPLETENESS: Completeness,
    Dimension.CONFORMITY: Conformity,
    Dimension.ACCURACY: Accuracy,
    Dimension.UNIQUENESS: Uniqueness,
    Dimension.CONSISTENCY: Consistency,
    Dimension.TIMELINESS: Timeliness,
}


# ---------------------------------------------------------------- running


def run(session: Session, principal: Principal, code: str) -> QualityRun:
    """Run a resource's checks now (its owner's data steward, or an administrator)."""
    resource = service.get(session, principal, code)
    policy.authorize_catalog(principal, "catalog.quality.run", owner_department_id=resource.department_id)
    return run_resource(session, resource, trigger="manual")


def run_resource(session: Session, resource: CatalogResource, *, trigger: str) -> QualityRun:
    started = clock.now()
    specs = [CheckSpec.model_validate(c) for c in resource.quality_checks]
    checks = [CHECKS[s.dimension](s) for s in specs]
    rows = 0
    if sources.has_data(session, resource):
        for rows, row in enumerate(sources.iter_rows(session, resource), start=1):
            for check in checks:
                check.feed(rows, row)
    ctx = RunContext(session, resource, started)
    results = [c.finish(ctx) for c in checks]
    scores = _dimension_scores(results)
    record = QualityRun(
        resource_id=resource.id,
        started_at=started,
        finished_at=clock.now(),
        trigger=trigger,
        rows=rows,
        scores=scores,
        overall=round(fmean(scores.values()), 2) if scores else None,
        passed=all(r.passed for r in results),
        results=[r.model_dump(mode="json") for r in results],
    )
    session.add(record)
    session.flush()
    _alert(session, resource, record, results)
    return record


def _dimension_scores(results: list[CheckResult]) -> dict[str, float]:
    by_dimension: dict[str, list[float]] = {}
    for r in results:
        if r.score is not None:
            by_dimension.setdefault(r.dimension.value, []).append(r.score)
    return {d: round(fmean(s), 2) for d, s in by_dimension.items()}


def _alert(session: Session, resource: CatalogResource, run_: QualityRun, results: list[CheckResult]) -> None:
    open_alert = session.scalar(
        select(QualityAlert).where(
            QualityAlert.resource_id == resource.id, QualityAlert.resolved_at.is_(None)
        )
    )
    failed = [r.model_dump(mode="json") for r in results if not r.passed]
    if not failed:
        if open_alert is not None:
            open_alert.resolved_at = run_.finished_at
            publish_after_commit(session, QUALITY_RECOVERED, _payload(resource, open_alert))
        return
    message = f"{resource.name}（{resource.code}）: {len(failed)} quality check(s) failing: " + "; ".join(
        f"{f['check']} ({f['score']})" for f in failed[:5]
    )
    if open_alert is not None:
        open_alert.last_seen_at = run_.finished_at
        open_alert.occurrences += 1
        open_alert.run_id = run_.id
        open_alert.message = message[:2000]
        open_alert.failed_checks = failed
        return
    alert = QualityAlert(
        resource_id=resource.id,
        department_id=resource.department_id,
        run_id=run_.id,
        raised_at=run_.finished_at,
        last_seen_at=run_.finished_at,
        occurrences=1,
        message=message[:2000],
        failed_checks=failed,
    )
    session.add(alert)
    session.flush()
    publish_after_commit(session, QUALITY_FAILED, _payload(resource, alert))


def _payload(resource: CatalogResource, alert: QualityAlert) -> dict[str, Any]:
    return {
        "alert_id": alert.id,
        "resource": resource.code,
        "department_id": resource.department_id,
        "message": alert.message,
        "failed_checks": [f["check"] for f in alert.failed_checks],
    }


# ---------------------------------------------------------------- the schedule


def interval(resource: CatalogResource) -> timedelta:
    period = UpdateCycle(resource.update_cycle).period
    return min(max(period, MIN_INTERVAL), MAX_INTERVAL)


def is_due(resource: CatalogResource, last: QualityRun | None, now: datetime) -> bool:
    if not resource.quality_checks:
        return False
    if last is None or resource.updated_at > last.started_at:
        return True
    if last.rows == 0 and now - last.started_at >= timedelta(minutes=5):
        return True  # nothing was there to check: look again soon (a hub table filling up)
    return now - last.started_at >= interval(resource)


def recheck_empty(session: Session) -> int:
    """Run again, now, the checks whose latest run found no rows (a bulk load has filled the hub's tables)."""
    resources = list(session.scalars(select(CatalogResource).order_by(CatalogResource.id)))
    last = service.latest_runs(session, [r.id for r in resources])
    empty = [r for r in resources if r.quality_checks and (run := last.get(r.id)) and run.rows == 0]
    for resource in empty:
        run_resource(session, resource, trigger="refill")
    return len(empty)


def scheduled_run(session: Session) -> int:
    """The scheduler's job: register the hub's own data, then run the checks that are due."""
    service.ensure_builtin(session)
    now = clock.now()
    resources = list(session.scalars(select(CatalogResource).order_by(CatalogResource.id)))
    last = service.latest_runs(session, [r.id for r in resources])
    due = [r for r in resources if is_due(r, last.get(r.id), now)][:RESOURCES_PER_TICK]
    for resource in due:
        run_resource(session, resource, trigger="schedule")
    return len(due)


# ---------------------------------------------------------------- reading


def history(session: Session, principal: Principal, code: str, *, limit: int = 50) -> list[QualityRunOut]:
    resource = service.get(session, principal, code)
    policy.authorize_catalog(principal, "catalog.quality.read", owner_department_id=resource.department_id)
    runs = session.scalars(
        select(QualityRun)
        .where(QualityRun.resource_id == resource.id)
        .order_by(QualityRun.id.desc())
        .limit(limit)
    )
    return [run_out(r, resource.code) for r in runs]


def run_out(run_: QualityRun, code: str) -> QualityRunOut:
    return QualityRunOut(
        id=run_.id,
        resource=code,
        started_at=run_.started_at,
        finished_at=run_.finished_at,
        trigger=run_.trigger,
        rows=run_.rows,
        scores=run_.scores,
        overall=run_.overall,
        passed=run_.passed,
        results=[CheckResult.model_validate(r) for r in run_.results],
    )


def dashboard(session: Session, principal: Principal) -> list[QualityDashboardRow]:
    """The latest scores of every resource the principal may see the quality of."""
    service.ensure_builtin(session)
    resources = session.scalars(
        select(CatalogResource).where(policy.readable_catalog(principal)).order_by(CatalogResource.code)
    ).all()
    if principal.role not in policy.CATALOG_ACTIONS["catalog.quality.read"]:
        policy.authorize_catalog(principal, "catalog.quality.read")  # raises: this role sees no scores
    visible = [
        r
        for r in resources
        if policy.catalog_may(principal, "catalog.quality.read", owner_department_id=r.department_id)
    ]
    runs = service.latest_runs(session, [r.id for r in visible])
    names = service.department_names(session, (r.department_id for r in visible))
    alerting = set(
        session.scalars(
            select(QualityAlert.resource_id).where(
                QualityAlert.resolved_at.is_(None), QualityAlert.resource_id.in_([r.id for r in visible])
            )
        )
    )
    return [
        _dashboard_row(r, runs.get(r.id), names.get(r.department_id, ""), r.id in alerting) for r in visible
    ]


def _dashboard_row(
    resource: CatalogResource, run_: QualityRun | None, department: str, alerting: bool
) -> QualityDashboardRow:
    return QualityDashboardRow(
        resource=resource.code,
        name=resource.name,
        department=department,
        grade=DataGrade(resource.grade),
        last_run_at=run_.finished_at if run_ else None,
        rows=run_.rows if run_ else None,
        overall=run_.overall if run_ else None,
        scores=run_.scores if run_ else {},
        passed=run_.passed if run_ else None,
        failed_checks=sum(1 for r in run_.results if not r.get("passed")) if run_ else 0,
        open_alert=alerting,
    )


def alerts(
    session: Session, principal: Principal, *, open_only: bool = True, limit: int = 100, offset: int = 0
) -> list[QualityAlertOut]:
    policy.authorize_catalog(principal, "catalog.quality.read", owner_department_id=principal.department_id)
    stmt = select(QualityAlert, CatalogResource.code).join(
        CatalogResource, CatalogResource.id == QualityAlert.resource_id
    )
    stmt = stmt.where(policy.readable_quality_alerts(principal))
    if open_only:
        stmt = stmt.where(QualityAlert.resolved_at.is_(None))
    rows = session.execute(stmt.order_by(QualityAlert.id.desc()).limit(limit).offset(offset))
    return [_alert_out(alert, code) for alert, code in rows]


def _alert_out(alert: QualityAlert, code: str) -> QualityAlertOut:
    return QualityAlertOut(
        id=alert.id,
        resource=code,
        department_id=alert.department_id,
        run_id=alert.run_id,
        raised_at=alert.raised_at,
        last_seen_at=alert.last_seen_at,
        occurrences=alert.occurrences,
        message=alert.message,
        failed_checks=alert.failed_checks,
        resolved_at=alert.resolved_at,
    )


def latest(session: Session, resource: CatalogResource) -> QualityRun:
    run_ = service.latest_runs(session, [resource.id]).get(resource.id)
    if run_ is None:
        raise NotFound(f"{resource.code} has not been checked yet")
    return run_
