"""Serving the built dashboard from the package: hashed assets long-cached, ``index.html`` for every page
path the browser's router owns (SPA fallback), problem+json 404s for unknown API paths."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from cityhub.kit.errors import NotFound

STATIC_DIR = Path(__file__).parent / "static"
# Paths that belong to the API and never fall back to the page.
_API_PREFIXES = ("api/", "open311/")
_API_PATHS = frozenset({"api", "open311", "docs", "redoc", "openapi.json", "healthz", "metrics"})

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


def mount(app: FastAPI, static_dir: Path = STATIC_DIR) -> None:
    """Add the dashboard to ``app``; call it after every other route (the fallback catches the rest)."""
    assets = static_dir / "assets"
    if assets.is_dir():
        app.mount("/assets", _Assets(directory=assets), name="assets")
    root = static_dir.resolve()
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]

    @app.api_route("/{path:path}", methods=methods, include_in_schema=False)
    def page(path: str, request: Request) -> Response:
        # Other methods are routed here only so that unknown paths stay 404 (not 405) for API clients.
        if request.method not in ("GET", "HEAD") or path.startswith(_API_PREFIXES) or path in _API_PATHS:
            raise NotFound(f"no such path: /{path}")
        file = (root / path).resolve()
        if path and file.is_file() and file.is_relative_to(root):
            return FileResponse(file)
        index = root / "index.html"
        if not index.is_file():
            return HTMLResponse(NOT_BUILT)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})
