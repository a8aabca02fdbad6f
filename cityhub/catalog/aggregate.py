"""Usable but not visible (可用不可见): counts, sums and means grouped by area, time or category, computed
inside the hub over a grant's fields — never rows.

Protection, in order:
1. Only the grant's fields; group keys and filters only on area, time or category fields (never a key or
   a personal field), measures only on numeric fields.
2. Optional differential privacy: with ``grant.dp_epsilon`` set, Laplace noise (numpy) is added to every
   released count and sum — count sensitivity 1, sum sensitivity the larger absolute bound of the field's
   declared range (values are clamped to it); a mean spends ε/2 on its count and ε/2 on its sum. Each
   query spends its own ε: there is no cumulative privacy budget yet, so repeated queries average the
   noise away — the owner limits that with the grant's rate and period.
3. Small-group suppression: a group with fewer than ``k`` records (10 by default; the noisy count when
   noise is on) is withheld; when exactly one group would be withheld, the next smallest is withheld too,
   so it cannot be recovered from a total. A query in which no group reaches ``k`` is refused (422).

Every query, its result size and the groups withheld are written to the access log by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from cityhub.access import policy
from cityhub.catalog import sources
from cityhub.catalog.schemas import (
    AggregateGroup,
    AggregateOut,
    AggregateQuery,
    FieldRole,
    FieldSpec,
    FieldType,
    GroupKey,
    Measure,
    TimeBucket,
)
from cityhub.kit.errors import CityHubError, Conflict, Unprocessable
from cityhub.kit.timeutil import SHANGHAI
from cityhub.models.catalog import CatalogResource, Grant

K_ANONYMITY = policy.CATALOG_MIN_GROUP  # restricting tags may raise it: policy.aggregate_k
MAX_GROUPS = 5000
GROUPABLE = (FieldRole.AREA, FieldRole.TIME, FieldRole.CATEGORY)
FILTERABLE = (FieldRole.AREA, FieldRole.CATEGORY)
NUMERIC = (FieldType.INTEGER, FieldType.NUMBER)


class SmallGroups(CityHubError):
    """The answer would describe fewer than k people or records."""

    status = 422
    title = "Groups too small"


@dataclass
class _Acc:
    rows: int = 0
    values: int = 0
    total: float = 0.0


@dataclass(frozen=True)
class Plan:
    """A validated query: which fields group, filter, measure and bound the time range."""

    keys: list[tuple[FieldSpec, TimeBucket | None]]
    filters: dict[str, str]
    measure: Measure
    measure_field: FieldSpec | None
    time_field: FieldSpec | None
    since: datetime | None
    until: datetime | None
    fields_used: list[str] = field(default_factory=list)


def plan(resource: CatalogResource, grant: Grant, query: AggregateQuery) -> Plan:
    """Check the query against the grant and the fields' roles; 422 with the reason otherwise."""
    declared = {f.name: f for f in sources.fields_of(resource)}
    granted = {n: declared[n] for n in grant.fields if n in declared}
    keys = [_group_key(granted, g) for g in query.group_by]
    for name in query.filters:
        spec = _granted(granted, name, "filter on")
        if spec.role not in FILTERABLE:
            raise Unprocessable(f"filters are allowed on area and category fields only, not {name}")
    measure_field = None
    if query.field is not None:
        measure_field = _granted(granted, query.field, "measure")
        if query.measure is not Measure.COUNT and measure_field.type not in NUMERIC:
            raise Unprocessable(
                f"{query.measure} needs a numeric field; {query.field} is {measure_field.type}"
            )
    time_field = next((f for f in granted.values() if f.role is FieldRole.TIME), None)
    if (query.since or query.until) and time_field is None:
        raise Unprocessable("since/until need a time field in the grant")
    if query.since and query.until and query.since >= query.until:
        raise Unprocessable("since must be before until")
    used = [k.name for k, _b in keys] + list(query.filters) + ([query.field] if query.field else [])
    return Plan(
        keys=keys,
        filters=dict(query.filters),
        measure=query.measure,
        measure_field=measure_field,
        time_field=time_field,
        since=sources.as_datetime(query.since),
        until=sources.as_datetime(query.until),
        fields_used=sorted(set(used)),
    )


def _granted(granted: dict[str, FieldSpec], name: str, what: str) -> FieldSpec:
    spec = granted.get(name)
    if spec is None:
        raise Unprocessable(f"cannot {what} {name}: not a field of this grant", granted_fields=list(granted))
    return spec


def _group_key(granted: dict[str, FieldSpec], key: GroupKey) -> tuple[FieldSpec, TimeBucket | None]:
    spec = _granted(granted, key.field, "group by")
    if spec.role not in GROUPABLE:
        raise Unprocessable(f"group by area, time or category fields only; {spec.name} is {spec.role}")
    if spec.role is FieldRole.TIME:
        return spec, key.bucket or TimeBucket.MONTH
    if key.bucket is not None:
        raise Unprocessable(f"{spec.name} is not a time field: it takes no bucket")
    return spec, None


# ---------------------------------------------------------------- computing


def _bucket(value: Any, bucket: TimeBucket) -> str | None:
    at = sources.as_datetime(value)
    if at is None:
        return None
    local = at.astimezone(SHANGHAI)
    if bucket is TimeBucket.DAY:
        return local.strftime("%Y-%m-%d")
    if bucket is TimeBucket.WEEK:
        year, week, _day = local.isocalendar()
        return f"{year}-W{week:02d}"
    if bucket is TimeBucket.MONTH:
        return local.strftime("%Y-%m")
    if bucket is TimeBucket.QUARTER:
        return f"{local.year}-Q{(local.month - 1) // 3 + 1}"
    return str(local.year)


def _key_of(row: dict[str, Any], keys: list[tuple[FieldSpec, TimeBucket | None]]) -> tuple[str | None, ...]:
    return tuple(
        _bucket(row.get(spec.name), bucket) if bucket else sources.as_text(row.get(spec.name))
        for spec, bucket in keys
    )


def _selected(rows: Iterator[dict[str, Any]], p: Plan) -> Iterator[dict[str, Any]]:
    for row in rows:
        if any(sources.as_text(row.get(name)) != value for name, value in p.filters.items()):
            continue
        if p.time_field is not None and (p.since or p.until):
            at = sources.as_datetime(row.get(p.time_field.name))
            if at is None or (p.since and at < p.since) or (p.until and at >= p.until):
                continue
        yield row


def _accumulate(rows: Iterator[dict[str, Any]], p: Plan) -> tuple[dict[tuple[str | None, ...], _Acc], int]:
    groups: dict[tuple[str | None, ...], _Acc] = {}
    scanned = 0
    bounds = _bounds(p.measure_field)
    for scanned, row in enumerate(_selected(rows, p), start=1):  # noqa: B007  (the count is returned)
        key = _key_of(row, p.keys)
        acc = groups.get(key)
        if acc is None:
            if len(groups) >= MAX_GROUPS:
                raise Unprocessable(f"more than {MAX_GROUPS} groups: group more coarsely")
            acc = groups[key] = _Acc()
        acc.rows += 1
        if p.measure_field is not None and p.measure is not Measure.COUNT:
            number = sources.as_number(row.get(p.measure_field.name))
            if number is not None:
                acc.values += 1
                acc.total += float(np.clip(number, *bounds)) if bounds else number
    return groups, scanned


def _bounds(spec: FieldSpec | None) -> tuple[float, float] | None:
    if spec is None or spec.min is None or spec.max is None:
        return None
    return spec.min, spec.max


@dataclass
class _Released:
    key: tuple[str | None, ...]
    n: float  # the count the suppression rule sees (noisy when noise is on)
    value: float | None


def _release(
    groups: dict[tuple[str | None, ...], _Acc], p: Plan, epsilon: float | None, rng: np.random.Generator
) -> list[_Released]:
    noise = _noise(epsilon, p, rng)
    released = []
    for key, acc in groups.items():
        n = noise.count(acc.rows)
        value: float | None
        if p.measure is Measure.COUNT:
            value = float(max(0, round(n)))
        elif p.measure is Measure.SUM:
            value = noise.sum(acc.total)
        else:
            value = noise.sum(acc.total) / max(noise.count(acc.values), 1.0) if acc.values else None
        released.append(_Released(key, n, value))
    return released


@dataclass(frozen=True)
class _Noise:
    count: Callable[[float], float]
    sum: Callable[[float], float]


def _noise(epsilon: float | None, p: Plan, rng: np.random.Generator) -> _Noise:
    if epsilon is None:
        return _Noise(count=float, sum=float)
    share = epsilon / 2 if p.measure is Measure.MEAN else epsilon
    bounds = _bounds(p.measure_field)
    if p.measure is not Measure.COUNT and bounds is None:
        raise Conflict(
            f"noise on a {p.measure} needs the declared range (min, max) of "
            f"{p.measure_field.name if p.measure_field else 'the field'}; ask the owner to declare it"
        )
    sensitivity = max(abs(bounds[0]), abs(bounds[1])) if bounds else 1.0
    return _Noise(
        count=lambda x: float(x + rng.laplace(0.0, 1.0 / share)),
        sum=lambda x: float(x + rng.laplace(0.0, sensitivity / share)),
    )


def _suppress(released: list[_Released], k: int) -> tuple[list[_Released], int]:
    kept = sorted((r for r in released if r.n >= k), key=lambda r: r.n)
    withheld = len(released) - len(kept)
    if withheld == 1 and kept:
        kept = kept[1:]  # complementary suppression: the lone withheld group must not follow from a total
        withheld += 1
    return kept, withheld


def run(
    resource: CatalogResource,
    grant: Grant,
    query: AggregateQuery,
    rows: Iterator[dict[str, Any]],
    *,
    k: int = K_ANONYMITY,
    rng: np.random.Generator | None = None,
) -> AggregateOut:
    """Answer the query over ``rows`` (the resource's data) or raise ``SmallGroups``/422."""
    p = plan(resource, grant, query)
    groups, _scanned = _accumulate(rows, p)
    released = _release(groups, p, grant.dp_epsilon, rng or np.random.default_rng())
    kept, withheld = _suppress(released, k)
    if released and not kept:
        raise SmallGroups(
            f"every group has fewer than k={k} records; group more coarsely (a larger area, a longer period) "
            "or drop filters",
            k=k,
            groups=len(released),
        )
    names = [spec.name for spec, _b in p.keys]
    return AggregateOut(
        grant_id=grant.id,
        resource=resource.code,
        measure=p.measure,
        field=query.field,
        k=k,
        groups=[
            AggregateGroup(
                key=dict(zip(names, r.key, strict=True)),
                value=None if r.value is None else round(r.value, 4),
            )
            for r in sorted(kept, key=lambda r: tuple("" if v is None else v for v in r.key))
        ],
        suppressed_groups=withheld,
        dp_epsilon=grant.dp_epsilon,
    )
