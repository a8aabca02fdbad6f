"""SQL statements per event creation, through the whole app (authentication, intake, the answer).

The tiny test city and the bench's reports (``bench_events``), on a fresh SQLite and PostgreSQL database:
``--warmup`` creations first (so duplicate detection has neighbours), then ``--count`` creations during which
a ``before_cursor_execute`` listener counts the statements, grouped by their first words.

    python bench/bench_statements.py
    python bench/bench_statements.py --backend postgresql --warmup 300 --count 20
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_events as be
from fastapi.testclient import TestClient
from sqlalchemy import event

from cityhub.app import create_app
from cityhub.kit.db import make_engine, make_session_factory
from cityhub.kit.settings import Mode, Settings
from tests.factories import PASSWORD


def count(backend: str, warmup: int, measured: int) -> tuple[float, Counter[str]]:
    with tempfile.TemporaryDirectory() as tmp, be.fresh_database(backend, be.PgServer(), Path(tmp)) as url:
        be.seed_city(url)
        engine = make_engine(url)
        settings = Settings(database_url=url, data_dir=Path(tmp), mode=Mode.DEVELOPMENT)
        requests = be.make_requests(warmup + measured, seed=3)
        seen: Counter[str] = Counter()

        def listen(*args: Any) -> None:
            seen[" ".join(str(args[2]).split()[:3])] += 1

        try:
            with TestClient(create_app(settings, make_session_factory(engine))) as client:
                headers = {}
                for user in {r.user for r in requests}:
                    login = {"username": user, "password": PASSWORD}
                    token = client.post("/api/v1/auth/login", json=login).json()["access_token"]
                    headers[user] = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
                for i, request in enumerate(requests):
                    if i == warmup:
                        event.listen(engine, "before_cursor_execute", listen)
                    answer = client.post(
                        "/api/v1/events", content=request.content, headers=headers[request.user]
                    )
                    assert answer.status_code == 201, answer.text
        finally:
            engine.dispose()
    return sum(seen.values()) / measured, seen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=[*be.BACKENDS, "both"], default="both")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--count", type=int, default=20)
    args = parser.parse_args()
    for backend in be.BACKENDS if args.backend == "both" else (args.backend,):
        per_creation, seen = count(backend, args.warmup, args.count)
        print(f"\n{backend}: {per_creation:.1f} statements per creation ({args.count} after {args.warmup})")
        for statement, n in seen.most_common():
            print(f"  {n / args.count:5.2f}  {statement}")


if __name__ == "__main__":
    main()
