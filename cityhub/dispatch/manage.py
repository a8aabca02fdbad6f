"""``cityhub dispatch models|gazetteer|hotspots``: classifier versions, the gazetteer, hot spots.

Mounted under ``cityhub dispatch`` next to the evaluation commands (``train``/``predict``); these act on
the hub's database as the system principal, through the same services as the API.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from cityhub.access.principal import SYSTEM

models_app = typer.Typer(help="Classifier versions: list, retrain from the hub's history, activate.")
gazetteer_app = typer.Typer(help="The gazetteer of local places that addresses are matched against.")


def _echo(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@models_app.command("list")
def list_models() -> None:
    """Every trained version, newest first, with its figures; the active one is marked."""
    from cityhub.cli import system_session
    from cityhub.dispatch import service

    with system_session() as session:
        for row in service.list_models(session, SYSTEM):
            mark = "*" if row.active else " "
            test = row.metrics.get("test", {})
            threshold = "none" if row.threshold is None else f"{row.threshold:.3f}"
            typer.echo(
                f"{mark} {row.version}  top-1 {test.get('top1', 0):.3f}  top-3 {test.get('top3', 0):.3f}  "
                f"threshold {threshold}  auto {test.get('auto_dispatch_rate', 0):.1%}  {row.note}"
            )


@models_app.command("retrain")
def retrain(
    target_precision: Annotated[
        float, typer.Option(min=0.5, max=0.999, help="precision the auto-dispatched events must reach")
    ] = 0.97,
    seed: Annotated[int, typer.Option(help="random seed of the training")] = 0,
) -> None:
    """Train a new version on handled and corrected events; it is activated unless it is worse."""
    from cityhub.cli import system_session
    from cityhub.dispatch import service
    from cityhub.kit.settings import get_settings

    with system_session() as session:
        row = service.retrain(
            session, SYSTEM, get_settings().data_dir, target_precision=target_precision, seed=seed
        )
        typer.echo(f"{row.version}: {row.note}")
        _echo({"active": row.active, "threshold": row.threshold, **row.metrics})


@models_app.command("activate")
def activate(version: Annotated[str, typer.Argument(help="the version to make active")]) -> None:
    """Make a version the active one (e.g. roll back)."""
    from cityhub.cli import system_session
    from cityhub.dispatch import service

    with system_session() as session:
        row = service.activate(session, SYSTEM, version)
        typer.echo(f"{row.version} is active")


@gazetteer_app.command("import")
def import_places(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV: name,kind,area_code,…")],
) -> None:
    """Add or update places from CSV: ``name,kind,area_code[,lon,lat,crs,aliases]``."""
    from cityhub.cli import system_session
    from cityhub.dispatch import gazetteer

    with system_session() as session:
        saved = gazetteer.add_places(session, gazetteer.parse_csv(path.read_text(encoding="utf-8")))
        typer.echo(f"{len(saved)} places saved")


@gazetteer_app.command("resolve")
def resolve(address: Annotated[str, typer.Argument(help="free address text")]) -> None:
    """How intake reads an address: the words, the areas and the places it names."""
    from cityhub.cli import system_session
    from cityhub.dispatch import gazetteer
    from cityhub.models.area import Area

    with system_session() as session:
        placed = gazetteer.place(session, None, address)
        areas = {
            str(level): area.name
            for level, area_id in placed.located.areas.items()
            if (area := session.get(Area, area_id)) is not None
        }
        _echo(
            {
                "words": gazetteer.cut(session, address),
                "areas": areas,
                "places": [p.name for p in placed.address.places],
                "notes": list(placed.notes),
            }
        )


def hotspots(
    days: Annotated[int, typer.Option(min=1, max=90, help="the period: the last N days")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Hot spots (民生诉求热点) of the last days, biggest first."""
    from cityhub.cli import system_session
    from cityhub.dispatch import hotspots as found

    with system_session() as session:
        spots = found.find(session, SYSTEM, days=days)
        if as_json:
            _echo([asdict(h) for h in spots])
            return
        for h in spots:
            where = "".join(h.districts[:1] + h.streets[:1])
            typer.echo(
                f"{h.size:>3} reports ({h.events} events, {h.trend}, before {h.previous})  {where}  "
                f"{h.category}  — {h.representative['title']}  [{h.key}]"
            )
