"""``cityhub indicators``: load definitions from YAML, list them, print the city summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cityhub.access.principal import SYSTEM

app = typer.Typer(help="City vital-sign indicators (城市体征).", no_args_is_help=True)


@app.command("load")
def load(file: Annotated[Path, typer.Argument(help="YAML or JSON: indicators: and/or watches:")]) -> None:
    """Create or replace the indicators and metric watches of a file (all or nothing)."""
    from cityhub.cli import system_session
    from cityhub.indicators import service

    with system_session() as session:
        count = service.load_file(session, SYSTEM, file)
    typer.echo(f"loaded {count} definitions from {file}")


@app.command("list")
def list_(domain: Annotated[str | None, typer.Option(help="only this domain")] = None) -> None:
    """Every indicator: key, domain, unit, whether it is evaluated."""
    from cityhub.cli import system_session
    from cityhub.indicators import service

    with system_session() as session:
        for row in service.listing(session, SYSTEM, domain=domain):
            state = "on " if row.enabled else "off"
            typer.echo(f"{state} {row.domain:<4} {row.key:<32} {row.name_zh} ({row.unit})")


@app.command("summary")
def summary(district: Annotated[str | None, typer.Option(help="a district code")] = None) -> None:
    """The city's vital signs: the worst level per domain and per indicator."""
    from cityhub.cli import system_session
    from cityhub.indicators import service

    with system_session() as session:
        for domain in service.summary(session, SYSTEM, district=district):
            typer.echo(f"{domain.domain}  {domain.level.label if domain.level else '正常'}")
            for item in domain.indicators:
                level = item.level.label if item.level else "正常"
                value = "—" if item.value is None else f"{item.value:.4g}{item.unit}"
                typer.echo(f"    {item.name_zh:<24} {level:<8} {value:>12}  worst: {item.subject or '—'}")
