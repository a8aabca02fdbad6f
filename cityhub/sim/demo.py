"""``cityhub demo``: the demo city of Qingdao on the embedded database, with events moving on their own."""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cityhub.audit import hooks as audit_hooks
from cityhub.kit.db import make_engine, make_session_factory, unit_of_work
from cityhub.kit.migrate import upgrade
from cityhub.kit.settings import Mode, Settings, load_settings
from cityhub.models.area import Area
from cityhub.models.org import User
from cityhub.org.service import set_password
from cityhub.scenarios.demo import DemoSensors
from cityhub.scheduler import Job


def _seeded(session: Session) -> bool:
    return session.scalar(select(Area.id).where(Area.code == "370200")) is not None


def prepare(
    factory: sessionmaker[Session], password: str, backfill_days: int, settings: Settings | None = None
) -> list[tuple[str, str]]:
    """Seed the city once (with a week of history and a dispatch model trained on it), then give every
    demo user this run's password."""
    from cityhub.catalog import quality
    from cityhub.dispatch.service import HubDispatchPolicy
    from cityhub.sim import seed, stream

    settings = settings or load_settings(mode=Mode.DEMO)

    with unit_of_work(factory) as session:
        fresh = not _seeded(session)
        if fresh:
            started = time.monotonic()
            seed.seed_demo(session, password)
            typer.echo(f"seeded Qingdao in {time.monotonic() - started:.1f} s")
        else:
            seed.add_colleagues(session, random.Random())  # the staff the stream acts as
    if fresh and backfill_days > 0:
        started = time.monotonic()
        stream.backfill(factory, days=backfill_days, dispatch_policy=HubDispatchPolicy(settings))
        typer.echo(f"generated {backfill_days} days of history in {time.monotonic() - started:.1f} s")
        _train_dispatch_model(factory, settings)
        with unit_of_work(factory) as session:  # the catalog's first checks ran before there were events
            quality.recheck_empty(session)
    with unit_of_work(factory) as session:
        users = list(
            session.scalars(select(User).where(User.username.in_(seed.DEMO_USERNAMES)).order_by(User.id))
        )
        for user in users:
            set_password(session, user, password)
        return [(u.username, u.role.label) for u in users]


def _train_dispatch_model(factory: sessionmaker[Session], settings: Settings) -> None:
    """The first classifier, from the history's handled events: reports without a category get suggestions."""
    from cityhub.access.principal import SYSTEM
    from cityhub.dispatch import service
    from cityhub.kit.errors import CityHubError

    started = time.monotonic()
    try:
        with unit_of_work(factory) as session:
            row = service.retrain(session, SYSTEM, settings.data_dir)
    except CityHubError as exc:
        typer.echo(f"no dispatch model yet: {exc.message}")
        return
    test = row.metrics["test"]
    typer.echo(
        f"trained dispatch model {row.version} in {time.monotonic() - started:.1f} s: "
        f"top-1 {test['top1']:.1%}, auto-dispatch {test['auto_dispatch_rate']:.0%} of held-back reports"
    )


def run_demo(
    *,
    host: str,
    port: int,
    data_dir: Path,
    password: str,
    fresh: bool,
    backfill_days: int,
    step_seconds: float,
) -> None:
    import uvicorn

    from cityhub.app import create_app
    from cityhub.dispatch.service import HubDispatchPolicy
    from cityhub.sim.stream import DemoStream

    # Settings first: a bad CITYHUB_* variable ends the command before anything is deleted.
    settings = load_settings(mode=Mode.DEMO, data_dir=data_dir, scheduler_interval_s=30.0)
    if fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    audit_hooks.install()
    factory = make_session_factory(engine)
    users = prepare(factory, password, backfill_days, settings)
    live = DemoStream(factory, dispatch_policy=HubDispatchPolicy(settings))
    job = Job("demo-stream", step_seconds, lambda _session: live.step())
    # Sensors through the real ingest path (bus only if no telemetry service); an incident every 4 min.
    sensors = Job("demo-sensors", step_seconds, DemoSensors())
    app = create_app(settings, factory, extra_tasks=[job, sensors])
    typer.echo("")
    typer.echo(f"cityhub demo — 青岛 Qingdao — http://{host}:{port}  (API docs: /docs)")
    typer.echo(f"data: {data_dir.resolve()}   password of every demo user: {password}")
    for username, label in users:
        typer.echo(f"  {username:<24} {label}")
    uvicorn.run(app, host=host, port=port, log_level="warning")
