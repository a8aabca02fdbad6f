"""Run the Alembic migrations programmatically (``cityhub migrate``, the demo and the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Upgrade to every head: domains add their tables on their own branch from the initial schema."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def revision(message: str, head: str | None = None) -> None:
    """Autogenerate a migration from the models against a scratch database migrated to every head.

    Each domain has its own branch, so the new revision must say which branch it extends (``head``: that
    branch's latest revision, e.g. ``0006_evaluation``); without one, the heads are listed.
    """
    import tempfile

    from alembic.script import ScriptDirectory

    from cityhub.kit.db import make_engine

    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{scratch}/scratch.db"
        config = alembic_config(url)
        heads = ScriptDirectory.from_config(config).get_heads()
        if head is None and len(heads) > 1:
            raise SystemExit(
                "several branches (one per domain): say which one the change extends with "
                f"HEAD=<revision>, one of: {', '.join(sorted(heads))}"
            )
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        command.revision(config, message=message, autogenerate=True, head=head or "head", splice=False)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="autogenerate a migration (make revision MESSAGE=… HEAD=…)")
    parser.add_argument("--head", help="the branch's latest revision the new one follows")
    parser.add_argument("message", nargs="*")
    args = parser.parse_args()
    revision(" ".join(args.message) or "schema change", args.head)
