"""HTTP plumbing: the request-scoped unit of work, problem+json errors and the body-size limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityhub.kit.db import unit_of_work
from cityhub.kit.errors import CityHubError

PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


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
    errors = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err.get("loc", ()) if part != "body")
        errors.append({"field": loc, "message": err.get("msg", "invalid")})
    summary = "; ".join(f"{e['field'] or 'body'}: {e['message']}" for e in errors[:5])
    return summary or "invalid request", errors


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CityHubError)
    async def _business(_request: Request, exc: CityHubError) -> JSONResponse:
        return problem(exc.status, exc.title, exc.message, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        detail, errors = _validation_detail(exc)
        return problem(422, "Invalid request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), str(exc.detail))

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, exc: IntegrityError) -> JSONResponse:
        return problem(
            409, "Conflict", "the change conflicts with existing data (a duplicate or a missing reference)"
        )

    @app.exception_handler(DataError)
    async def _data(_request: Request, exc: DataError) -> JSONResponse:
        # Values the database cannot hold: NUL characters, numbers beyond BIGINT, malformed text.
        return problem(
            400,
            "Invalid value",
            "a value in the request cannot be stored or compared (out of range or invalid characters)",
        )

    @app.exception_handler(OverflowError)
    async def _overflow(_request: Request, exc: OverflowError) -> JSONResponse:
        return problem(400, "Invalid value", "a number in the request is too large")

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
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, "Payload too large", f"the request body exceeds {self.max_bytes} bytes")
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


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
            response = problem(
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
