"""HTTP plumbing: the request-scoped unit of work, problem+json errors, the body-size limit, admission and
the fallback routes that leave a wrong method to the router (405)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextvars import ContextVar
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityhub.kit.db import unit_of_work
from cityhub.kit.errors import CityHubError

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"


# The ``code`` of a problem raised without a narrower one: a stable name for programs (the dashboard words
# each in the user's language), where ``title`` and ``detail`` are English for people.
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "too_many_requests",
    500: "internal_error",
    503: "busy",
}


def problem(status: int, title: str, detail: str, *, code: str | None = None, **extra: Any) -> JSONResponse:
    code = code or STATUS_CODES.get(status, "error")
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "code": code, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=_headers(status, extra))


def _headers(status: int, extra: Mapping[str, Any]) -> dict[str, str]:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    return headers


# (path, status, detail) -> the error in a protocol's own format.
ErrorFormat = Callable[[str, int, str], Response]
_error_formats: dict[str, ErrorFormat] = {}


def error_format(prefix: str, render: ErrorFormat) -> None:
    """Answer the errors of paths under ``prefix`` that no route of theirs handles — a body over the limit,
    a method the path does not take, a busy hub, a crash — with ``render`` instead of problem+json: for a
    protocol with an error format of its own (Open311's GeoReport errors)."""
    _error_formats[prefix] = render


def error_response(
    path: str, status: int, title: str, detail: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> Response:
    """problem+json, or the error format of the protocol that ``path`` belongs to."""
    render = next((r for prefix, r in _error_formats.items() if path.startswith(prefix)), None)
    if render is None:
        response: Response = problem(status, title, detail, **extra)
    else:
        response = render(path, status, detail)
        response.headers.update(_headers(status, extra))
    response.headers.update(headers or {})
    return response


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One request = one transaction: commit at the end, roll back on any error.

    Opening a session does no I/O, so it happens in the event loop; only the end — commit or roll back,
    and close — goes to a worker thread: one hop instead of two for a plain generator dependency.
    """
    factory: sessionmaker[Session] = request.app.state.session_factory
    work = unit_of_work(factory)
    session = work.__enter__()
    try:
        yield session
    except BaseException as exc:
        with anyio.CancelScope(shield=True):  # a cancelled request still rolls back and frees its connection
            await run_in_threadpool(work.__exit__, type(exc), exc, exc.__traceback__)
        raise
    await run_in_threadpool(work.__exit__, None, None, None)


def _validation_detail(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    """A summary, and each error as its field, pydantic's message, its error type (``string_too_short``…)
    and the limits it names (``min_length``…): a client words them in its own language."""
    errors = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err.get("loc", ()) if part != "body")
        entry: dict[str, Any] = {"field": loc, "message": err.get("msg", "invalid"), "type": err.get("type")}
        limits = {k: v for k, v in (err.get("ctx") or {}).items() if k in _LIMITS and _plain(v)}
        if limits:
            entry["limits"] = limits
        errors.append(entry)
    summary = "; ".join(f"{e['field'] or 'body'}: {e['message']}" for e in errors[:5])
    return summary or "invalid request", errors


# The context values of pydantic's errors that are limits a person can act on (not its internal objects).
_LIMITS = frozenset({"min_length", "max_length", "ge", "gt", "le", "lt", "expected", "pattern"})


def _plain(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


# What pydantic says when the body as a whole is not the object the route takes: it was not read as JSON.
_NOT_AN_OBJECT = frozenset({"model_attributes_type", "dict_type", "model_type"})


def _unreadable_body(request: Request, exc: RequestValidationError) -> JSONResponse | None:
    """A body that is not JSON at all (400) or not sent as JSON (415), told apart from a JSON body with
    wrong values (422): the client has to change how it sends, not what."""
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            reason = err.get("ctx", {}).get("error", "")
            where = err.get("loc", ("body", "?"))[-1]
            detail = f"the body is not valid JSON: {reason} (at character {where})"
            return problem(400, "Invalid JSON", detail, code="invalid_json")
        if err.get("type") in _NOT_AN_OBJECT and tuple(err.get("loc", ())) == ("body",):
            sent = request.headers.get("content-type", "")
            if sent and "json" not in sent:
                detail = f"send the body as application/json, not {sent}"
                return problem(415, "Unsupported media type", detail)
    return None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CityHubError)
    async def _business(_request: Request, exc: CityHubError) -> JSONResponse:
        return problem(exc.status, exc.title, exc.message, code=exc.code, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        unreadable = _unreadable_body(request, exc)
        if unreadable is not None:
            return unreadable
        detail, errors = _validation_detail(exc)
        return problem(422, "Invalid request", detail, code="invalid_request", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        title = detail = str(exc.detail)
        if exc.status_code == 405:  # the route the router found names its own methods; the path may take more
            allowed = allowed_methods(request.scope)
            headers["Allow"] = ", ".join(allowed)
            detail = f"{request.method} is not allowed on {request.url.path}; it takes {headers['Allow']}"
        elif isinstance(exc, _TooLarge):
            title = "Payload too large"
        return error_response(request.url.path, exc.status_code, title, detail, headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # The last resort (Starlette's ServerErrorMiddleware calls it, then re-raises for the server): a
        # defect, never an answer to bad input, but still a problem+json body and a logged traceback.
        log.error("%s %s failed: %r", request.method, request.url.path, exc, exc_info=exc)
        return error_response(
            request.url.path, 500, "Internal server error", "the hub failed to answer; the error is logged"
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, exc: IntegrityError) -> JSONResponse:
        return problem(
            409,
            "Conflict",
            "the change conflicts with existing data (a duplicate or a missing reference)",
            code="conflicting_data",
        )

    @app.exception_handler(DataError)
    async def _data(_request: Request, exc: DataError) -> JSONResponse:
        # Values the database cannot hold: NUL characters, numbers beyond BIGINT, malformed text.
        return problem(
            400,
            "Invalid value",
            "a value in the request cannot be stored or compared (out of range or invalid characters)",
            code="invalid_value",
        )

    @app.exception_handler(OverflowError)
    async def _overflow(_request: Request, exc: OverflowError) -> JSONResponse:
        return problem(400, "Invalid value", "a number in the request is too large", code="invalid_value")

    @app.exception_handler(OperationalError)
    async def _busy(_request: Request, exc: OperationalError) -> JSONResponse:
        # A locked SQLite database under load: tell the client to retry instead of failing it.
        return problem(503, "Busy", "the database is busy; retry shortly", retry_after=1)


class BodyLimit:
    """Refuse bodies over the limit with 413 — by Content-Length, or while streaming when it is absent."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._reject(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:  # raised where no handler answered it (routes and handlers answer it as 413)
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(scope["path"], 413, "Payload too large", _TooLarge(self.max_bytes).detail)
        await response(scope, receive, send)


class _TooLarge(StarletteHTTPException):
    """Raised by the limited ``receive`` of a body sent without Content-Length once it is over the limit.

    An HTTPException, because FastAPI's body reading passes those on to the exception handlers and turns
    any other exception into a 400 "There was an error parsing the body"; so whoever reads the body — the
    route's JSON or form parsing, or an endpoint itself — answers 413 in its own error format.
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body exceeds {max_bytes} bytes")


class Admission:
    """At most ``limit`` API requests inside the app at once; the others wait here, without a thread or
    a database connection, for up to ``wait_s`` seconds and are then refused with 503 and Retry-After.

    Without it, a burst deadlocks: FastAPI runs each synchronous dependency and endpoint in its own hop
    through a shared pool of worker threads, and a request keeps its database connection between hops.
    Once the requests holding every pooled connection wait for a worker thread, and every worker thread
    waits for a connection, nothing moves until the pool's time-out. Keeping ``limit`` below the
    connection pool (``kit.db.POOL_CONNECTIONS``, less what background jobs use) means an admitted request
    always gets its connection. Long-lived streams (``exempt``) hold no connection while they stream.
    """

    PREFIXES = ("/api/", "/open311/")

    def __init__(self, app: ASGIApp, limit: int, wait_s: float, exempt: tuple[str, ...] = ()) -> None:
        self.app = app
        self.limit = limit
        self.wait_s = wait_s
        self.exempt = exempt
        self._slots: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(self.PREFIXES) or path in self.exempt:
            await self.app(scope, receive, send)
            return
        if self._slots is None:  # created in the server's event loop
            self._slots = asyncio.Semaphore(self.limit)
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=self.wait_s)
        except TimeoutError:
            response = error_response(
                path,
                503,
                "Busy",
                f"the hub is serving {self.limit} requests and more were waiting; retry shortly",
                retry_after=1,
            )
            await response(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._slots.release()


# Set while a fallback asks whether another route takes the path (fallbacks included in routers are reached
# too, and must not ask in turn).
_asking: ContextVar[bool] = ContextVar("cityhub_fallback_asking", default=False)
# The methods a 405 may name in its Allow header.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class Fallback(APIRoute):
    """A catch-all route that takes a path only when no other route of the app takes it, in any method.

    A path some route takes with other methods (``DELETE /api/v1/events``) is left to the router, which
    answers 405 with the methods the path does take; a fallback that took every method would answer it
    with its own 404 or page instead.
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if _asking.get():  # a fallback asking whether another route takes the path: not this one
            return Match.NONE, {}
        match, child_scope = super().matches(scope)
        if match is Match.NONE or not _routed_elsewhere(scope):
            return match, child_scope
        return Match.NONE, {}


def _routed_elsewhere(scope: Scope) -> bool:
    """Whether a route that is not a fallback takes the path, in any method. Routes of included routers
    are reached through the router's own matching (FastAPI keeps them in a tree)."""
    token = _asking.set(True)
    try:
        return any(route.matches(scope)[0] is not Match.NONE for route in _routes(scope))
    finally:
        _asking.reset(token)


def allowed_methods(scope: Scope) -> list[str]:
    """The methods the request's path takes (the Allow header of a 405): those some route takes fully."""
    return [
        method
        for method in METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in _routes(scope))
    ]


def _routes(scope: Scope) -> list[BaseRoute]:
    router = scope.get("router")
    return list(router.routes) if isinstance(router, Router) else []
