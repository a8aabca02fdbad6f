"""``cityhub catalog``: register resources from a CSV sheet, list them, load sample data, run the quality
checks, export DCAT-AP — acting as the system through the same services as the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cityhub.access.principal import SYSTEM

app = typer.Typer(help="The public data catalog (一本账): resources, quality, DCAT-AP.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """The public data catalog (一本账): resources, quality, DCAT-AP."""


def _read(path: Path) -> str:
    from cityhub.cli import fail

    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {path} as UTF-8: {exc}") from exc


@app.command("register")
def register(
    file: Annotated[
        Path, typer.Argument(help="catalog sheet: one row per field (see cityhub/catalog/csvio.py)")
    ],
) -> None:
    """Register the resources described in a CSV catalog sheet."""
    from cityhub.catalog import csvio, service
    from cityhub.cli import system_session

    text = _read(file)
    with system_session() as session:
        for data in csvio.parse_catalog_csv(text):
            resource = service.register(session, SYSTEM, data)
            typer.echo(f"registered {resource.code} {resource.name} ({resource.grade}, {resource.sharing})")


@app.command("load-sample")
def load_sample(
    code: Annotated[str, typer.Argument(help="resource code")],
    file: Annotated[Path, typer.Argument(help="CSV whose header names the resource's fields")],
) -> None:
    """Load (replace) an external resource's data from CSV, so checks and shared queries can run."""
    from cityhub.catalog import service
    from cityhub.cli import system_session

    text = _read(file)
    with system_session() as session:
        rows, problems = service.load_sample(session, SYSTEM, code, text)
    typer.echo(f"{rows} rows loaded into {code}")
    for problem in problems:
        typer.echo(f"  kept as text: {problem}")


@app.command("list")
def list_resources(
    department: Annotated[str | None, typer.Option(help="owning department code")] = None,
    grade: Annotated[str | None, typer.Option(help="core, important, general_4 … general_1")] = None,
    tag: Annotated[str | None, typer.Option(help="domain tag")] = None,
    output: Annotated[str, typer.Option(help="table or json")] = "table",
) -> None:
    """List the catalog (the hub's own resources are registered on first use)."""
    from cityhub.catalog import service
    from cityhub.cli import fail, system_session
    from cityhub.models.catalog import DataGrade

    try:
        grade_value = DataGrade(grade) if grade else None
    except ValueError as exc:
        raise fail(f"--grade must be one of: {', '.join(g.value for g in DataGrade)}") from exc
    with system_session() as session:
        found = service.search(
            session, SYSTEM, service.ResourceFilter(department, tag, grade_value), limit=100_000
        )
        rows = service.summaries(session, found)
    if output == "json":
        typer.echo(json.dumps([r.model_dump(mode="json") for r in rows], ensure_ascii=False, indent=2))
        return
    for r in rows:
        score = "—" if r.quality_score is None else f"{r.quality_score:.1f}"
        typer.echo(
            f"{r.code:<20} {r.grade_label:<12} {r.sharing_label:<8} {score:>6}  {r.name}  [{r.department}]"
        )


@app.command("quality")
def run_quality(
    code: Annotated[
        str | None, typer.Argument(help="resource code (default: every resource with checks)")
    ] = None,
) -> None:
    """Run the quality checks now and print the score per dimension."""
    from sqlalchemy import select

    from cityhub.catalog import quality, service
    from cityhub.cli import system_session
    from cityhub.models.catalog import CatalogResource

    with system_session() as session:
        service.ensure_builtin(session)
        if code:
            runs = [(code, quality.run(session, SYSTEM, code))]
        else:
            resources = session.scalars(select(CatalogResource).order_by(CatalogResource.code))
            runs = [
                (r.code, quality.run_resource(session, r, trigger="manual"))
                for r in resources
                if r.quality_checks
            ]
        for resource_code, run in runs:
            scores = ", ".join(f"{d} {s:.1f}" for d, s in run.scores.items()) or "no scores"
            verdict = "pass" if run.passed else "FAIL"
            overall = "—" if run.overall is None else f"{run.overall:.1f}"
            typer.echo(f"{resource_code:<20} {verdict:<4} {overall:>6}  rows {run.rows:<7} {scores}")


@app.command("export-dcat")
def export_dcat(
    output: Annotated[Path | None, typer.Option(help="file to write (default: standard output)")] = None,
    base_url: Annotated[str, typer.Option(help="where the hub's API is reached")] = "http://127.0.0.1:8000",
) -> None:
    """Export the catalog as DCAT-AP JSON-LD."""
    from cityhub.catalog import dcat, service
    from cityhub.cli import system_session

    with system_session() as session:
        resources = service.search(session, SYSTEM, service.ResourceFilter(), limit=100_000)
        document = dcat.catalog(session, resources, base_url)
    text = json.dumps(document, ensure_ascii=False, indent=2)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"{len(document['dcat:dataset'])} datasets written to {output}")
