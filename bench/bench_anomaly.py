"""Benchmark of cityhub.anomaly on BATADAL, SKAB (valve1) and NAB, with one default configuration.

Usage (from the repository root):

    python bench/bench_anomaly.py                 # the figures in docs/benchmarks.md
    python bench/bench_anomaly.py --sensitivity   # plus how they move with the main settings

Datasets are read from $CITYHUB_DATASETS (default ../shared/datasets next to the repository);
without them the script says so and exits 0. Nothing here is tuned at run time: every figure
comes from ``DEFAULT_CONFIG`` with thresholds taken from the normal/training rows only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cityhub.anomaly.detectors import DEFAULT_CONFIG, AnomalyDetector, DetectorConfig, fit_on_input
from cityhub.anomaly.io import Frame, match_resolution, read_frame

BoolArray = npt.NDArray[np.bool_]
REPO = Path(__file__).resolve().parent.parent


def datasets_dir() -> Path:
    return Path(os.environ.get("CITYHUB_DATASETS", REPO.parent / "shared" / "datasets"))


# --- metrics ------------------------------------------------------------------------------


def segments(labels: BoolArray) -> list[tuple[int, int]]:
    """``[start, stop)`` of each run of true labels."""
    edges = np.diff(np.concatenate([[0], labels.astype(np.int64), [0]]))
    return list(zip(np.where(edges == 1)[0].tolist(), np.where(edges == -1)[0].tolist(), strict=True))


@dataclass(frozen=True)
class BatadalScore:
    """The BATADAL competition score and its parts."""

    s: float
    s_ttd: float
    s_cm: float
    tpr: float
    tnr: float
    detected: int
    attacks: int


def batadal_score(alarm: BoolArray, labels: BoolArray) -> BatadalScore:
    """S = 0.5 S_TTD + 0.5 S_CM (Taormina et al. 2018); an undetected attack counts TTD/duration = 1."""
    tpr = float((alarm & labels).sum() / labels.sum())
    tnr = float((~alarm & ~labels).sum() / (~labels).sum())
    ratios = []
    for start, stop in segments(labels):
        hits = np.flatnonzero(alarm[start:stop])
        ratios.append(hits[0] / (stop - start) if len(hits) else 1.0)
    s_ttd, s_cm = 1.0 - float(np.mean(ratios)), (tpr + tnr) / 2
    detected = int(sum(r < 1.0 for r in ratios))
    return BatadalScore(0.5 * s_ttd + 0.5 * s_cm, s_ttd, s_cm, tpr, tnr, detected, len(ratios))


def f1(alarm: BoolArray, labels: BoolArray) -> float:
    tp = int((alarm & labels).sum())
    return 2 * tp / max(2 * tp + int((alarm & ~labels).sum()) + int((~alarm & labels).sum()), 1)


@dataclass
class WindowTally:
    """NAB-style window counts: detected windows and alarms outside every window."""

    detected: int = 0
    windows: int = 0
    false_alarms: int = 0
    points: int = 0

    def add(self, alarm: BoolArray, inside: Sequence[BoolArray]) -> None:
        self.detected += sum(bool((alarm & w).any()) for w in inside)
        self.windows += len(inside)
        outside = ~np.logical_or.reduce(list(inside)) if inside else np.ones(len(alarm), dtype=np.bool_)
        self.false_alarms += int((alarm & outside).sum())
        self.points += len(alarm)

    @property
    def recall(self) -> float:
        return self.detected / self.windows if self.windows else float("nan")

    @property
    def fa_per_1000(self) -> float:
        return 1000.0 * self.false_alarms / max(self.points, 1)


# --- datasets -----------------------------------------------------------------------------


def batadal(root: Path) -> tuple[Frame, Frame, BoolArray]:
    folder = root / "batadal"
    normal = read_frame(folder / "BATADAL_dataset03_normal.csv", "DATETIME", ignore_cols=["ATT_FLAG"])
    test_path = folder / "BATADAL_dataset04_labeled.csv"
    test = read_frame(test_path, "DATETIME", ignore_cols=["ATT_FLAG"])
    labels = read_frame(test_path, "DATETIME", ["ATT_FLAG"]).values[:, 0] > 0
    return normal, test, labels


def skab_runs(root: Path) -> tuple[Frame, list[tuple[str, Frame, BoolArray]]]:
    folder = root / "skab" / "data"
    free = read_frame(folder / "anomaly-free" / "anomaly-free.csv", "datetime", sep=";")
    runs = []
    for path in sorted((folder / "valve1").glob("*.csv"), key=lambda p: int(p.stem)):
        frame = read_frame(path, "datetime", sep=";", ignore_cols=["anomaly", "changepoint"])
        labels = read_frame(path, "datetime", ["anomaly"], sep=";").values[:, 0] > 0
        runs.append((path.name, frame, labels))
    return free, runs


def nab_series(root: Path) -> list[tuple[str, Frame, list[BoolArray]]]:
    windows = json.loads((root / "nab" / "labels" / "combined_windows.json").read_text())
    out = []
    for name, spans in sorted(windows.items()):
        path = root / "nab" / "data" / name
        if not path.exists():  # only part of NAB is kept in the shared folder
            continue
        frame = read_frame(path, "timestamp")
        inside = [
            (frame.times >= np.datetime64(a[:19])) & (frame.times <= np.datetime64(b[:19])) for a, b in spans
        ]
        out.append((name, frame, inside))
    return out


# --- runs ---------------------------------------------------------------------------------


@dataclass
class Data:
    batadal: tuple[Frame, Frame, BoolArray]
    skab: tuple[Frame, list[tuple[str, Frame, BoolArray]]]
    nab: list[tuple[str, Frame, list[BoolArray]]]


def run_batadal(data: Data, config: DetectorConfig) -> BatadalScore:
    normal, test, labels = data.batadal
    detector = AnomalyDetector(config).fit(match_resolution(normal, test))
    return batadal_score(detector.detect(test).is_anomaly, labels)


SkabMode = Callable[[Frame, Frame, DetectorConfig], AnomalyDetector]
SKAB_MODES: dict[str, SkabMode] = {
    "first 400 rows of each run (--train-rows 400)": lambda free, run, c: fit_on_input(run, 400, c),
    "anomaly-free.csv (--train)": lambda free, run, c: AnomalyDetector(c).fit(match_resolution(free, run)),
    "the run itself (no --train)": lambda free, run, c: fit_on_input(run, None, c),
}


def run_skab(data: Data, config: DetectorConfig, mode: str) -> tuple[float, float]:
    """F1 averaged over the runs, and F1 of all runs' rows pooled (as SKAB's leaderboard does)."""
    free, runs = data.skab
    alarms, truths = [], []
    for _, frame, labels in runs:
        alarms.append(SKAB_MODES[mode](free, frame, config).detect(frame).is_anomaly)
        truths.append(labels)
    mean = float(np.mean([f1(a, t) for a, t in zip(alarms, truths, strict=True)]))
    return mean, f1(np.concatenate(alarms), np.concatenate(truths))


def run_nab(data: Data, config: DetectorConfig) -> tuple[WindowTally, dict[str, WindowTally], WindowTally]:
    """Totals, totals per group, and a chance baseline: the same alarms circularly shifted."""
    total, null, groups = WindowTally(), WindowTally(), dict[str, WindowTally]()
    rng = np.random.default_rng(0)
    for name, frame, inside in data.nab:
        alarm = fit_on_input(frame, None, config).detect(frame).is_anomaly
        total.add(alarm, inside)
        groups.setdefault(name.split("/")[0], WindowTally()).add(alarm, inside)
        for shift in rng.integers(1, len(frame), size=20):
            null.add(np.roll(alarm, int(shift)), inside)
    null.detected, null.windows = round(null.detected / 20), round(null.windows / 20)
    return total, groups, null


def throughput(data: Data) -> list[tuple[str, int, int, float, float]]:
    """Rows scored per second with a fitted detector (best of 3), and the fit time."""
    normal, test, _ = data.batadal
    nab = next(frame for name, frame, _ in data.nab if "Twitter_volume_AAPL" in name)
    out = []
    for label, train, window in (("BATADAL, 43 sensors", normal, test), ("NAB, 1 sensor", nab, nab)):
        started = time.perf_counter()
        detector = AnomalyDetector().fit(train)
        fit_s = time.perf_counter() - started
        best = min(_time_detect(detector, window) for _ in range(3))
        out.append((label, len(window), len(window.columns), len(window) / best, fit_s))
    return out


def stream_latency(data: Data) -> float:
    """Seconds per call when a live feed is scored as it arrives: each call scores the newest
    BATADAL row plus the overlap the detector needs (smoothing + lags)."""
    normal, test, _ = data.batadal
    detector = AnomalyDetector().fit(normal)
    overlap = DEFAULT_CONFIG.smoothing + DEFAULT_CONFIG.relation_lags
    ends = range(overlap + 1, min(len(test), overlap + 501))
    started = time.perf_counter()
    for end in ends:
        detector.detect(test.rows(end - overlap - 1, end))
    return (time.perf_counter() - started) / len(ends)


def _time_detect(detector: AnomalyDetector, window: Frame) -> float:
    started = time.perf_counter()
    detector.detect(window)
    return time.perf_counter() - started


# --- report -------------------------------------------------------------------------------


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a Markdown table."""
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    print()


def print_main(data: Data) -> None:
    config = DEFAULT_CONFIG
    b = run_batadal(data, config)
    print("## BATADAL dataset04 (trained on dataset03)\n")
    scores = [f"{v:.3f}" for v in (b.s, b.s_ttd, b.s_cm, b.tpr, b.tnr)]
    table(["S", "S_TTD", "S_CM", "TPR", "TNR", "attacks detected"], [[*scores, f"{b.detected}/{b.attacks}"]])

    print(f"## SKAB valve1, mean F1 over {len(data.skab[1])} runs\n")
    rows: list[list[object]] = []
    for mode in SKAB_MODES:
        mean, pooled = run_skab(data, config, mode)
        rows.append([mode, f"{mean:.3f}", f"{pooled:.3f}"])
    table(["learned from", "F1 (mean over runs)", "F1 (rows pooled)"], rows)

    total, groups, null = run_nab(data, config)
    print(f"## NAB, {len(data.nab)} series present, no --train (learned from each series itself)\n")
    rows = [
        [group, f"{t.detected}/{t.windows}", f"{t.recall:.3f}" if t.windows else "-", f"{t.fa_per_1000:.1f}"]
        for group, t in groups.items()
    ]
    rows.append(
        ["**all**", f"{total.detected}/{total.windows}", f"{total.recall:.3f}", f"{total.fa_per_1000:.1f}"]
    )
    chance = "chance: the same alarms, circularly shifted at random (mean of 20)"
    rows.append([chance, f"{null.detected}/{null.windows}", f"{null.recall:.3f}", "-"])
    table(["group", "windows detected", "recall", "false alarms / 1000 points"], rows)

    print("## Throughput (fitted detector, default config)\n")
    table(
        ["data", "rows", "rows scored / s", "readings scored / s", "fit time"],
        [
            [label, n, f"{rate:,.0f}", f"{rate * cols:,.0f}", f"{fit_s:.2f} s"]
            for label, n, cols, rate, fit_s in throughput(data)
        ],
    )
    latency_ms = 1000 * stream_latency(data)
    print(f"Live feed, one new BATADAL row per call (43 sensors): {latency_ms:.2f} ms per call.")


SENSITIVITY: dict[str, dict[str, object]] = {
    "default": {},
    "threshold_quantile 0.99": {"threshold_quantile": 0.99},
    "threshold_quantile 0.999": {"threshold_quantile": 0.999},
    "no instant level": {"instant_quantile": None},
    "smoothing 1 (none)": {"smoothing": 1},
    "smoothing 3": {"smoothing": 3},
    "smoothing 12": {"smoothing": 12},
    "relation_lags 0": {"relation_lags": 0},
    "residual_floor 0.02": {"residual_floor": 0.02},
    "level only": {"scorers": ("level",)},
    "relation only": {"scorers": ("relation",)},
    "level + pca + frozen": {"scorers": ("level", "pca", "frozen")},
}


def print_sensitivity(data: Data) -> None:
    print("\n## Sensitivity (one setting changed at a time)\n")
    first_400 = next(iter(SKAB_MODES))
    rows = []
    for name, changes in SENSITIVITY.items():
        config = dataclasses.replace(DEFAULT_CONFIG, **changes)  # type: ignore[arg-type]
        nab = run_nab(data, config)[0]
        skab = run_skab(data, config, first_400)[0]
        rows.append(
            [
                name,
                f"{run_batadal(data, config).s:.3f}",
                f"{skab:.3f}",
                f"{nab.recall:.3f}",
                f"{nab.fa_per_1000:.1f}",
            ]
        )
    table(["variant", "BATADAL S", "SKAB F1 (first 400)", "NAB recall", "NAB FA/1000"], rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sensitivity", action="store_true", help="also vary the main settings")
    args = parser.parse_args(argv)
    root = datasets_dir()
    missing = [name for name in ("batadal", "skab", "nab") if not (root / name).is_dir()]
    if missing:
        print(f"skipped: datasets {', '.join(missing)} not found under {root} (set CITYHUB_DATASETS)")
        return 0
    started = time.perf_counter()
    data = Data(batadal(root), skab_runs(root), nab_series(root))
    shown = (
        "scorers",
        "smoothing",
        "threshold_quantile",
        "instant_quantile",
        "relation_lags",
        "residual_floor",
    )
    settings = ", ".join(f"{name}={getattr(DEFAULT_CONFIG, name)}" for name in shown)
    print(f"# cityhub.anomaly benchmark, DEFAULT_CONFIG ({settings})\n")
    print_main(data)
    if args.sensitivity:
        print_sensitivity(data)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
