"""``cityhub telemetry``: replay recorded data, look at and replay dead letters, run rollups and retention."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="Telemetry: recorded data, dead letters, rollups.", no_args_is_help=True)


def _factory() -> Any:
    from cityhub.audit import hooks
    from cityhub.kit.db import make_engine, make_session_factory
    from cityhub.kit.migrate import upgrade
    from cityhub.kit.settings import get_settings

    settings = get_settings()
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    hooks.install()
    return settings, engine, make_session_factory(engine)


def read_csv(path: Path) -> Iterator[dict[str, Any]]:
    """Rows device,metric,ts,value (extra columns unit, quality pass through); value is parsed as a number."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"device", "metric", "ts", "value"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path} lacks the column(s) {', '.join(sorted(missing))}")
        for row in reader:
            item: dict[str, Any] = {k: v for k, v in row.items() if k and v not in (None, "")}
            try:
                item["value"] = float(row["value"])
            except (TypeError, ValueError):
                item["value"] = row["value"]  # rejected as malformed, with the row, by the ingest checks
            yield item


def _stamp(item: dict[str, Any]) -> datetime | None:
    try:
        stamp = datetime.fromisoformat(str(item.get("ts")))
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else None


@app.command("replay")
def replay(
    file: Annotated[Path, typer.Argument(help="CSV with columns device,metric,ts,value")],
    speed: Annotated[float, typer.Option(help="times faster than recorded; 0 = as fast as possible")] = 60.0,
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="readings per transaction at most")] = 1000,
    rebase: Annotated[bool, typer.Option(help="shift timestamps so the first reading is now")] = False,
) -> None:
    """Replay recorded readings through the ingest path, paced by their timestamps."""
    from cityhub.access.principal import SYSTEM
    from cityhub.cli import fail
    from cityhub.kit.db import unit_of_work
    from cityhub.kit.timeutil import clock
    from cityhub.telemetry import ingest, service

    if not file.is_file():
        raise fail(f"no such file: {file}")
    settings, engine, factory = _factory()
    limits = ingest.Limits.of(settings)
    accepted = rejected = 0
    try:
        for items in _paced(read_csv(file), speed, batch, clock.now() if rebase else None):
            with unit_of_work(factory) as session:
                outcome = service.ingest_batch(
                    session, SYSTEM, items, channel=ingest.Channel.REPLAY, limits=limits
                )
            accepted += outcome.accepted
            rejected += len(outcome.rejections)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    finally:
        engine.dispose()
    typer.echo(f"{accepted} accepted, {rejected} rejected (see cityhub telemetry dead-letters)")


def _paced(
    rows: Iterator[dict[str, Any]], speed: float, size: int, rebase_to: datetime | None
) -> Iterator[list[dict[str, Any]]]:
    """Batches released when their recorded time is due (scaled by ``speed``)."""
    start = time.monotonic()
    first: datetime | None = None
    pending: list[dict[str, Any]] = []
    for item in rows:
        stamp = _stamp(item)
        if stamp is not None:
            first = first or stamp
            if rebase_to is not None:
                item["ts"] = (rebase_to + (stamp - first)).isoformat()
            due = start + ((stamp - first).total_seconds() / speed if speed > 0 else 0.0)
            if pending and (len(pending) >= size or due > time.monotonic()):
                yield pending
                pending = []
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        pending.append(item)
        if len(pending) >= size:
            yield pending
            pending = []
    if pending:
        yield pending


@app.command("dead-letters")
def dead_letters(
    reason: Annotated[str | None, typer.Option(help="e.g. unknown_device, wrong_unit")] = None,
    device: Annotated[str | None, typer.Option(help="city code")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
) -> None:
    """List pending dead letters, newest first."""
    from cityhub.access.principal import SYSTEM
    from cityhub.cli import system_session
    from cityhub.models.telemetry import DeadLetterStatus
    from cityhub.telemetry import service

    f = service.DeadLetterFilter(reason=reason, device=device, status=DeadLetterStatus.PENDING)
    with system_session() as session:
        rows, total = service.dead_letters(session, SYSTEM, f, limit=limit, offset=0)
        for r in rows:
            typer.echo(
                f"{r.id:>8}  {r.received_at:%Y-%m-%d %H:%M:%S}  {r.channel:<6} {r.reason:<17} {r.detail}"
            )
    typer.echo(f"{total} pending")


@app.command("replay-dead-letters")
def replay_dead_letters(
    ids: Annotated[list[int] | None, typer.Option("--id", help="dead letter id (repeatable)")] = None,
    reason: Annotated[str | None, typer.Option(help="only this reason")] = None,
    device: Annotated[str | None, typer.Option(help="only this device")] = None,
) -> None:
    """Run pending dead letters through the checks again after fixing the cause."""
    from cityhub.access.principal import SYSTEM
    from cityhub.cli import system_session
    from cityhub.kit.settings import get_settings
    from cityhub.telemetry import ingest, service

    f = service.DeadLetterFilter(ids=ids or None, reason=reason, device=device)
    with system_session() as session:
        replayed, still = service.replay(session, SYSTEM, f, limits=ingest.Limits.of(get_settings()))
    typer.echo(f"{replayed} replayed, {len(still)} still rejected")


@app.command("maintain")
def maintain() -> None:
    """Run the rollup and retention jobs now (the hub runs them on its schedule)."""
    from cityhub.cli import system_session
    from cityhub.kit.settings import get_settings
    from cityhub.kit.timeutil import clock
    from cityhub.telemetry import rollup

    with system_session() as session:
        done, kept = rollup.maintain(session, get_settings(), clock.now())
    typer.echo(
        f"rolled up {done.minutes} minutes and {done.hours} hours; deleted {kept.raw_deleted} raw readings, "
        f"{kept.minutes_deleted} minute rollups and {kept.dead_letters_deleted} dead letters past retention"
    )
