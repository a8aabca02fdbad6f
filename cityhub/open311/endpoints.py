"""Open311 GeoReport v2 under /open311/v2, for citizen-facing apps.

Reads are public and show only public fields; creating a request needs an API token of the hub as
``api_key``. Every error — bad input, unknown ids, a bad format extension — is answered in the spec's
format (``[{"code": 400, "description": "…"}]`` or ``<errors><error>…</error></errors>``) with the
matching HTTP status, in the format the path asked for (JSON when it names none).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from cityhub.access.deps import SessionDep
from cityhub.events.service import DispatchPolicy
from cityhub.kit.db import unit_of_work
from cityhub.kit.errors import CityHubError, NotFound
from cityhub.kit.http import Fallback, error_format
from cityhub.open311 import render, service
from cityhub.open311.render import (
    CreatedOut,
    ErrorOut,
    Format,
    RequestOut,
    ServiceDefinitionOut,
    ServiceOut,
    TokenOut,
)


class Open311Route(APIRoute):
    """A route that answers every error in the GeoReport error format, in the format its path asked for."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            fmt = _requested_format(request)
            if fmt is None:
                return render.error(Format.JSON, 404, "unknown format: end the path in .json or .xml")
            try:
                return await handler(request)
            except CityHubError as exc:
                return render.error(fmt, exc.status, exc.message)
            except RequestValidationError as exc:
                problems = "; ".join(str(e.get("msg", "invalid")) for e in exc.errors()[:3])
                return render.error(fmt, 400, problems or "invalid request")
            except StarletteHTTPException as exc:
                return render.error(fmt, exc.status_code, str(exc.detail))

        return handle


class _Unrouted(Fallback, Open311Route):
    """The catch-all under /open311/v2: paths no Open311 route takes, in any method."""


def _requested_format(request: Request) -> Format | None:
    """The format named by the ``{fmt}`` path parameter (None if it names none we speak); else by the
    path's suffix, JSON by default."""
    if "fmt" in request.path_params:
        return render.format_of(str(request.path_params["fmt"]))
    return _path_format(request.url.path)


def _path_format(path: str) -> Format:
    return render.format_of(path.rpartition(".")[2]) or Format.JSON


router = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=Open311Route)
# Errors no route answers (a body over the limit, a method the path does not take, a crash) in the spec's
# format too.
error_format(
    router.prefix + "/", lambda path, status, detail: render.error(_path_format(path), status, detail)
)

FormatPath = Annotated[Format, Path(description="the response format: json or xml")]
Jurisdiction = Annotated[
    str | None, Query(description="optional: the code of the city this hub serves, e.g. 370200")
]
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": list[ErrorOut], "description": text}
    for status, text in (
        (400, "bad input, e.g. an unknown service_code, no location, a bad date or status"),
        (404, "unknown jurisdiction, service, request or format"),
        ("4XX", "every error, in the spec's format (never 422: invalid input is 400)"),
    )
}
BOTH_FORMATS: dict[str, dict[str, Any]] = {"application/json": {}, "text/xml": {}}


async def _dispatch_policy(request: Request) -> DispatchPolicy:
    policy: DispatchPolicy = request.app.state.dispatch_policy
    return policy


@router.get(
    "/services.{fmt}",
    response_model=list[ServiceOut],
    responses={200: {"content": BOTH_FORMATS}, **ERRORS},
)
def list_services(fmt: FormatPath, session: SessionDep, jurisdiction_id: Jurisdiction = None) -> Response:
    """GET services: the types of request a citizen can file — one per leaf of the category taxonomy
    (service_code = category code, group = level-1 category). Public."""
    service.check_jurisdiction(session, jurisdiction_id)
    return render.records(fmt, "services", "service", service.list_services(session))


@router.get(
    "/services/{service_code}.{fmt}",
    response_model=ServiceDefinitionOut,
    responses={200: {"content": BOTH_FORMATS}, **ERRORS},
)
def get_service_definition(
    service_code: str, fmt: FormatPath, session: SessionDep, jurisdiction_id: Jurisdiction = None
) -> Response:
    """GET service definition: the extra attributes of a service — none in this hub, so an empty list.
    Unknown codes are 404. Public."""
    service.check_jurisdiction(session, jurisdiction_id)
    return render.record(fmt, "service_definition", service.service_definition(session, service_code))


@router.post(
    "/requests.{fmt}",
    response_model=list[CreatedOut],
    status_code=201,
    responses={
        201: {"content": BOTH_FORMATS},
        **ERRORS,
        403: {"model": list[ErrorOut], "description": "api_key missing, invalid or not allowed to report"},
    },
)
def create_request(
    fmt: FormatPath,
    request: Request,
    form: Annotated[service.RequestForm, Form()],
    dispatch_policy: Annotated[DispatchPolicy, Depends(_dispatch_policy)],
) -> Response:
    """POST request (form-encoded): file a service request as an event of channel ``open311``.

    Needs ``api_key`` (an API token of this hub, whose user files the event), ``service_code``, and a
    location: ``lat``+``long`` (WGS-84), ``address_string`` or ``address_id`` (an area code of this city).
    The reporter's name (last_name + first_name, Chinese order) and phone are kept for call-backs and never
    published; ``email``, ``device_id`` and ``account_id`` are not stored. Answers the request id at once.
    """
    # Its own unit of work: a refused request must roll back, and errors here become responses, not
    # exceptions that the request-scoped session dependency would see.
    with unit_of_work(request.app.state.session_factory) as session:
        created = service.submit(session, dispatch_policy, form)
    return render.records(fmt, "service_requests", "request", [created], status_code=201)


@router.get(
    "/requests.{fmt}",
    response_model=list[RequestOut],
    responses={200: {"content": BOTH_FORMATS}, **ERRORS},
)
def list_requests(
    fmt: FormatPath, session: SessionDep, query: Annotated[service.RequestQuery, Query()]
) -> Response:
    """GET requests: public service requests, newest first, at most 1000 — by ``service_request_id``
    (comma-separated, overrides the rest), or by ``service_code``, ``status`` (open/closed) and
    ``start_date``/``end_date`` (W3C; the last 90 days by default). Cancelled events are not shown;
    resolved, rated and merged ones are ``closed``. No reporter details. Public."""
    return render.records(fmt, "service_requests", "request", service.find_requests(session, query))


@router.get(
    "/requests/{service_request_id}.{fmt}",
    response_model=list[RequestOut],
    responses={200: {"content": BOTH_FORMATS}, **ERRORS},
)
def get_request(
    service_request_id: str, fmt: FormatPath, session: SessionDep, jurisdiction_id: Jurisdiction = None
) -> Response:
    """GET request: one service request by its id (the event number), as a one-element list. Public."""
    found = service.get_request(session, service_request_id, jurisdiction_id)
    return render.records(fmt, "service_requests", "request", [found])


@router.get(
    "/tokens/{token}.{fmt}",
    response_model=list[TokenOut],
    responses={200: {"content": BOTH_FORMATS}, **ERRORS},
)
def get_token(
    token: str, fmt: FormatPath, session: SessionDep, jurisdiction_id: Jurisdiction = None
) -> Response:
    """GET service_request_id from a token. Requests are created at once, so the token POST returns is the
    request id itself; this answers it back. Public."""
    found = service.lookup_token(session, token, jurisdiction_id)
    return render.records(fmt, "service_requests", "request", [found])


def not_found(path: str) -> Response:
    """Anything else under /open311/v2 (e.g. ``services`` without an extension): 404 in the spec's format."""
    raise NotFound(f"no such resource {path!r}: the paths end in .json or .xml, e.g. services.json")


router.add_api_route(
    "/{path:path}",
    not_found,
    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
    route_class_override=_Unrouted,
)
