"""Serving the built dashboard from the package: hashed assets long-cached, ``index.html`` for every page
path the browser's router owns (SPA fallback, GET and HEAD), problem+json 404s for the rest.

Both are ``Fallback`` routes: a path that a route of the API takes with other methods is left to the
router, which answers 405 with the methods it takes (``DELETE /api/v1/events``)."""

from __future__ import annotations

import gzip
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Match
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from cityhub.kit.errors import NotFound
from cityhub.kit.http import Fallback

STATIC_DIR = Path(__file__).parent / "static"
# Paths that belong to the API and never fall back to the page.
_API_PREFIXES = ("api/", "open311/")
_API_PATHS = frozenset({"api", "open311", "docs", "redoc", "openapi.json", "healthz", "metrics"})
_PAGE_METHODS = ["GET", "HEAD"]
_EVERY_METHOD = [*_PAGE_METHODS, "POST", "PUT", "PATCH", "DELETE"]

NOT_BUILT = """<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>cityhub</title>
<body style="font-family:sans-serif;max-width:48em;margin:3em auto">
<h1>cityhub 城市运行和治理智能中枢</h1>
<p>The hub is running, but its dashboard has not been built. Build it with <code>npm ci &amp;&amp;
npm run build</code> in the repository (<code>make demo</code> and <code>scripts/setup.sh</code> do it).</p>
<p>API documentation: <a href="/docs">/docs</a> · Health: <a href="/healthz">/healthz</a></p>
</body></html>"""


_IMMUTABLE = "public, max-age=31536000, immutable"
# Text assets worth compressing (the dashboard's script is about 730 kB, 240 kB gzipped: a city's
# operation centre on a district's VPN feels the difference).
_COMPRESSED_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


class _Assets(StaticFiles):
    """Vite names assets by content hash, so a browser may keep them for a year. Scripts and styles are
    gzipped once, when first asked for, and kept in memory (the build is fixed while the process runs)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory)
        self._root = directory.resolve()
        self._gzipped: dict[str, bytes] = {}

    async def get_response(self, path: str, scope: Scope) -> Response:
        body = None
        if Path(path).suffix in _COMPRESSED_TYPES and _accepts_gzip(scope):
            # Compressed once (a worker thread: reading and compressing would stall the event loop).
            body = self._gzipped.get(path) or await anyio.to_thread.run_sync(self._compress, path)
        if body is not None:
            return Response(
                body,
                media_type=_COMPRESSED_TYPES[Path(path).suffix],
                headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding", "Cache-Control": _IMMUTABLE},
            )
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = _IMMUTABLE
            response.headers["Vary"] = "Accept-Encoding"
        return response

    def _compress(self, path: str) -> bytes | None:
        file = (self._root / path).resolve()
        if not file.is_file() or not file.is_relative_to(self._root):
            return None  # StaticFiles answers the 404
        # mtime=0: the same bytes on every start, so the answer does not change with the process.
        body = self._gzipped[path] = gzip.compress(file.read_bytes(), compresslevel=9, mtime=0)
        return body


def _accepts_gzip(scope: Scope) -> bool:
    """Whether Accept-Encoding names gzip with a weight above 0 (``gzip;q=0`` refuses it)."""
    for name, value in scope.get("headers", ()):
        if name != b"accept-encoding":
            continue
        for part in value.decode("latin-1").lower().split(","):
            coding, _, params = part.partition(";")
            if coding.strip() not in ("gzip", "x-gzip"):
                continue
            weight = params.strip().removeprefix("q=").strip() if params.strip().startswith("q=") else "1"
            try:
                return float(weight) > 0
            except ValueError:
                return False
    return False


class _NotAPage(Fallback):
    """What no route takes and is not a page: an API path in any method, any path in a method other than
    GET or HEAD. 404, never the page."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = str(scope.get("path", "")).lstrip("/")
        api = path.startswith(_API_PREFIXES) or path in _API_PATHS
        if not api and scope.get("method") in _PAGE_METHODS:
            return Match.NONE, {}
        return super().matches(scope)


def mount(app: FastAPI, static_dir: Path = STATIC_DIR) -> None:
    """Add the dashboard to ``app``; call it after every other route (the fallbacks catch the rest)."""
    assets = static_dir / "assets"
    if assets.is_dir():
        app.mount("/assets", _Assets(assets), name="assets")
    root = static_dir.resolve()

    def unknown(request: Request) -> Response:
        raise NotFound(f"no such path: {request.url.path}")

    def page(path: str) -> Response:
        file = (root / path).resolve()
        if path and file.is_file() and file.is_relative_to(root):
            return FileResponse(file)
        index = root / "index.html"
        if not index.is_file():
            return HTMLResponse(NOT_BUILT)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    # What is not a page first; the page takes what is left, in GET and HEAD only.
    add = app.router.add_api_route
    add(
        "/{path:path}",
        unknown,
        methods=_EVERY_METHOD,
        include_in_schema=False,
        route_class_override=_NotAPage,
    )
    add("/{path:path}", page, methods=_PAGE_METHODS, include_in_schema=False, route_class_override=Fallback)
