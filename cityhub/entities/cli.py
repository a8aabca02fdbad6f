"""``cityhub entities``: import, check and show city objects (the same services as the API)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cityhub.entities import codes

app = typer.Typer(help="The city code registry (一码通城).", no_args_is_help=True)


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="CSV or GeoJSON FeatureCollection")],
    crs: Annotated[str, typer.Option(help="coordinate system of the file: wgs84 or gcj02")] = "wgs84",
    source: Annotated[str | None, typer.Option(help="the source system these records come from")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="type code of rows without one")] = None,
) -> None:
    """Import entities, upserting by code; bad rows are listed with their line and the rest load."""
    from cityhub.access.principal import SYSTEM
    from cityhub.cli import fail, system_session
    from cityhub.entities import io
    from cityhub.geo.crs import CRS

    if not file.is_file():
        raise fail(f"no such file: {file}")
    try:
        crs_value = CRS(crs)
    except ValueError as exc:
        raise fail("--crs must be wgs84 or gcj02") from exc
    with system_session() as session:
        rows = io.read(file.read_bytes(), file.name)
        report = io.import_rows(session, SYSTEM, rows, crs=crs_value, source=source, type_code=type_)
    for line, message in report.errors[:50]:
        typer.secho(f"row {line}: {message}", fg=typer.colors.YELLOW, err=True)
    if len(report.errors) > 50:
        typer.secho(
            f"… and {len(report.errors) - 50} more rows with errors", fg=typer.colors.YELLOW, err=True
        )
    typer.echo(f"{report.created} created, {report.updated} updated, {len(report.errors)} rejected")
    if report.errors and not (report.created or report.updated):
        raise typer.Exit(code=1)


@app.command("check")
def check(code: str) -> None:
    """Check a city code and show its parts (area, type, serial, check character)."""
    from cityhub.entities import types

    try:
        parsed = codes.parse(code, types.catalogue().codes)
    except codes.InvalidCode as exc:
        typer.secho(f"invalid: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from exc
    spec = types.get(parsed.type)
    name = f"{spec.name} ({spec.en})" if spec else parsed.type
    typer.echo(f"{parsed.code}: area {parsed.area}, type {parsed.type} {name}, serial {parsed.serial}, valid")


@app.command("show")
def show(code: str) -> None:
    """Print one entity as JSON, with relations and source records. A registered person's personal attributes
    stay masked: only the grid workers of their community see them (``POST /entities/{code}/personal``)."""
    from cityhub.access.principal import SYSTEM
    from cityhub.cli import system_session
    from cityhub.entities import service, views

    with system_session() as session:
        out = views.detail(session, SYSTEM, service.get(session, SYSTEM, code))
    typer.echo(json.dumps(out.model_dump(mode="json"), ensure_ascii=False, indent=2))
