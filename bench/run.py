"""Run the benchmarks (``make bench``): every ``bench/bench_*.py``, each in its own process.

    python bench/run.py                       # all of them
    python bench/run.py events report         # a subset, by the name after ``bench_``
    python bench/run.py events -- --seconds 20 --markdown   # options after ``--`` go to each one

Exits non-zero when any benchmark fails (or a named one does not exist).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent


def available() -> dict[str, Path]:
    return {path.stem.removeprefix("bench_"): path for path in sorted(HERE.glob("bench_*.py"))}


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    argv = list(argv)
    passthrough: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(available())})"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return parser.parse_args(argv), passthrough


def run(name: str, script: Path, extra: Sequence[str]) -> tuple[int, float]:
    print(f"=== {name}: {script.relative_to(HERE.parent)} {' '.join(extra)}".rstrip(), flush=True)
    started = time.monotonic()
    code = subprocess.call([sys.executable, str(script), *extra], cwd=HERE.parent)
    return code, time.monotonic() - started


def main(argv: Sequence[str] | None = None) -> int:
    args, extra = parse_args(sys.argv[1:] if argv is None else argv)
    scripts = available()
    if args.list:
        print("\n".join(scripts))
        return 0
    unknown = [name for name in args.names if name not in scripts]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(scripts)}", file=sys.stderr)
        return 2
    outcomes = {name: run(name, scripts[name], extra) for name in args.names or scripts}
    print("=== summary")
    for name, (code, seconds) in outcomes.items():
        print(f"{name:<12} {'ok' if code == 0 else f'FAILED (exit {code})':<18} {seconds:7.1f} s")
    return 1 if any(code != 0 for code, _ in outcomes.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
