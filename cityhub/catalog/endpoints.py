"""The public data catalog (一本账): resources, quality, sharing requests and grants, the access log, the
DCAT-AP export, and the shared-data endpoints that answer to grant tokens only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, UploadFile, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cityhub.access.deps import PrincipalDep, SessionDep
from cityhub.audit.hooks import bind_principal
from cityhub.catalog import aggregate, dcat, quality, service, sharing
from cityhub.catalog.schemas import (
    RESOURCE_CODE,
    AccessLogOut,
    AccessReportRow,
    AggregateOut,
    AggregateQuery,
    ApproveIn,
    GrantOut,
    QualityAlertOut,
    QualityDashboardRow,
    QualityRunOut,
    RejectIn,
    ResourceIn,
    ResourceOut,
    ResourceSummary,
    ResourceUpdate,
    RevokeIn,
    SampleLoaded,
    SharedRows,
    ShareRequestIn,
    ShareRequestOut,
    TokenIn,
    TokenOut,
)
from cityhub.kit.errors import BadRequest, CityHubError, Unauthorized
from cityhub.kit.http import problem
from cityhub.kit.timeutil import LocalInstant
from cityhub.models.catalog import AccessMode, DataGrade, RequestStatus, SharingAttribute

router = APIRouter(prefix="/catalog", tags=["catalog"])
MAX_SAMPLE_BYTES = 1_000_000

Code = Annotated[str, Path(pattern=RESOURCE_CODE, max_length=60, description="resource code (资源代码)")]
RequestId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the request's id")]
GrantId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the grant's id")]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


# ---------------------------------------------------------------- resources


@router.get("/resources", response_model=list[ResourceSummary])
def list_resources(
    principal: PrincipalDep,
    session: SessionDep,
    department: Annotated[str | None, Query(max_length=40, description="owning department code")] = None,
    tag: Annotated[str | None, Query(max_length=40, description="domain tag")] = None,
    grade: DataGrade | None = None,
    sharing_attribute: Annotated[SharingAttribute | None, Query(alias="sharing")] = None,
    q: Annotated[str | None, Query(max_length=100, description="text in code, name or description")] = None,
    builtin: Annotated[bool | None, Query(description="the hub's own data only (or external only)")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[ResourceSummary]:
    """Browse and search the catalog by department, domain tag, grade, sharing attribute and text."""
    flt = service.ResourceFilter(department, tag, grade, sharing_attribute, q, builtin)
    return service.summaries(session, service.search(session, principal, flt, limit=limit, offset=offset))


@router.post("/resources", response_model=ResourceOut, status_code=status.HTTP_201_CREATED)
def register_resource(body: ResourceIn, principal: PrincipalDep, session: SessionDep) -> ResourceOut:
    """Register an external resource: metadata, fields, grade (就高从严), sharing/open attributes, checks."""
    bind_principal(session, principal)
    return service.detail(session, service.register(session, principal, body))


@router.get("/resources/{code}", response_model=ResourceOut)
def get_resource(code: Code, principal: PrincipalDep, session: SessionDep) -> ResourceOut:
    """One resource with its fields, checks and latest quality score."""
    return service.detail(session, service.get(session, principal, code))


@router.patch("/resources/{code}", response_model=ResourceOut)
def update_resource(
    code: Code, body: ResourceUpdate, principal: PrincipalDep, session: SessionDep
) -> ResourceOut:
    """Regrade or re-describe a resource (the owner's data steward, or an administrator)."""
    bind_principal(session, principal)
    return service.detail(session, service.update(session, principal, code, body))


@router.put("/resources/{code}/sample", response_model=SampleLoaded)
async def load_sample(
    code: Code, file: UploadFile, principal: PrincipalDep, session: SessionDep
) -> SampleLoaded:
    """Upload an external resource's data as CSV (header = field names); it replaces the previous rows."""
    bind_principal(session, principal)
    raw = await file.read(MAX_SAMPLE_BYTES + 1)
    if len(raw) > MAX_SAMPLE_BYTES:
        raise BadRequest(
            f"the CSV is larger than {MAX_SAMPLE_BYTES} bytes; use `cityhub catalog load-sample`"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("the sample must be UTF-8 CSV") from exc
    rows, problems = service.load_sample(session, principal, code, text)
    return SampleLoaded(resource=code, rows=rows, rejected=problems)


# ---------------------------------------------------------------- quality


@router.post(
    "/resources/{code}/quality-runs", response_model=QualityRunOut, status_code=status.HTTP_201_CREATED
)
def run_quality(code: Code, principal: PrincipalDep, session: SessionDep) -> QualityRunOut:
    """Run the resource's quality checks now; a failing run raises a data-quality alert to the owner."""
    return quality.run_out(quality.run(session, principal, code), code)


@router.get("/resources/{code}/quality-runs", response_model=list[QualityRunOut])
def quality_history(
    code: Code, principal: PrincipalDep, session: SessionDep, limit: Limit = 50
) -> list[QualityRunOut]:
    """The history of a resource's quality runs, newest first."""
    return quality.history(session, principal, code, limit=limit)


@router.get("/quality", response_model=list[QualityDashboardRow])
def quality_dashboard(principal: PrincipalDep, session: SessionDep) -> list[QualityDashboardRow]:
    """The quality dashboard: latest score per GB/T 36344 dimension for every resource."""
    return quality.dashboard(session, principal)


@router.get("/quality-alerts", response_model=list[QualityAlertOut])
def quality_alerts(
    principal: PrincipalDep,
    session: SessionDep,
    open_only: Annotated[bool, Query(alias="open", description="only alerts still failing")] = True,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[QualityAlertOut]:
    """Data-quality alerts to the owning departments."""
    return quality.alerts(session, principal, open_only=open_only, limit=limit, offset=offset)


# ---------------------------------------------------------------- requests and grants


@router.post("/requests", response_model=ShareRequestOut, status_code=status.HTTP_201_CREATED)
def create_request(body: ShareRequestIn, principal: PrincipalDep, session: SessionDep) -> ShareRequestOut:
    """Request a resource for your department: fields, purpose, legal basis, period, rows or aggregates.

    无条件共享 resources are granted at once; 有条件共享 wait for the owner; 不予共享 are refused (403).
    """
    bind_principal(session, principal)
    return sharing.request_out(session, sharing.create_request(session, principal, body))


@router.get("/requests", response_model=list[ShareRequestOut])
def list_requests(
    principal: PrincipalDep,
    session: SessionDep,
    request_status: Annotated[RequestStatus | None, Query(alias="status")] = None,
    incoming: Annotated[
        bool | None, Query(description="true: asked of your department; false: asked by it")
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[ShareRequestOut]:
    """Sharing requests you may see: those asked of your department and those it asked."""
    reqs = sharing.list_requests(
        session, principal, status=request_status, incoming=incoming, limit=limit, offset=offset
    )
    return sharing.request_outs(session, reqs)


@router.get("/requests/{request_id}", response_model=ShareRequestOut)
def get_request(request_id: RequestId, principal: PrincipalDep, session: SessionDep) -> ShareRequestOut:
    """One sharing request."""
    return sharing.request_out(session, sharing.get_request(session, principal, request_id))


@router.post("/requests/{request_id}/approve", response_model=GrantOut)
def approve_request(
    request_id: RequestId, body: ApproveIn, principal: PrincipalDep, session: SessionDep
) -> GrantOut:
    """Approve a pending request (the owner department's data steward, or an administrator): a grant."""
    bind_principal(session, principal)
    return sharing.grant_outs(session, [sharing.approve(session, principal, request_id, body)])[0]


@router.post("/requests/{request_id}/reject", response_model=ShareRequestOut)
def reject_request(
    request_id: RequestId, body: RejectIn, principal: PrincipalDep, session: SessionDep
) -> ShareRequestOut:
    """Reject a pending request, with the reason the requester will read."""
    bind_principal(session, principal)
    return sharing.request_out(session, sharing.reject(session, principal, request_id, body.reason))


@router.get("/grants", response_model=list[GrantOut])
def list_grants(
    principal: PrincipalDep,
    session: SessionDep,
    active: Annotated[bool | None, Query(description="true: in force; false: expired or revoked")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[GrantOut]:
    """Grants your department holds or has given."""
    return sharing.grant_outs(
        session, sharing.list_grants(session, principal, active=active, limit=limit, offset=offset)
    )


@router.get("/grants/{grant_id}", response_model=GrantOut)
def get_grant(grant_id: GrantId, principal: PrincipalDep, session: SessionDep) -> GrantOut:
    """One grant."""
    return sharing.grant_outs(session, [sharing.get_grant(session, principal, grant_id)])[0]


@router.post("/grants/{grant_id}/revoke", response_model=GrantOut)
def revoke_grant(grant_id: GrantId, body: RevokeIn, principal: PrincipalDep, session: SessionDep) -> GrantOut:
    """Revoke a grant and every token that opens it."""
    bind_principal(session, principal)
    return sharing.grant_outs(session, [sharing.revoke(session, principal, grant_id, body.reason)])[0]


@router.post("/grants/{grant_id}/tokens", response_model=TokenOut, status_code=status.HTTP_201_CREATED)
def issue_token(grant_id: GrantId, body: TokenIn, principal: PrincipalDep, session: SessionDep) -> TokenOut:
    """A token that opens this grant only (shown once). Use it on /catalog/shared/…"""
    bind_principal(session, principal)
    token, secret = sharing.issue_token(session, principal, grant_id, body.name)
    grant = sharing.get_grant(session, principal, grant_id)
    return TokenOut(grant_id=grant_id, token=secret, prefix=token.prefix, expires_at=grant.expires_at)


# ---------------------------------------------------------------- the access log


@router.get("/access-log", response_model=list[AccessLogOut])
def access_log(
    principal: PrincipalDep,
    session: SessionDep,
    resource: Annotated[str | None, Query(max_length=60)] = None,
    grant_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[AccessLogOut]:
    """Every use of shared data: who, which fields, how many rows or groups, for which purpose."""
    return sharing.access_log(
        session, principal, resource=resource, grant_id=grant_id, limit=limit, offset=offset
    )


@router.get("/access-log/report", response_model=list[AccessReportRow])
def access_report(
    principal: PrincipalDep,
    session: SessionDep,
    resource: Annotated[str | None, Query(max_length=60)] = None,
    since: Annotated[LocalInstant | None, Query(description="local time unless an offset is given")] = None,
    until: Annotated[LocalInstant | None, Query()] = None,
) -> list[AccessReportRow]:
    """The owner's report: per resource and requesting department, accesses, rows, fields, purposes."""
    return sharing.access_report(session, principal, resource=resource, since=since, until=until)


# ---------------------------------------------------------------- DCAT-AP


@router.get(
    "/dcat",
    response_class=JSONResponse,
    responses={200: {"content": {"application/ld+json": {}}, "description": "DCAT-AP JSON-LD"}},
)
def export_dcat(request: Request, principal: PrincipalDep, session: SessionDep) -> JSONResponse:
    """The catalog as DCAT-AP JSON-LD (the resources you may see)."""
    resources = service.search(session, principal, service.ResourceFilter(), limit=100_000)
    document = dcat.catalog(session, resources, str(request.base_url))
    return JSONResponse(document, media_type="application/ld+json")


# ---------------------------------------------------------------- shared data (grant tokens only)

_grant_bearer = HTTPBearer(
    auto_error=False, description="a grant token (chg_…) from /catalog/grants/{id}/tokens"
)


def grant_access(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_grant_bearer)],
) -> sharing.GrantAccess:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("send the grant token: 'Authorization: Bearer chg_…'")
    access = sharing.resolve_token(session, credentials.credentials)
    sharing.rate_limit(access)
    return access


GrantAccessDep = Annotated[sharing.GrantAccess, Depends(grant_access)]
_REFUSALS: dict[int | str, dict[str, Any]] = {
    403: {"description": "the grant does not allow this (aggregate-only, expired, revoked)"},
    422: {"description": "the query is not allowed by the grant, or its groups are smaller than k"},
    429: {"description": "rate limit of the grant token"},
}


@router.get("/shared/rows", response_model=SharedRows, responses=_REFUSALS)
def shared_rows(
    access: GrantAccessDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> SharedRows | JSONResponse:
    """Rows of the granted resource — only the granted fields, masked field by field (张*, 370202********1234,
    precise locations as grid codes); for a district or street department only its area's rows unless the
    grant is city-wide. Every call is logged for the owner."""
    query: dict[str, Any] = {"offset": offset, "limit": limit}
    try:
        rows = sharing.deliver_rows(session, access, offset=offset, limit=limit)
    except CityHubError as exc:
        return _refused(session, access, AccessMode.ROWS, query, exc)
    if rows.area is not None:
        query["area"] = rows.area
    sharing.log_access(
        session, access, mode=AccessMode.ROWS, fields=rows.fields, row_count=rows.count, query=query
    )
    return rows


@router.post("/shared/aggregate", response_model=AggregateOut, responses=_REFUSALS)
def shared_aggregate(
    access: GrantAccessDep, body: AggregateQuery, session: SessionDep
) -> AggregateOut | JSONResponse:
    """A count, sum or mean grouped by area, time or category, computed inside the hub (可用不可见): groups
    under k = 10 records (more for resources with restricting tags) are withheld, optional Laplace noise;
    never rows; an area-bound department's grant counts only its area's rows. Every query is logged."""
    query = body.model_dump(mode="json", exclude_defaults=True)
    try:
        result = sharing.deliver_aggregate(session, access, body)
    except CityHubError as exc:
        return _refused(session, access, AccessMode.AGGREGATE, query, exc)
    query["suppressed_groups"] = result.suppressed_groups
    if result.area is not None:
        query["area"] = result.area
    sharing.log_access(
        session,
        access,
        mode=AccessMode.AGGREGATE,
        fields=aggregate.plan(access.resource, access.grant, body).fields_used,
        row_count=len(result.groups),
        query=query,
        detail=f"{len(result.groups)} groups returned, {result.suppressed_groups} withheld (k={result.k})",
    )
    return result


def _refused(
    session: SessionDep,
    access: sharing.GrantAccess,
    mode: AccessMode,
    query: dict[str, Any],
    exc: CityHubError,
) -> JSONResponse:
    """Refusals are answered as problem+json and still logged (the transaction commits)."""
    sharing.log_access(
        session, access, mode=mode, fields=[], row_count=0, query=query, outcome="refused", detail=exc.message
    )
    return problem(exc.status, exc.title, exc.message, code=exc.code, **exc.extra)
