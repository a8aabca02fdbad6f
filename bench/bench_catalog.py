"""The catalog's data paths on the embedded database (SQLite): loading a resource's CSV, a quality run over
every row (six GB/T 36344 dimensions, ID numbers and credit codes with their check characters), a page of
masked rows, and aggregate queries with small-group suppression.

    python bench/bench_catalog.py                  # 50 000 rows per resource
    python bench/bench_catalog.py --rows 200000 --repeat 5
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cityhub.access.principal import SYSTEM
from cityhub.audit import hooks
from cityhub.catalog import aggregate, demo, quality, service, sharing, sources
from cityhub.catalog.schemas import AggregateQuery, ResourceIn
from cityhub.kit.db import make_engine, make_session_factory, unit_of_work
from cityhub.kit.migrate import upgrade
from cityhub.models.catalog import AccessMode, Grant, GrantToken
from cityhub.models.org import DepartmentKind
from cityhub.org import service as org

DISTRICTS = ["370202", "370203", "370211", "370212", "370213", "370214", "370281", "370283", "370285"]
STREETS = [(f"{d}{s:03d}", 120.38, 36.07) for d in DISTRICTS for s in range(1, 9)]


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), max(times), result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rng, today = random.Random(0), date(2026, 11, 21)
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{scratch}/bench.db")
        upgrade(engine)
        hooks.install()
        factory = make_session_factory(engine)
        registry = demo.registry_rows(rng, DISTRICTS, today, n=args.rows)
        elderly = demo.elderly_rows(rng, STREETS, today, n=args.rows)
        with unit_of_work(factory) as session:
            for code in ("qd-scjgj", "qd-wjw"):
                org.create_department(session, code=code, name=code, kind=DepartmentKind.BUREAU)
            for spec in (demo.REGISTRY_SPEC, demo.ELDERLY_SPEC):
                checks = [c for c in spec["quality_checks"] if c.get("reference") != "CH-AREAS"]
                service.register(
                    session, SYSTEM, ResourceIn.model_validate(spec | {"quality_checks": checks})
                )
        print(
            f"cityhub catalog benchmark — SQLite, {args.rows} rows a resource, median / max of {args.repeat}"
        )
        with unit_of_work(factory) as session:
            text = demo._csv(registry)
            median, worst, _ = _timed(lambda: service.load_sample(session, SYSTEM, demo.REGISTRY, text), 1)
            service.load_sample(session, SYSTEM, demo.ELDERLY, demo._csv(elderly))
        print(f"load CSV ({len(text) / 1e6:.1f} MB)            {median:8.2f} s")
        with unit_of_work(factory) as session:
            resource = service.get(session, SYSTEM, demo.REGISTRY)
            median, worst, run = _timed(
                lambda: quality.run_resource(session, resource, trigger="bench"), args.repeat
            )
            rate = args.rows / median
            print(
                f"quality run, 8 checks               {median:8.2f} s  (max {worst:.2f}; {rate:,.0f} rows/s)"
            )
            print(f"  scores: {run.scores}")
            grant = Grant(
                id=0, fields=[f["name"] for f in resource.fields], unmasked_fields=[], rate_per_minute=60
            )
            grant.mode = AccessMode.ROWS
            access = sharing.GrantAccess(GrantToken(id=0), grant, resource, SYSTEM)
            median, worst, _ = _timed(
                lambda: sharing.deliver_rows(session, access, offset=args.rows // 2, limit=1000), args.repeat
            )
            print(f"1000 masked rows (mid-table page)   {median * 1000:8.1f} ms (max {worst * 1000:.1f})")
            elderly_resource = service.get(session, SYSTEM, demo.ELDERLY)
            agg_grant = Grant(id=0, fields=["district", "street", "age", "registered"], dp_epsilon=None)
            for label, query in (
                ("count by district", {"group_by": [{"field": "district"}]}),
                (
                    "mean age by street × month",
                    {
                        "measure": "mean",
                        "field": "age",
                        "group_by": [{"field": "street"}, {"field": "registered", "bucket": "month"}],
                    },
                ),
            ):
                parsed = AggregateQuery.model_validate(query)

                def run_query(q: AggregateQuery = parsed) -> Any:
                    rows = sources.iter_rows(session, elderly_resource)
                    return aggregate.run(elderly_resource, agg_grant, q, rows)

                median, worst, out = _timed(run_query, args.repeat)
                print(
                    f"aggregate: {label:<24} {median:8.2f} s  (max {worst:.2f}; "
                    f"{len(out.groups)} groups, {out.suppressed_groups} withheld)"
                )
            session.rollback()
        engine.dispose()


if __name__ == "__main__":
    main()
