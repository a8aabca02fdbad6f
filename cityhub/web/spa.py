"""Serving the built dashboard from the package: hashed assets long-cached, ``index.html`` for every page
path the browser's router owns (SPA fallback, GET and HEAD), problem+json 404s for the rest.

Both are ``Fallback`` routes: a path that a route of the API takes with other methods is left to the
router, which answers 405 with the methods it takes (``DELETE /api/v1/events``)."""

from __future__ import annotations

from pathlib import Path

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


class _Assets(StaticFiles):
    """Vite names assets by content hash, so a browser may keep them for a year."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


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
        app.mount("/assets", _Assets(directory=assets), name="assets")
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
