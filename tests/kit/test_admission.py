"""Admission: a burst of API requests waits outside the app, and past the wait is refused with 503."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from cityhub.kit.http import Admission

PROBLEM = "application/problem+json"


def _app(release: asyncio.Event, limit: int, wait_s: float) -> tuple[FastAPI, list[int]]:
    app = FastAPI()
    inside: list[int] = []
    most = [0]

    @app.get("/api/v1/slow")
    async def slow() -> dict[str, int]:
        inside.append(1)
        most[0] = max(most[0], len(inside))
        await release.wait()
        inside.pop()
        return {"most": most[0]}

    @app.get("/api/v1/stream")
    async def stream() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/index.html")
    async def page() -> dict[str, bool]:
        return {"ok": True}

    app.add_middleware(Admission, limit=limit, wait_s=wait_s, exempt=("/api/v1/stream",))
    return app, most


def test_no_more_than_the_limit_are_inside_and_the_rest_wait_their_turn() -> None:
    async def run() -> tuple[list[int], int]:
        release = asyncio.Event()
        app, most = _app(release, limit=2, wait_s=5.0)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            calls = [asyncio.create_task(client.get("/api/v1/slow")) for _ in range(6)]
            await asyncio.sleep(0.2)
            release.set()
            statuses = [r.status_code for r in await asyncio.gather(*calls)]
        return statuses, most[0]

    statuses, most = asyncio.run(run())
    assert statuses == [200] * 6
    assert most == 2


def test_past_the_wait_a_request_is_refused_with_503_and_retry_after_while_exempt_paths_pass() -> None:
    async def run() -> tuple[httpx.Response, httpx.Response, httpx.Response, httpx.Response]:
        release = asyncio.Event()
        app, _most = _app(release, limit=1, wait_s=0.2)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            holding = asyncio.create_task(client.get("/api/v1/slow"))
            await asyncio.sleep(0.05)
            refused = await client.get("/api/v1/slow")
            stream = await client.get("/api/v1/stream")
            page = await client.get("/index.html")
            release.set()
            return await holding, refused, stream, page

    held, refused, stream, page = asyncio.run(run())
    assert held.status_code == 200
    assert refused.status_code == 503
    assert refused.headers["content-type"] == PROBLEM and refused.headers["retry-after"] == "1"
    assert refused.json()["title"] == "Busy"
    assert stream.status_code == 200 and page.status_code == 200
