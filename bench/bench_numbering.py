"""Event numbering on PostgreSQL: this tree's ``next_number`` beside another's, alternated in one process.

Both number the same database (a fresh one, migrated by this tree), each on a day of its own whose first
number is already taken, 2 000 numbers a round, three rounds; CPU is this process's (``getrusage``), so the
database server's work is not in it, only its wait in the wall time.

    git worktree add /tmp/old 5193573   # the tree before the sequence (a counter row, own transaction)
    python bench/bench_numbering.py /tmp/old
    python bench/bench_numbering.py            # this tree alone (as ``make bench`` runs it)
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import psycopg
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cityhub.events import numbering
from cityhub.kit.db import make_engine
from cityhub.kit.migrate import upgrade


def _load(tree: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("other_numbering", tree / "cityhub/events/numbering.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "other_tree", type=Path, nargs="?", help="a checkout whose numbering.py to compare with"
    )
    parser.add_argument("--numbers", type=int, default=2000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    name = f"cityhub_bench_numbers_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(f"postgresql+psycopg://{args.pg.split('://')[1].rsplit('/', 1)[0]}/{name}")
    try:
        upgrade(engine)
        contenders = [("this tree", numbering, 2)]
        if args.other_tree is not None:
            contenders.insert(0, ("other tree", _load(args.other_tree), 1))
        print("| round | tree | wall ms per number | CPU ms per number |\n|---|---|---:|---:|")
        for round_ in range(1, 4):
            for label, module, day in contenders:
                at = datetime(2030, 1, day, 3, tzinfo=UTC)
                with Session(engine) as session:
                    module.next_number(session, at)  # the day's first number: its row exists
                    wall, cpu = time.perf_counter(), _cpu()
                    for _ in range(args.numbers):
                        module.next_number(session, at)
                    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
                    session.rollback()
                per = 1000 / args.numbers
                print(f"| {round_} | {label} | {wall * per:.3f} | {cpu * per:.3f} |")
    finally:
        engine.dispose()
        with psycopg.connect(args.pg, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
