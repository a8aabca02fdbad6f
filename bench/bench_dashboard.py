"""一图统揽 in headless Chromium: how long until the city map has drawn its 10 districts and 10 000 open
events (target: under 2 s).

A fresh SQLite database gets the demo city of Qingdao (``seed_demo``) and ``--events`` open events written
with Core ``insert()``: points drawn inside the districts in proportion to their population, placed in
their street, community and grid by the hub's own spatial index, with a realistic spread of statuses,
urgencies and deadline states. The hub is served for real (uvicorn on a loopback port, as in the browser
tests); Debian's Chromium (headless, ``--no-sandbox``) opens ``/`` already logged in as the city
dispatcher. A run is timed from the navigation's start to ECharts' ``finished`` event after the map
payload is drawn (``window.__cityhubMap.drawnAt``, the page's own clock), and also on the wall clock
from ``page.goto`` to that moment. The first run starts with an empty browser cache; the others reuse it.

    python bench/bench_dashboard.py                      # 10 000 events, 1 cold + 7 warm runs
    python bench/bench_dashboard.py --events 20000 --runs 10 --markdown
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import shapely
from shapely.geometry import Point, shape
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.web.live_server: the real server

from cityhub.geo import service as geo
from cityhub.kit.timeutil import clock
from cityhub.models.area import Area, AreaLevel
from cityhub.models.event import Channel, DeadlineState, Event, EventStatus, Urgency
from cityhub.sim.seed import POPULATION_2020, seed_demo
from tests.web.live_server import database, serve

TARGET_S = 2.0
PASSWORD = "bench-password-42"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STATUSES = {
    EventStatus.DISPATCHED: 20,
    EventStatus.ACCEPTED: 15,
    EventStatus.IN_PROGRESS: 40,
    EventStatus.RESOLVED: 10,
    EventStatus.RECEIVED: 8,
    EventStatus.SUSPENDED: 3,
    EventStatus.RETURNED: 2,
    EventStatus.REOPENED: 2,
}
URGENCIES = {Urgency.NORMAL: 85, Urgency.URGENT: 12, Urgency.CRITICAL: 3}
DEADLINES = {DeadlineState.NORMAL: 80, DeadlineState.NEAR: 12, DeadlineState.OVERDUE: 8}
CHANNELS = {Channel.HOTLINE: 55, Channel.APP: 20, Channel.GRID: 15, Channel.SENSOR: 5, Channel.VIDEO: 5}


def pick(rng: random.Random, weights: dict[Any, int]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _points(session: Session, n: int, rng: random.Random) -> list[tuple[float, float]]:
    """``n`` points inside the districts, in proportion to their population."""
    districts = list(session.scalars(select(Area).where(Area.level == AreaLevel.DISTRICT)))
    shapes = {a.code: shape(json.loads(a.geometry or "{}")) for a in districts}
    for geom in shapes.values():
        shapely.prepare(geom)
    codes = list(shapes)
    weights = [POPULATION_2020.get(c, 1) for c in codes]
    points: list[tuple[float, float]] = []
    while len(points) < n:
        geom = shapes[rng.choices(codes, weights=weights)[0]]
        x0, y0, x1, y1 = geom.bounds
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if geom.contains(Point(x, y)):
            points.append((x, y))
    return points


def fill(factory: sessionmaker[Session], n: int, seed: int) -> None:
    """``n`` open events across the city, located by the hub's spatial index."""
    rng = random.Random(seed)
    now = clock.now()
    with factory() as session:
        rows = []
        for i, (lon, lat) in enumerate(_points(session, n, rng), start=1):
            areas = geo.locate(session, lon, lat).areas
            created = now - timedelta(minutes=rng.randint(1, 30 * 24 * 60))
            rows.append(
                {
                    "number": f"B{i:07d}",
                    "title": f"基准事件 {i}",
                    "description": "",
                    "channel": pick(rng, CHANNELS),
                    "status": pick(rng, STATUSES),
                    "urgency": pick(rng, URGENCIES),
                    "deadline_state": pick(rng, DEADLINES),
                    "lon": lon,
                    "lat": lat,
                    "input_crs": "wgs84",
                    "district_id": areas.get(AreaLevel.DISTRICT),
                    "street_id": areas.get(AreaLevel.STREET),
                    "community_id": areas.get(AreaLevel.COMMUNITY),
                    "grid_id": areas.get(AreaLevel.GRID),
                    "location_resolved": True,
                    "anonymous": False,
                    "needs_review": False,
                    "created_at": created,
                    "updated_at": created,
                    "escalated": False,
                    "supervised": False,
                    "reopen_count": 0,
                    "return_count": 0,
                }
            )
        for start in range(0, len(rows), 2_000):
            session.execute(insert(Event), rows[start : start + 2_000])
        session.commit()


def measure(
    url: str, token: dict[str, str], runs: int
) -> tuple[list[float], list[float], dict[str, Any], list[dict[str, float]]]:
    from playwright.sync_api import sync_playwright

    in_page: list[float] = []
    wall: list[float] = []
    marks: list[dict[str, float]] = []
    drawn: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
        # Logged in before the page loads: the session's tokens, as the login screen leaves them.
        context.add_init_script(f"sessionStorage.setItem('cityhub.tokens', {json.dumps(json.dumps(token))})")
        for _ in range(runs):
            page = context.new_page()
            started = time.perf_counter()
            page.goto(f"{url}/")
            page.wait_for_function(
                "() => window.__cityhubMap && window.__cityhubMap.area === '370200'", timeout=60_000
            )
            wall.append(time.perf_counter() - started)
            drawn = page.evaluate("window.__cityhubMap")
            in_page.append(float(drawn["drawnAt"]) / 1000.0)
            marks.append(page.evaluate(MARKS))
            page.close()
        browser.close()
    return in_page, wall, drawn, marks


# Where the time goes in one run: the page's own marks (ms since the navigation started).
MARKS = """() => {
  const out = {};
  const nav = performance.getEntriesByType("navigation")[0];
  out["html loaded"] = nav.responseEnd;
  for (const m of performance.getEntriesByType("mark")) if (!(m.name in out)) out[m.name] = m.startTime;
  const map = performance.getEntriesByType("resource").find((r) => r.name.includes("/dashboard/map/"));
  if (map) { out["map request sent"] = map.requestStart; out["map response end"] = map.responseEnd; }
  return out;
}"""


def payload_figures(url: str, access: str) -> tuple[float, int]:
    headers = {"Authorization": f"Bearer {access}"}
    times, size = [], 0
    for _ in range(5):
        started = time.perf_counter()
        response = httpx.get(f"{url}/api/v1/dashboard/map/370200", headers=headers, timeout=60)
        times.append(time.perf_counter() - started)
        size = len(response.content)
    return statistics.median(times), size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=8, help="the first is cold, the rest warm")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--markdown", action="store_true")
    args, _unknown = parser.parse_known_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="cityhub-bench-dashboard-") as tmp:
        data = Path(tmp)
        engine, factory = database(data)
        started = time.perf_counter()
        with factory() as session:
            seed_demo(session, PASSWORD)
            session.commit()
        fill(factory, args.events, args.seed)
        print(f"seeded Qingdao and {args.events} open events in {time.perf_counter() - started:.1f} s")
        with serve(data, engine, factory) as hub:
            login = httpx.post(
                f"{hub.url}/api/v1/auth/login",
                json={"username": "dispatcher", "password": PASSWORD},
                timeout=30,
            ).json()
            token = {"access": login["access_token"], "refresh": login["refresh_token"]}
            api_s, size = payload_figures(hub.url, login["access_token"])
            in_page, wall, drawn, marks = measure(hub.url, token, args.runs)
        engine.dispose()
    warm = in_page[1:] or in_page
    report = {
        "events drawn": drawn["events"],
        "districts drawn": drawn["areas"],
        "map payload (API, median of 5)": f"{api_s * 1000:.0f} ms, {size / 1e6:.2f} MB",
        "cold: navigation start → map drawn": f"{in_page[0]:.2f} s",
        "warm: best / median / max": " / ".join(
            f"{x:.2f} s" for x in (min(warm), statistics.median(warm), max(warm))
        ),
        "wall clock (goto → drawn), median": f"{statistics.median(wall):.2f} s",
    }
    # Met when the cold run and the typical warm run are under the target; the worst run on a shared,
    # loaded machine says more about the neighbours than about the dashboard, so it is reported, not judged.
    ok = (
        drawn["events"] >= args.events
        and drawn["areas"] == 10
        and in_page[0] < TARGET_S
        and statistics.median(warm) < TARGET_S
    )
    if args.markdown:
        print("| measure | value |\n|---|---|")
        for key, value in report.items():
            print(f"| {key} | {value} |")
    else:
        for key, value in report.items():
            print(f"{key:<40} {value}")
    for name, run in (("cold run", marks[0]), ("last run", marks[-1])):
        steps = sorted(run.items(), key=lambda kv: kv[1])
        print(f"{name}, ms since navigation start: " + ", ".join(f"{k} {v:.0f}" for k, v in steps))
    load = os.getloadavg()[0]
    print(f"load average during the run: {load:.1f} on {os.cpu_count()} cores")
    print(f"target: cold and median warm run under {TARGET_S:.0f} s → {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
