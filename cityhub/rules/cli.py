"""``cityhub rules``: load linkage rules from YAML and list them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cityhub.access.principal import SYSTEM

app = typer.Typer(help="Linkage rules (协同联动).", no_args_is_help=True)


@app.command("load")
def load(file: Annotated[Path, typer.Argument(help="YAML or JSON with rules:")]) -> None:
    """Create or replace the rules of a file (all or nothing)."""
    from cityhub.cli import system_session
    from cityhub.rules import service

    with system_session() as session:
        count = service.load_file(session, SYSTEM, file)
    typer.echo(f"loaded {count} rules from {file}")


@app.command("list")
def list_() -> None:
    """Every rule and whether it is evaluated."""
    from cityhub.cli import system_session
    from cityhub.rules import service

    with system_session() as session:
        for row in service.listing(session, SYSTEM):
            scope = row.spec.get("scope", "?")
            typer.echo(f"{'on ' if row.enabled else 'off'} {row.key:<32} {scope:<9} {row.name_zh}")
