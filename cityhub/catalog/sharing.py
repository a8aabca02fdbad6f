"""Sharing on demand (按需共享): requests, decisions, grants that expire, tokens scoped to one grant,
rows masked field by field, a rate limit per token, and the access log every use writes.

Decisions come from ``cityhub.access.policy``: who may ask, approve, revoke and read (``CATALOG_ACTIONS``),
what a grade allows (``allowed_modes``, ``may_unmask``, ``field_masked``), what restricting tags demand
(``sharing_decision``, ``aggregate_k``) and which area's rows a grant delivers (``grant_area``).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cityhub.access import policy
from cityhub.access.masking import TEXT_MASKS, coarsen_coordinate
from cityhub.access.principal import SYSTEM, Principal
from cityhub.access.tokens import token_digest
from cityhub.audit.hooks import record
from cityhub.catalog import aggregate, service, sources
from cityhub.catalog.schemas import (
    MAX_FIELDS_PER_REQUEST,
    AccessLogOut,
    AccessReportRow,
    AggregateOut,
    AggregateQuery,
    ApproveIn,
    FieldRole,
    FieldSpec,
    FieldType,
    GrantOut,
    MaskKind,
    Sensitivity,
    SharedRows,
    ShareRequestIn,
    ShareRequestOut,
)
from cityhub.geo import service as geo
from cityhub.kit.errors import (
    CityHubError,
    Conflict,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
)
from cityhub.kit.timeutil import clock
from cityhub.models.area import Area, AreaLevel
from cityhub.models.catalog import (
    AccessLog,
    AccessMode,
    CatalogResource,
    DataGrade,
    Grant,
    GrantScope,
    GrantToken,
    RequestStatus,
    ShareRequest,
)
from cityhub.models.org import Department, Role, User

GRANT_TOKEN_PREFIX = "chg_"
MAX_PAGE = 1000
AGGREGATABLE_ROLES = (FieldRole.AREA, FieldRole.TIME, FieldRole.CATEGORY)
NUMERIC = (FieldType.INTEGER, FieldType.NUMBER)


class GrantInactive(CityHubError):
    """The grant behind a token has expired or was revoked."""

    status = 403
    title = "Grant not active"


# ---------------------------------------------------------------- requests


def create_request(session: Session, principal: Principal, data: ShareRequestIn) -> ShareRequest:
    """Ask for a resource: 无条件共享 is granted at once (unless a restricting tag asks for the owner's
    approval), 有条件共享 waits, 不予共享 is refused."""
    policy.authorize_catalog(principal, "catalog.request")
    resource = service.get(session, principal, data.resource)
    if resource.department_id == principal.department_id:
        raise Conflict(f"your department owns {resource.code}; there is nothing to request")
    decision = policy.sharing_decision(resource.sharing, resource.tags or [])
    if decision == "refuse":
        raise Forbidden(
            f"{resource.code} is 不予共享 (not shared)"
            + (f": {resource.sharing_conditions}" if resource.sharing_conditions else "")
        )
    check_fields(resource, data.fields, data.mode)
    _refuse_duplicate(session, resource.id, principal.department_id)
    assert principal.department_id is not None  # catalog.request needs a department (MEMBER)
    req = ShareRequest(
        resource_id=resource.id,
        department_id=principal.department_id,
        requested_by_id=principal.user_id,
        mode=data.mode,
        fields=list(data.fields),
        purpose=data.purpose.strip(),
        legal_basis=data.legal_basis.strip(),
        period_days=data.period_days,
        status=RequestStatus.PENDING,
        created_at=clock.now(),
    )
    session.add(req)
    session.flush()
    if decision == "grant":
        _grant(session, req, SYSTEM, reason="无条件共享：自动授权", decision=ApproveIn())
    return req


def check_fields(resource: CatalogResource, names: Sequence[str], mode: AccessMode) -> list[FieldSpec]:
    """Only declared fields, each once, no wildcards, not too many, and usable in the mode asked for."""
    if any(n.strip() in ("", "*") for n in names):
        raise Unprocessable("list the fields you need by name; wildcards and empty names are refused")
    duplicates = sorted({n for n in names if list(names).count(n) > 1})
    if duplicates:
        raise Unprocessable(f"fields listed twice: {', '.join(duplicates)}")
    if len(names) > MAX_FIELDS_PER_REQUEST:
        raise Unprocessable(
            f"over-broad request: {len(names)} fields; at most {MAX_FIELDS_PER_REQUEST} (minimum necessary)"
        )
    declared = {f.name: f for f in sources.fields_of(resource)}
    unknown = [n for n in names if n not in declared]
    if unknown:
        raise Unprocessable(
            f"{resource.code} has no field(s) {', '.join(unknown)}", declared_fields=list(declared)
        )
    specs = [declared[n] for n in names]
    _check_mode(resource, specs, mode)
    return specs


def _check_mode(resource: CatalogResource, specs: Sequence[FieldSpec], mode: AccessMode) -> None:
    grade = DataGrade(resource.grade)
    sensitive = [f.name for f in specs if f.sensitive_personal]
    if mode not in policy.allowed_modes(grade, bool(sensitive)):
        why = (
            f"sensitive personal information ({', '.join(sensitive)})"
            if sensitive
            else f"graded {grade.label}"
        )
        raise Unprocessable(
            f"{resource.code}: {why} is shared as aggregates only (可用不可见); ask with mode=aggregate"
        )
    if mode is AccessMode.AGGREGATE:
        unusable = [f.name for f in specs if f.role not in AGGREGATABLE_ROLES and f.type not in NUMERIC]
        if unusable:
            raise Unprocessable(
                "over-broad request: an aggregate grant needs only area, time, category or numeric fields; "
                f"drop {', '.join(unusable)}"
            )


def _refuse_duplicate(session: Session, resource_id: int, department_id: int | None) -> None:
    pending = session.scalar(
        select(ShareRequest.id).where(
            ShareRequest.resource_id == resource_id,
            ShareRequest.department_id == department_id,
            ShareRequest.status == RequestStatus.PENDING,
        )
    )
    if pending is not None:
        raise Conflict(f"your department already has request {pending} pending for this resource")


def get_request(session: Session, principal: Principal, request_id: int) -> ShareRequest:
    req = session.scalar(
        select(ShareRequest).where(ShareRequest.id == request_id, policy.readable_share_requests(principal))
    )
    if req is None:
        raise NotFound(f"no sharing request {request_id}")
    return req


def list_requests(
    session: Session,
    principal: Principal,
    *,
    status: RequestStatus | None = None,
    incoming: bool | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[ShareRequest]:
    """Requests the principal may see; ``incoming`` = asked of its department, else asked by it."""
    stmt = select(ShareRequest).where(policy.readable_share_requests(principal))
    if status is not None:
        stmt = stmt.where(ShareRequest.status == status)
    if incoming is not None and principal.department_id is not None:
        owned = select(CatalogResource.id).where(CatalogResource.department_id == principal.department_id)
        stmt = stmt.where(
            ShareRequest.resource_id.in_(owned)
            if incoming
            else ShareRequest.department_id == principal.department_id
        )
    return list(session.scalars(stmt.order_by(ShareRequest.id.desc()).limit(limit).offset(offset)))


# ---------------------------------------------------------------- decisions


def approve(session: Session, principal: Principal, request_id: int, data: ApproveIn) -> Grant:
    """The owner department's data steward (or an administrator) approves a conditional request."""
    req, resource = _pending(session, principal, request_id)
    grade = DataGrade(resource.grade)
    declared = {f.name: f for f in sources.fields_of(resource)}
    for name in data.unmasked_fields:
        spec = declared.get(name)
        if spec is None or name not in req.fields:
            raise Unprocessable(f"{name} is not one of the requested fields")
        if req.mode is AccessMode.AGGREGATE or not policy.may_unmask(
            grade, personal=spec.personal, sensitive=spec.sensitive_personal
        ):
            raise Unprocessable(f"{name} may not be delivered unmasked ({grade.label}, {spec.sensitivity})")
    if data.period_days is not None and data.period_days > req.period_days:
        raise Unprocessable(f"the grant may be shorter than asked ({req.period_days} days), not longer")
    if data.dp_epsilon is not None and req.mode is AccessMode.ROWS:
        raise Unprocessable("differential-privacy noise applies to aggregate grants only")
    return _grant(session, req, principal, reason=data.reason, decision=data)


def reject(session: Session, principal: Principal, request_id: int, reason: str) -> ShareRequest:
    req, _resource = _pending(session, principal, request_id)
    req.status = RequestStatus.REJECTED
    _decided(req, principal, reason.strip())
    session.flush()
    return req


def _pending(session: Session, principal: Principal, request_id: int) -> tuple[ShareRequest, CatalogResource]:
    req = get_request(session, principal, request_id)
    resource = session.get_one(CatalogResource, req.resource_id)
    policy.authorize_catalog(
        principal,
        "catalog.decide",
        owner_department_id=resource.department_id,
        requester_department_id=req.department_id,
        grade=DataGrade(resource.grade),
    )
    if req.status is not RequestStatus.PENDING:
        raise Conflict(f"request {req.id} is already {req.status}")
    return req, resource


def _decided(req: ShareRequest, principal: Principal, reason: str) -> None:
    req.decided_by_id = principal.user_id
    req.decided_by = principal.username
    req.decided_at = clock.now()
    req.decision_reason = reason or None


def _grant(
    session: Session, req: ShareRequest, principal: Principal, *, reason: str, decision: ApproveIn
) -> Grant:
    req.status = RequestStatus.APPROVED
    _decided(req, principal, reason)
    now = clock.now()
    grant = Grant(
        request_id=req.id,
        resource_id=req.resource_id,
        department_id=req.department_id,
        mode=req.mode,
        fields=list(req.fields),
        unmasked_fields=list(decision.unmasked_fields),
        purpose=req.purpose,
        legal_basis=req.legal_basis,
        dp_epsilon=decision.dp_epsilon,
        rate_per_minute=decision.rate_per_minute,
        scope=decision.scope,
        granted_at=now,
        expires_at=now + timedelta(days=decision.period_days or req.period_days),
    )
    session.add(grant)
    session.flush()
    return grant


def revoke(session: Session, principal: Principal, grant_id: int, reason: str) -> Grant:
    grant = get_grant(session, principal, grant_id)
    resource = session.get_one(CatalogResource, grant.resource_id)
    policy.authorize_catalog(principal, "catalog.revoke", owner_department_id=resource.department_id)
    if grant.revoked_at is not None:
        raise Conflict(f"grant {grant.id} was already revoked")
    grant.revoked_at = clock.now()
    grant.revoked_reason = reason.strip()
    session.execute(
        update(GrantToken)
        .where(GrantToken.grant_id == grant.id, GrantToken.revoked_at.is_(None))
        .values(revoked_at=grant.revoked_at)
    )
    session.flush()
    return grant


# ---------------------------------------------------------------- grants and tokens


def get_grant(session: Session, principal: Principal, grant_id: int) -> Grant:
    grant = session.scalar(select(Grant).where(Grant.id == grant_id, policy.readable_grants(principal)))
    if grant is None:
        raise NotFound(f"no grant {grant_id}")
    return grant


def list_grants(
    session: Session, principal: Principal, *, active: bool | None = None, limit: int = 100, offset: int = 0
) -> list[Grant]:
    stmt = select(Grant).where(policy.readable_grants(principal))
    now = clock.now()
    if active is True:
        stmt = stmt.where(Grant.revoked_at.is_(None), Grant.expires_at > now)
    elif active is False:
        stmt = stmt.where((Grant.revoked_at.is_not(None)) | (Grant.expires_at <= now))
    return list(session.scalars(stmt.order_by(Grant.id.desc()).limit(limit).offset(offset)))


def is_active(grant: Grant, now: datetime | None = None) -> bool:
    return grant.revoked_at is None and grant.expires_at > (now or clock.now())


def require_active(grant: Grant) -> None:
    if grant.revoked_at is not None:
        raise GrantInactive(f"grant {grant.id} was revoked: {grant.revoked_reason or 'no reason given'}")
    if grant.expires_at <= clock.now():
        raise GrantInactive(f"grant {grant.id} expired at {grant.expires_at.isoformat()}; request it again")


def issue_token(session: Session, principal: Principal, grant_id: int, name: str) -> tuple[GrantToken, str]:
    """A token that opens this grant only; the secret is shown once, only its hash is kept."""
    grant = get_grant(session, principal, grant_id)
    policy.authorize_catalog(principal, "catalog.token.issue", requester_department_id=grant.department_id)
    require_active(grant)
    secret = GRANT_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = GrantToken(
        grant_id=grant.id,
        user_id=principal.user_id,
        name=name,
        prefix=secret[:12],
        token_hash=token_digest(secret),
        created_at=clock.now(),
    )
    session.add(token)
    session.flush()
    return token, secret


@dataclass(frozen=True)
class GrantAccess:
    """Who is using which grant through which token (resolved once per request)."""

    token: GrantToken
    grant: Grant
    resource: CatalogResource
    principal: Principal


def resolve_token(session: Session, secret: str) -> GrantAccess:
    if not secret.startswith(GRANT_TOKEN_PREFIX):
        raise Unauthorized(
            "shared data is read with a grant token (chg_…) from POST /api/v1/catalog/grants/{id}/tokens"
        )
    token = session.scalar(select(GrantToken).where(GrantToken.token_hash == token_digest(secret)))
    if token is None:
        raise Unauthorized("the grant token is not valid")
    grant = session.get_one(Grant, token.grant_id)
    require_active(grant)  # says why: expired, or revoked and with what reason
    if token.revoked_at is not None:
        raise Unauthorized("this grant token was revoked; issue a new one")
    now = clock.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        token.last_used_at = now
    resource = session.get_one(CatalogResource, grant.resource_id)
    department = session.get(Department, grant.department_id)
    area = session.get(Area, department.area_id) if department and department.area_id else None
    user = session.get(User, token.user_id) if token.user_id is not None else None
    principal = Principal(
        user_id=token.user_id,
        username=f"{user.username if user else token.name} @ {department.name if department else '?'}",
        role=Role(user.role) if user else Role.HANDLER,
        department_id=grant.department_id,
        # The grant is the department's: its area (not the token holder's) bounds what the grant delivers.
        area_id=area.id if area else None,
        area_level=AreaLevel(area.level) if area else None,
    )
    return GrantAccess(token, grant, resource, principal)


# ---------------------------------------------------------------- the rate limit


class TokenBucket:
    """Per-token rate limit of the embedded runtime: ``rate`` requests a minute, bursts up to ``rate``.

    In memory and per process — with several API processes each enforces its own bucket, so the
    effective limit is rate × processes (a shared store, e.g. the database or NATS KV, would be needed).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[int, tuple[float, float]] = {}

    def take(self, key: int, rate_per_minute: int, now: float | None = None) -> float | None:
        """Spend one token; None when allowed, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        capacity, per_second = float(rate_per_minute), rate_per_minute / 60.0
        with self._lock:
            tokens, last = self._state.get(key, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * per_second)
            if tokens < 1.0:
                self._state[key] = (tokens, now)
                return (1.0 - tokens) / per_second
            self._state[key] = (tokens - 1.0, now)
            return None

    def reset(self) -> None:
        with self._lock:
            self._state.clear()


limiter = TokenBucket()


def rate_limit(access: GrantAccess) -> None:
    wait = limiter.take(access.token.id, access.grant.rate_per_minute)
    if wait is not None:
        raise TooManyRequests(
            f"rate limit of {access.grant.rate_per_minute} requests a minute for this grant token",
            retry_after=round(wait, 1),
        )


# ---------------------------------------------------------------- delivering rows


def deliver_rows(session: Session, access: GrantAccess, *, offset: int, limit: int) -> SharedRows:
    """A page of the resource, only the granted fields, each masked unless the grant lifts it."""
    grant, resource = access.grant, access.resource
    if grant.mode is not AccessMode.ROWS:
        raise Forbidden("this grant allows aggregate queries only: POST /api/v1/catalog/shared/aggregate")
    if not sources.has_data(session, resource):
        raise Conflict(f"{resource.code} has no data in the hub yet")
    declared = {f.name: f for f in sources.fields_of(resource)}
    specs = [declared[n] for n in grant.fields if n in declared]
    masked = [s for s in specs if _masked(s, grant)]
    within = confined_area(access)
    raw = sources.page(session, resource, offset=offset, limit=min(limit, MAX_PAGE), within=within)
    grids = _GridLookup(session)
    rows = [_deliver(row, specs, {m.name for m in masked}, declared, grids) for row in raw]
    return SharedRows(
        grant_id=grant.id,
        resource=resource.code,
        fields=[s.name for s in specs],
        masked_fields=[m.name for m in masked],
        offset=offset,
        limit=min(limit, MAX_PAGE),
        count=len(rows),
        rows=rows,
        area=_area_code(session, within),
    )


def deliver_aggregate(session: Session, access: GrantAccess, query: AggregateQuery) -> AggregateOut:
    """A grouped count, sum or mean over the rows the grant may use (its area's, for an area-bound
    department), with the k its resource's restricting tags demand."""
    resource = access.resource
    if not sources.has_data(session, resource):
        raise Conflict(f"{resource.code} has no data in the hub yet")
    within = confined_area(access)
    result = aggregate.run(
        resource,
        access.grant,
        query,
        sources.iter_rows(session, resource, within=within),
        k=policy.aggregate_k(resource.tags or []),
    )
    return result.model_copy(update={"area": _area_code(session, within)})


def confined_area(access: GrantAccess) -> int | None:
    """The area the grant's rows are confined to (None: every row), if the resource's rows have areas."""
    if not sources.area_bound(access.resource):
        return None
    return policy.grant_area(access.principal, GrantScope(access.grant.scope))


def _area_code(session: Session, area_id: int | None) -> str | None:
    return None if area_id is None else session.get_one(Area, area_id).code


def _masked(spec: FieldSpec, grant: Grant) -> bool:
    return policy.field_masked(
        personal=spec.personal,
        sensitive=spec.sensitivity is Sensitivity.SENSITIVE,
        masked_kind=spec.mask.value,
        unmasked_by_grant=spec.name in (grant.unmasked_fields or []),
    )


def _deliver(
    row: dict[str, Any],
    specs: Iterable[FieldSpec],
    masked: set[str],
    declared: dict[str, FieldSpec],
    grids: _GridLookup,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for spec in specs:
        value = row.get(spec.name)
        if spec.name not in masked:
            out[spec.name] = sources.as_text(value) if spec.type in (FieldType.DATETIME,) else value
        elif spec.mask is MaskKind.LOCATION:
            out[spec.name] = grids.grid_of(row, declared, value)
        else:
            out[spec.name] = TEXT_MASKS[spec.mask.value](sources.as_text(value))
    return out


class _GridLookup:
    """Precise location → the code of the grid containing it (else the coordinate rounded to ~1 km)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._codes: dict[int, str] = {}

    def grid_of(self, row: dict[str, Any], declared: dict[str, FieldSpec], value: Any) -> Any:
        lon = next((row.get(f.name) for f in declared.values() if f.role is FieldRole.LON), None)
        lat = next((row.get(f.name) for f in declared.values() if f.role is FieldRole.LAT), None)
        lon_n, lat_n = sources.as_number(lon), sources.as_number(lat)
        if lon_n is None or lat_n is None:
            return coarsen_coordinate(sources.as_number(value))
        try:
            grid_id = geo.locate(self._session, lon_n, lat_n).get(AreaLevel.GRID)
        except CityHubError:
            grid_id = None
        if grid_id is None:
            return coarsen_coordinate(sources.as_number(value))
        if grid_id not in self._codes:
            self._codes[grid_id] = self._session.get_one(Area, grid_id).code
        return self._codes[grid_id]


# ---------------------------------------------------------------- the access log


def log_access(
    session: Session,
    access: GrantAccess,
    *,
    mode: AccessMode,
    fields: Sequence[str],
    row_count: int,
    query: dict[str, Any],
    outcome: str = "ok",
    detail: str | None = None,
) -> AccessLog:
    """One line per use: who, which fields, how many rows (or groups), which purpose — and the audit log."""
    grant = access.grant
    entry = AccessLog(
        at=clock.now(),
        grant_id=grant.id,
        resource_id=grant.resource_id,
        department_id=grant.department_id,
        user_id=access.token.user_id,
        actor=access.principal.username[:100],
        token_id=access.token.id,
        mode=mode,
        fields=list(fields),
        row_count=row_count,
        purpose=grant.purpose,
        query=query,
        outcome=outcome,
        detail=(detail or "")[:500] or None,
    )
    session.add(entry)
    record(
        session,
        access.principal,
        "catalog_shared_read" if outcome == "ok" else "catalog_shared_refused",
        "catalog_grants",
        str(grant.id),
        {"resource": access.resource.code, "fields": list(fields), "rows": row_count},
        purpose=grant.purpose[:200],
    )
    session.flush()
    return entry


def access_log(
    session: Session,
    principal: Principal,
    *,
    resource: str | None = None,
    grant_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AccessLogOut]:
    stmt = (
        select(AccessLog, CatalogResource.code)
        .join(CatalogResource, CatalogResource.id == AccessLog.resource_id)
        .where(policy.readable_access_log(principal))
    )
    if resource is not None:
        stmt = stmt.where(CatalogResource.code == resource)
    if grant_id is not None:
        stmt = stmt.where(AccessLog.grant_id == grant_id)
    rows = session.execute(stmt.order_by(AccessLog.id.desc()).limit(limit).offset(offset))
    return [_log_out(entry, code) for entry, code in rows]


def _log_out(entry: AccessLog, code: str) -> AccessLogOut:
    return AccessLogOut(
        id=entry.id,
        at=entry.at,
        grant_id=entry.grant_id,
        resource=code,
        department_id=entry.department_id,
        actor=entry.actor,
        mode=entry.mode,
        fields=entry.fields,
        row_count=entry.row_count,
        purpose=entry.purpose,
        query=entry.query,
        outcome=entry.outcome,
        detail=entry.detail,
    )


def access_report(
    session: Session,
    principal: Principal,
    *,
    resource: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AccessReportRow]:
    """For the owner: per resource and requesting department, how often, how many rows, which fields."""
    policy.authorize_catalog(
        principal, "catalog.access_log.read", owner_department_id=principal.department_id
    )
    stmt = (
        select(AccessLog, CatalogResource.code)
        .join(CatalogResource, CatalogResource.id == AccessLog.resource_id)
        .where(policy.readable_access_log(principal))
    )
    if resource is not None:
        stmt = stmt.where(CatalogResource.code == resource)
    if since is not None:
        stmt = stmt.where(AccessLog.at >= since)
    if until is not None:
        stmt = stmt.where(AccessLog.at < until)
    report: dict[tuple[str, int], dict[str, Any]] = {}
    for entry, code in session.execute(stmt.order_by(AccessLog.id)):
        line = report.setdefault((code, entry.department_id), _new_line(entry))
        line["accesses"] += 1
        line["refused"] += entry.outcome != "ok"
        line["rows"] += entry.row_count
        line["fields"].update(entry.fields)
        line["purposes"].add(entry.purpose)
        line["last_at"] = entry.at
    names = service.department_names(session, (d for _c, d in report))
    return [
        AccessReportRow(
            resource=code,
            department_id=dept,
            department=names.get(dept, ""),
            accesses=line["accesses"],
            refused=line["refused"],
            rows=line["rows"],
            fields=sorted(line["fields"]),
            purposes=sorted(line["purposes"]),
            first_at=line["first_at"],
            last_at=line["last_at"],
        )
        for (code, dept), line in sorted(report.items())
    ]


def _new_line(entry: AccessLog) -> dict[str, Any]:
    return {
        "accesses": 0,
        "refused": 0,
        "rows": 0,
        "fields": set(),
        "purposes": set(),
        "first_at": entry.at,
        "last_at": entry.at,
    }


# ---------------------------------------------------------------- views


def request_out(session: Session, req: ShareRequest) -> ShareRequestOut:
    return request_outs(session, [req])[0]


def request_outs(session: Session, reqs: Sequence[ShareRequest]) -> list[ShareRequestOut]:
    resources = {
        r.id: r
        for r in session.scalars(
            select(CatalogResource).where(CatalogResource.id.in_({q.resource_id for q in reqs}))
        )
    }
    names = service.department_names(session, (q.department_id for q in reqs))
    grants = dict(
        session.execute(
            select(Grant.request_id, Grant.id).where(Grant.request_id.in_([q.id for q in reqs]))
        ).all()
    )
    return [
        ShareRequestOut(
            id=q.id,
            resource=resources[q.resource_id].code,
            resource_name=resources[q.resource_id].name,
            owner_department_id=resources[q.resource_id].department_id,
            department_id=q.department_id,
            department=names.get(q.department_id, ""),
            requested_by_id=q.requested_by_id,
            mode=q.mode,
            fields=q.fields,
            purpose=q.purpose,
            legal_basis=q.legal_basis,
            period_days=q.period_days,
            status=q.status,
            created_at=q.created_at,
            decided_by=q.decided_by,
            decided_at=q.decided_at,
            decision_reason=q.decision_reason,
            grant_id=grants.get(q.id),
        )
        for q in reqs
    ]


def grant_outs(session: Session, grants: Sequence[Grant]) -> list[GrantOut]:
    codes = dict(
        session.execute(
            select(CatalogResource.id, CatalogResource.code).where(
                CatalogResource.id.in_({g.resource_id for g in grants})
            )
        ).all()
    )
    names = service.department_names(session, (g.department_id for g in grants))
    now = clock.now()
    return [
        GrantOut(
            id=g.id,
            request_id=g.request_id,
            resource=codes[g.resource_id],
            department_id=g.department_id,
            department=names.get(g.department_id, ""),
            mode=g.mode,
            fields=g.fields,
            unmasked_fields=g.unmasked_fields or [],
            purpose=g.purpose,
            legal_basis=g.legal_basis,
            dp_epsilon=g.dp_epsilon,
            rate_per_minute=g.rate_per_minute,
            scope=GrantScope(g.scope),
            granted_at=g.granted_at,
            expires_at=g.expires_at,
            revoked_at=g.revoked_at,
            revoked_reason=g.revoked_reason,
            active=is_active(g, now),
        )
        for g in grants
    ]
