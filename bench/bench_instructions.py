"""Machine instructions per event creation, counted by valgrind: a figure the machine's noise does not move.

CPU time on the shared 2-core machines varies by a third from one minute to the next, so two trees timed one
after the other can show a change that is not there. Instructions executed do not vary: the same code on
the same inputs executes the same instructions whatever else the machine is doing. This counts them for
the intake path without HTTP — ``events.service.create`` with the hub's dispatch policy and the answer's
view, one unit of work each, on the bench's tiny city and reports (``bench_events``) — on a fresh SQLite
database (PostgreSQL's own work would be in another process, not counted).

Each tree runs twice under ``valgrind --tool=cachegrind --cache-sim=no``: ``--warmup`` creations, then
once with ``--count`` more, once with none; the difference over ``--count`` is the instructions one creation
costs, start-up and warm-up cancelled out. Nothing in the loop depends on how long it runs: the clock is
frozen, and duplicate detection refits its corpus as the warm-up grows the database, then keeps it (the
steady state). Two runs of the same tree differ by about 0.3 % of a creation. With another tree the four
runs go two at a time (one per core).

    python bench/bench_instructions.py                 # this tree (about 4 minutes)
    git worktree add /tmp/old HEAD~3
    python bench/bench_instructions.py /tmp/old        # the other tree beside this one

Needs valgrind (Debian package ``valgrind``). Python runs about 50 times slower under it.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def inner(warmup: int, count: int, drawn: int) -> None:
    """The measured loop, run inside valgrind with the measured tree first on ``sys.path``: the first
    ``warmup + count`` of ``drawn`` reports (the same draw for both runs of a tree)."""
    import bench_events as be  # the measured tree's (PYTHONPATH)
    from sqlalchemy import select

    from cityhub.audit import hooks
    from cityhub.dispatch import duplicates
    from cityhub.dispatch.service import HubDispatchPolicy
    from cityhub.events import service, views
    from cityhub.events.schemas import EventIn
    from cityhub.kit.db import make_engine, make_session_factory, unit_of_work
    from cityhub.kit.settings import Mode, Settings
    from cityhub.kit.timeutil import clock
    from cityhub.models.org import User
    from cityhub.org.service import principal_for

    # Nothing may depend on how long the run takes: the time of day (working-time deadlines) is fixed, and
    # duplicate detection checks whether to refit its corpus at every intake of the warm-up (not every 30 s),
    # then no more: the counted creations are the steady state, not the refits of a database growing from 0.
    clock.freeze(datetime(2026, 12, 7, 2, 0, tzinfo=UTC))  # a Monday, 10:00 in Shanghai
    duplicates.corpus.CHECK_EVERY_S = 0.0

    with tempfile.TemporaryDirectory() as tmp, be.fresh_database("sqlite", be.PgServer(), Path(tmp)) as url:
        be.seed_city(url)
        hooks.install()
        engine = make_engine(url)
        factory = make_session_factory(engine)
        policy = HubDispatchPolicy(Settings(database_url=url, data_dir=Path(tmp), mode=Mode.DEVELOPMENT))
        with factory() as session:
            users = {u.username: principal_for(session, u) for u in session.scalars(select(User))}
        requests = be.make_requests(drawn, seed=3)
        for i, request in enumerate(requests[: warmup + count]):
            if i == warmup:
                duplicates.corpus.CHECK_EVERY_S = math.inf
            principal, body = users[request.user], EventIn.model_validate_json(request.content)
            with unit_of_work(factory) as session:
                event = service.create(session, principal, body, policy)
                views.page(session, principal, [event])[0].model_dump_json()
        engine.dispose()


WAYS = ("orm", "orm-unaudited", "core")


def inner_writes(way: str, count: int) -> None:
    """``count`` times what intake writes for a dispatched report — the event, two timeline actions, the
    lead's assignment and three audit rows — one transaction each: through an ORM flush (with the audit
    hook, or without it and its rows) or as Core statements."""
    import bench_events as be
    from sqlalchemy import insert
    from sqlalchemy.orm import Session

    from cityhub.access.principal import SYSTEM
    from cityhub.audit import hooks
    from cityhub.kit.db import make_engine
    from cityhub.models.audit import AuditLog
    from cityhub.models.event import AssignmentRole, AssignmentStatus, Event, EventAction, EventAssignment

    now = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    dispatched = {"status": "dispatched", "lead_department_id": 1, "sign_deadline": now, "dispatched_at": now}
    action = {"at": now, "actor": "system", "data": {}}
    actions = [
        {**action, "action": "create", "to_status": "received"},
        {**action, "action": "dispatch", "to_status": "dispatched"},
    ]
    assignment = {"department_id": 1, "role": AssignmentRole.LEAD, "status": AssignmentStatus.PENDING}
    assignment |= {"assigned_at": now, "sign_deadline": now, "resolve_deadline": now}
    log = {"at": now, "actor_id": None, "actor": "system", "purpose": None}
    statements = (
        insert(Event).returning(Event.id),
        insert(EventAction),
        insert(EventAssignment),
        insert(AuditLog),
    )

    def orm(session: Session, row: dict[str, object]) -> None:
        event = Event(**row)
        session.add(event)
        if way == "orm":
            hooks.hand_over(session, event, SYSTEM)
        for key, value in dispatched.items():
            setattr(event, key, value)
        session.add_all([EventAction(event=event, **a) for a in actions])
        session.add(EventAssignment(event=event, **assignment))
        session.flush()

    def core(session: Session, row: dict[str, object]) -> None:
        to_event, to_actions, to_assignments, to_log = statements
        connection = session.connection()
        event_id = connection.execute(to_event, {**row, **dispatched}).scalar_one()
        connection.execute(to_actions, [{**a, "event_id": event_id} for a in actions])
        assignment_id = connection.execute(
            to_assignments.returning(EventAssignment.id), {**assignment, "event_id": event_id}
        ).scalar_one()
        changes = {key: str(value) for key, value in row.items()}
        connection.execute(
            to_log,
            [
                {
                    **log,
                    "action": "create",
                    "object_type": "events",
                    "object_id": str(event_id),
                    "changes": changes,
                },
                {
                    **log,
                    "action": "update",
                    "object_type": "events",
                    "object_id": str(event_id),
                    "changes": {key: [None, str(value)] for key, value in dispatched.items()},
                },
                {
                    **log,
                    "action": "create",
                    "object_type": "event_assignments",
                    "object_id": str(assignment_id),
                    "changes": {"event_id": event_id, **{k: str(v) for k, v in assignment.items()}},
                },
            ],
        )

    with tempfile.TemporaryDirectory() as tmp, be.fresh_database("sqlite", be.PgServer(), Path(tmp)) as url:
        be.seed_city(url)
        if way != "orm-unaudited":
            hooks.install()
        engine = make_engine(url)
        write = core if way == "core" else orm
        for i in range(count):
            with Session(engine) as session, session.begin():
                write(session, {**be._raw_row(i), "number": f"W-{i:06d}"})
        engine.dispose()


def instructions(tree: Path, *inner_args: object) -> int:
    """Instructions executed by one run of ``inner`` (or ``inner_writes``) for ``tree``, start-up included."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": f"{tree}{os.pathsep}{tree / 'bench'}"}
    command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
    command += [sys.executable, str(Path(__file__).resolve()), "--inner", *map(str, inner_args)]
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, check=False)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"the run for {tree} failed:\n{done.stderr[-3000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("other_tree", type=Path, nargs="?", help="a checkout to count beside this one")
    parser.add_argument("--warmup", type=int, default=100, help="creations before the counted ones")
    parser.add_argument("--count", type=int, default=150, help="creations counted")
    parser.add_argument(
        "--writes", action="store_true", help="instead: intake's writes, ORM flush against Core statements"
    )
    parser.add_argument("--inner", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        if args.inner[0] in WAYS:
            inner_writes(args.inner[0], int(args.inner[1]))
        else:
            inner(*map(int, args.inner))
        return
    if shutil.which("valgrind") is None:  # not a failure of the code measured: `make bench` goes on
        print("bench_instructions skipped: valgrind is not installed (Debian: apt-get install valgrind)")
        return
    if args.writes:
        writes(args.count)
        return
    trees = [ROOT] + ([args.other_tree.resolve()] if args.other_tree else [])
    runs = [(tree, n) for tree in trees for n in (0, args.count)]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        drawn = args.warmup + args.count
        counts = pool.map(lambda run: instructions(run[0], args.warmup, run[1], drawn), runs)
        counted = dict(zip(runs, counts, strict=True))
    print(
        f"instructions per event creation, in-process, SQLite ({args.count} after {args.warmup}; "
        f"{time.monotonic() - started:.0f} s)"
    )
    per = {tree: (counted[(tree, args.count)] - counted[(tree, 0)]) / args.count for tree in trees}
    for tree in trees:
        print(f"  {per[tree] / 1e6:7.3f} M  {tree}")
    if args.other_tree:
        print(f"  this tree: {100 * (per[ROOT] / per[trees[1]] - 1):+.1f} % against the other")


def writes(count: int) -> None:
    runs = [(way, n) for way in WAYS for n in (0, count)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        counted = dict(zip(runs, pool.map(lambda run: instructions(ROOT, *run), runs), strict=True))
    print(
        f"instructions per intake's writes (event, 2 actions, 1 assignment, 3 audit rows), SQLite, {count}:"
    )
    for way in WAYS:
        print(f"  {(counted[(way, count)] - counted[(way, 0)]) / count / 1e6:7.3f} M  {way}")


if __name__ == "__main__":
    if "--inner" in sys.argv:  # the measured tree's modules (PYTHONPATH), not those beside this script
        del sys.path[0]
    main()
