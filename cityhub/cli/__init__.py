"""The ``cityhub`` command line: the same service layer as the API, acting as the system principal."""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.access.principal import SYSTEM
from cityhub.audit import hooks as audit_hooks
from cityhub.kit.db import make_engine, make_session_factory, unit_of_work
from cityhub.kit.errors import CityHubError
from cityhub.kit.migrate import upgrade
from cityhub.kit.settings import Settings, SettingsError, get_settings
from cityhub.kit.timeutil import SHANGHAI, local_to_utc

if TYPE_CHECKING:
    from cityhub.models.org import User

app = typer.Typer(
    help="cityhub — city operations and governance hub (城市运行和治理智能中枢)", no_args_is_help=True
)
geo_app = typer.Typer(help="Areas and boundaries.", no_args_is_help=True)
categories_app = typer.Typer(help="The event category taxonomy.", no_args_is_help=True)
users_app = typer.Typer(help="Users and API tokens.", no_args_is_help=True)
routing_app = typer.Typer(help="The routing table.", no_args_is_help=True)
report_app = typer.Typer(help="Evaluation reports (考核).", no_args_is_help=True)
app.add_typer(geo_app, name="geo")
app.add_typer(categories_app, name="categories")
app.add_typer(users_app, name="users")
app.add_typer(routing_app, name="routing")
app.add_typer(report_app, name="report")


def _mount_optional() -> None:
    """Domains that bring their own sub-commands."""
    from cityhub.anomaly.cli import app as anomaly_app
    from cityhub.catalog.cli import app as catalog_app
    from cityhub.dispatch.cli import app as dispatch_app
    from cityhub.entities.cli import app as entities_app
    from cityhub.telemetry.cli import app as telemetry_app

    app.add_typer(dispatch_app, name="dispatch", help="Train and run the dispatch classifier.")
    _mount_dispatch(dispatch_app)
    app.add_typer(anomaly_app, name="anomaly", help="Anomaly detection on sensor series.")
    _mount_sensing()
    app.add_typer(entities_app, name="entities", help="The city code registry (一码通城).")
    app.add_typer(telemetry_app, name="telemetry", help="Telemetry: replay, dead letters, rollups.")
    app.add_typer(catalog_app, name="catalog", help="The public data catalog (一本账), quality, DCAT-AP.")


def _mount_dispatch(dispatch_app: typer.Typer) -> None:
    """The hub's own dispatch commands beside train/predict: models, gazetteer, hot spots (issue 4)."""
    from cityhub.dispatch.manage import gazetteer_app, hotspots, models_app

    dispatch_app.add_typer(models_app, name="models")
    dispatch_app.add_typer(gazetteer_app, name="gazetteer")
    dispatch_app.command("hotspots")(hotspots)


def _mount_sensing() -> None:
    """Indicators, linkage rules, scenario packs and the sensor simulator (issue 3)."""
    from cityhub.indicators.cli import app as indicators_app
    from cityhub.rules.cli import app as rules_app
    from cityhub.scenarios.cli import app as scenarios_app
    from cityhub.scenarios.cli import simulate

    app.add_typer(indicators_app, name="indicators")
    app.add_typer(rules_app, name="rules")
    app.add_typer(scenarios_app, name="scenarios")
    app.command("simulate")(simulate)


def fail(message: str) -> typer.Exit:
    _say_error(message)
    return typer.Exit(code=2)


def _say_error(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)


@contextmanager
def system_session(settings: Settings | None = None) -> Iterator[Session]:
    """A migrated database and one transaction acting as the system; business errors end the command."""
    settings = settings or get_settings()
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    audit_hooks.install()
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            audit_hooks.bind_principal(session, SYSTEM)
            yield session
    except CityHubError as exc:
        raise fail(exc.message) from exc
    finally:
        engine.dispose()


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (CITYHUB_DATABASE_URL, default SQLite in the data dir)."""
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    engine.dispose()
    typer.echo(f"database at head: {engine.url.render_as_string(hide_password=True)}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="run N API processes and one worker process (scheduler, sensing pipeline, MQTT ingest) "
            "instead of one process for everything; needs CITYHUB_BUS_URL (NATS) and PostgreSQL",
        ),
    ] = None,
    with_worker: Annotated[
        bool,
        typer.Option(
            "--with-worker/--no-worker",
            help="with --workers: start the worker process too (--no-worker: `cityhub worker` runs apart)",
        ),
    ] = True,
) -> None:
    """Run the hub (API, Open311, scheduler) on the configured database: one process, or with --workers
    several API processes beside one worker process, their buses relayed through NATS (decision 0011)."""
    import uvicorn

    from cityhub.app import create_app

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if workers is not None:
        _check_scale_out(settings)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    if workers is None:
        uvicorn.run(
            create_app(settings, make_session_factory(engine)), host=host, port=port, log_level="info"
        )
        return
    engine.dispose()  # each process opens its own
    # Every process counts its requests and jobs into files there; whichever answers a scrape adds them up.
    from cityhub.kit import metrics

    metrics.prepare_multiprocess(settings.data_dir / metrics.DIRECTORY)
    # One key for every process, or a token signed by one is refused by the others (development mode
    # draws a random key per process).
    os.environ.setdefault("CITYHUB_SECRET_KEY", settings.key)
    background = _WorkerProcess() if with_worker else None
    if background is not None:
        background.start()
    try:
        # uvicorn's supervisor runs the API processes, each building its app from the environment.
        uvicorn.run("cityhub.app:api_process", factory=True, host=host, port=port, workers=workers)
    finally:
        if background is not None:
            background.stop()


@app.command()
def worker() -> None:
    """Run the hub's background work alone — scheduler, sensing pipeline, MQTT ingest — as the one worker
    process of a scale-out hub (`cityhub serve --workers N` starts it; with --no-worker, run it yourself)."""
    from cityhub.app import run_worker
    from cityhub.kit.natsbus import BusUnavailable

    settings = get_settings()
    _check_scale_out(settings)
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s:  [worker %(process)d] %(name)s: %(message)s"
    )
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    try:
        run_worker(settings, make_session_factory(engine))
    except BusUnavailable as exc:
        raise fail(str(exc)) from exc
    finally:
        engine.dispose()


def _check_scale_out(settings: Settings) -> None:
    """Several processes need the NATS bus, reachable now (no silent fallback to a bus per process), and
    PostgreSQL (decision 0011)."""
    from cityhub.kit.bus import InProcessBus
    from cityhub.kit.natsbus import BusUnavailable, NatsBridge

    if not settings.bus_url:
        raise fail(
            "several processes need the NATS bus: set CITYHUB_BUS_URL=nats://127.0.0.1:4222 (nats-server "
            "with JetStream, -js); without --workers the hub runs as one process"
        )
    if settings.effective_database_url.startswith("sqlite"):
        # Measured (docs/benchmarks.md): slower than one process, with writers stalled for seconds.
        raise fail(
            "several processes need PostgreSQL (CITYHUB_DATABASE_URL=postgresql+psycopg://…): on one SQLite "
            "file they take turns on its file lock; without --workers the hub runs as one process"
        )
    try:
        NatsBridge(settings.bus_url, InProcessBus(), namespace=settings.bus_namespace).start().stop()
    except BusUnavailable as exc:
        raise fail(str(exc)) from exc


class _WorkerProcess:
    """The worker process beside uvicorn's API processes; started again if it crashes.

    It shares the terminal's process group, so Ctrl-C stops it with the rest; a worker that stopped
    cleanly (exit 0: someone signalled it) is not restarted.
    """

    COMMAND = (sys.executable, "-c", "from cityhub.cli import main; main()", "worker")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._supervise, name="cityhub-worker-process", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _supervise(self) -> None:
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                started = time.monotonic()
                process = self._process = subprocess.Popen(self.COMMAND)
            code = process.wait()
            if self._stopping.is_set():
                return
            if code == 0:
                typer.secho("the worker process stopped; no background work until restart", err=True)
                return
            delay = 1.0 if time.monotonic() - started > 60 else 10.0
            typer.secho(
                f"the worker process failed (exit {code}); again in {delay:.0f} s", fg="red", err=True
            )
            self._stopping.wait(delay)

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._thread.join(timeout=5)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="port")] = 8000,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    data_dir: Annotated[Path, typer.Option(help="where the embedded database lives")] = Path("data/demo"),
    demo_password: Annotated[
        str | None, typer.Option(help="password of every demo user (default: a random one, printed)")
    ] = None,
    fresh: Annotated[bool, typer.Option(help="delete the demo database first")] = False,
    backfill_days: Annotated[int, typer.Option(help="days of history to generate")] = 7,
    step_seconds: Annotated[float, typer.Option(help="seconds between simulated steps")] = 10.0,
) -> None:
    """Bring up the demo city of Qingdao 青岛 (370200) on the embedded database, with events flowing."""
    from cityhub.access import passwords
    from cityhub.sim.demo import run_demo

    weak = passwords.weakness(demo_password) if demo_password is not None else None
    if weak is not None:
        raise fail(f"--demo-password is too weak: {weak}; use {passwords.RULE}")
    run_demo(
        host=host,
        port=port,
        data_dir=data_dir,
        password=demo_password or passwords.generate(),
        fresh=fresh,
        backfill_days=backfill_days,
        step_seconds=step_seconds,
    )


@geo_app.command("import")
def geo_import(
    file: Annotated[Path, typer.Argument(help="GeoJSON FeatureCollection of areas")],
    crs: Annotated[str, typer.Option(help="coordinate system of the file: wgs84 or gcj02")] = "wgs84",
    level: Annotated[str | None, typer.Option(help="level of every feature (else from a property)")] = None,
    code_prop: Annotated[str, typer.Option(help="property holding the area code")] = "adcode",
    name_prop: Annotated[str, typer.Option(help="property holding the name")] = "name",
    level_prop: Annotated[str | None, typer.Option(help="property holding the level")] = "level",
    parent: Annotated[str | None, typer.Option(help="code of the parent of every feature")] = None,
    parent_prop: Annotated[str | None, typer.Option(help="property holding the parent code")] = None,
) -> None:
    """Import any city's boundaries (districts, streets, grids) from GeoJSON."""
    from cityhub.geo import service as geo
    from cityhub.geo.crs import CRS
    from cityhub.geo.sources import read_geojson_areas

    if not file.is_file():
        raise fail(f"no such file: {file}")
    try:
        records = read_geojson_areas(
            file,
            crs=CRS(crs),
            code_prop=code_prop,
            name_prop=name_prop,
            level_prop=None if level else level_prop,
            level=level,
            parent_prop=parent_prop,
        )
    except (ValueError, KeyError, json.JSONDecodeError) as exc:
        raise fail(str(exc)) from exc
    if parent:
        records = [r if r.parent_code else dataclasses.replace(r, parent_code=parent) for r in records]
    with system_session() as session:
        count = geo.import_records(session, records)
    typer.echo(f"imported {count} areas from {file}")


@categories_app.command("import")
def categories_import(file: Annotated[Path, typer.Argument(help="CSV, one column per level")]) -> None:
    """Import a category taxonomy (e.g. label_taxonomy_3level.csv)."""
    from cityhub.events import categories

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {file} as UTF-8: {exc}") from exc
    with system_session() as session:
        created = categories.import_csv(session, text)
    typer.echo(f"{created} new categories")


@users_app.command("create")
def users_create(
    username: str,
    role: Annotated[
        str, typer.Option(help="admin, dispatcher, handler, grid_worker, supervisor, data_steward, citizen")
    ],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    department: Annotated[str | None, typer.Option(help="department code")] = None,
    area: Annotated[str | None, typer.Option(help="area code of responsibility")] = None,
) -> None:
    """Create a user."""
    from cityhub.geo import service as geo
    from cityhub.models.org import Department, Role
    from cityhub.org import service as org

    try:
        role_value = Role(role)
    except ValueError as exc:
        raise fail(f"unknown role {role}") from exc
    with system_session() as session:
        dept_id = None
        if department:
            dept_id = session.scalar(select(Department.id).where(Department.code == department))
            if dept_id is None:
                raise fail(f"no department {department}")
        area_id = geo.get_area(session, area).id if area else None
        user = org.create_user(
            session,
            username=username,
            password=password,
            role=role_value,
            department_id=dept_id,
            area_id=area_id,
        )
    typer.echo(f"created user {user.username} ({role_value.label})")


@users_app.command("list")
def users_list() -> None:
    """Print every user: name, role, department, area, and whether they may log in now."""
    from cityhub.geo import service as geo
    from cityhub.kit.timeutil import clock
    from cityhub.models.org import User
    from cityhub.org import service as org

    with system_session() as session:
        departments = org.departments(session)
        areas = geo.area_rows(session)
        now = clock.now()
        for user in session.scalars(select(User).order_by(User.username)):
            dept = departments.get(user.department_id) if user.department_id else None
            area = areas.get(user.area_id) if user.area_id else None
            state = "active" if user.active else "disabled"
            if user.locked_until is not None and user.locked_until > now:
                state += f", locked until {_local(user.locked_until)}"
            typer.echo(
                f"{user.username:<28} {user.role:<12} {dept.code if dept else '-':<16} "
                f"{area.code if area else '-':<16} {_local(user.last_login_at):<16} "
                f"{user.last_login_address or '-':<20} {state}"
            )


def _local(at: datetime | None) -> str:
    return f"{at.astimezone(SHANGHAI):%Y-%m-%d %H:%M}" if at is not None else "-"


@users_app.command("sessions")
def users_sessions(username: str) -> None:
    """Print a user's open login sessions, the most recently used first: id, when it began and from which
    address, its latest refresh and that one's address, the browser or program (times in Asia/Shanghai)."""
    from cityhub.access import tokens

    settings = get_settings()
    with system_session(settings) as session:
        rows = tokens.open_sessions(session, settings, _user_named(session, username).id)
        if not rows:
            typer.echo(f"{username} has no open login session")
            return
        typer.echo(f"{'id':<8} {'started':<16} {'from':<20} {'refreshed':<16} {'last from':<20} client")
        for row in rows:
            typer.echo(
                f"{row.id:<8} {_local(row.started_at):<16} {row.address or '-':<20} "
                f"{_local(row.refreshed_at):<16} {row.last_address or '-':<20} {row.client or '-'}"
            )


@users_app.command("logout")
def users_logout(username: str) -> None:
    """End every login session of a user now (their tokens stop working; they may log in again)."""
    from cityhub.org import service as org

    with system_session() as session:
        ended = org.end_sessions(session, SYSTEM, _user_named(session, username))
    typer.echo(f"ended {ended} login session(s) of {username}")


@users_app.command("unlock")
def users_unlock(username: str) -> None:
    """Lift the lock that wrong passwords put on a user's login."""
    _update_user(username, unlock=True)
    typer.echo(f"unlocked {username}")


@users_app.command("disable")
def users_disable(username: str) -> None:
    """Disable a user (someone who left): they cannot log in, and their sessions end now."""
    _update_user(username, active=False)
    typer.echo(f"disabled {username}; their sessions have ended")


@users_app.command("enable")
def users_enable(username: str) -> None:
    """Let a disabled user log in again."""
    _update_user(username, active=True)
    typer.echo(f"enabled {username}")


def _update_user(username: str, *, active: bool | None = None, unlock: bool = False) -> None:
    from cityhub.org import service as org

    with system_session() as session:
        org.update_user(session, SYSTEM, _user_named(session, username), active=active, unlock=unlock)


@users_app.command("password")
def users_password(
    username: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Give a user a new password; every session of theirs ends."""
    from cityhub.org import service as org

    with system_session() as session:
        org.set_password(session, _user_named(session, username), password)
    typer.echo(f"new password set for {username}; their sessions have ended")


def _user_named(session: Session, username: str) -> User:
    from cityhub.models.org import User

    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise fail(f"no user {username}")
    return user


@users_app.command("token")
def users_token(
    username: str, name: Annotated[str, typer.Option(help="what the token is for")] = "machine client"
) -> None:
    """Create an API token for a machine client (printed once)."""
    from cityhub.access.tokens import create_api_token
    from cityhub.models.org import User

    with system_session() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise fail(f"no user {username}")
        _row, secret = create_api_token(session, user, name)
    typer.echo(secret)


@routing_app.command("list")
def routing_list() -> None:
    """Print the routing table."""
    from cityhub.models import Area, Category, Department, RoutingRule

    with system_session() as session:
        names = {d.id: d.name for d in session.scalars(select(Department))}
        cats = {c.id: c.path for c in session.scalars(select(Category))}
        areas = {
            a.id: a.name for a in session.scalars(select(Area).where(Area.level.in_(["city", "district"])))
        }
        for rule in session.scalars(select(RoutingRule).order_by(RoutingRule.id)):
            co = ", ".join(names.get(d, str(d)) for d in rule.co_department_ids)
            typer.echo(
                f"{rule.id:>4}  {cats.get(rule.category_id or -1, '(any category)'):<30} "
                f"{areas.get(rule.area_id or -1, '(anywhere)'):<8} → {names[rule.lead_department_id]}"
                + (f" + {co}" if co else "")
            )


@routing_app.command("add")
def routing_add(
    lead: Annotated[str, typer.Option(help="lead department code")],
    category: Annotated[str | None, typer.Option(help="category code or path")] = None,
    area: Annotated[str | None, typer.Option(help="area code")] = None,
    co: Annotated[list[str] | None, typer.Option(help="co-handling department code (repeatable)")] = None,
) -> None:
    """Add or replace a routing rule."""
    from cityhub.dispatch import routing
    from cityhub.events import categories
    from cityhub.geo import service as geo
    from cityhub.models import Department

    with system_session() as session:
        codes = {d.code: d.id for d in session.scalars(select(Department))}
        missing = [c for c in [lead, *(co or [])] if c not in codes]
        if missing:
            raise fail(f"unknown department code(s): {', '.join(missing)}")
        rule = routing.add_rule(
            session,
            lead_department_id=codes[lead],
            category_id=categories.find(session, category).id if category else None,
            area_id=geo.get_area(session, area).id if area else None,
            co_department_ids=tuple(codes[c] for c in co or []),
        )
    typer.echo(f"routing rule {rule.id} saved")


@report_app.command("evaluation")
def report_evaluation(
    group_by: Annotated[str, typer.Option(help="department, district, street or category")] = "department",
    since: Annotated[
        datetime | None, typer.Option(help="from (local time unless an offset is given)")
    ] = None,
    until: Annotated[datetime | None, typer.Option(help="until (exclusive)")] = None,
    output: Annotated[str, typer.Option(help="table, csv or json")] = "table",
) -> None:
    """The evaluation report: volume, on-time rates, returns, resolution, satisfaction, handling time."""
    from cityhub.events import evaluation

    try:
        grouping = evaluation.GroupBy(group_by)
    except ValueError as exc:
        raise fail(f"--group-by must be one of: {', '.join(g.value for g in evaluation.GroupBy)}") from exc
    if output not in ("table", "csv", "json"):
        raise fail("--output must be table, csv or json")
    with system_session() as session:
        rows = [
            r.as_dict()
            for r in evaluation.report(session, SYSTEM, grouping, local_to_utc(since), local_to_utc(until))
        ]
    _print_rows(rows, output)


def _print_rows(rows: list[dict[str, object]], output: str) -> None:
    if output == "json":
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        typer.echo("(no data in this period)")
        return
    if output == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        return
    headers = ["name", "volume", "签收及时率", "办结及时率", "退单率", "办结率", "满意率", "平均时长(h)"]
    keys = [
        "name",
        "volume",
        "signed_on_time_rate",
        "resolved_on_time_rate",
        "return_rate",
        "resolution_rate",
        "satisfaction_rate",
        "mean_handling_hours",
    ]
    typer.echo("  ".join(f"{h:>10}" for h in headers))
    for row in rows:
        cells = [_cell(row[k]) for k in keys]
        typer.echo("  ".join(f"{c:>10}" for c in cells))


def _cell(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.1%}" if value <= 1 else f"{value:.1f}"
    return str(value)


def main() -> None:
    """The ``cityhub`` command. Settings are read by each command that needs them; when the environment makes
    none (no CITYHUB_SECRET_KEY in production, an unknown CITYHUB_MODE, …) any command says so in one line
    naming the variable, exit code 2 as for other bad input."""
    _mount_optional()
    try:
        app()
    except SettingsError as exc:
        _say_error(str(exc))
        sys.exit(2)
