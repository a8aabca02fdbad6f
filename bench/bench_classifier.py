"""Dispatch classifier (``cityhub.dispatch.classifier``) on real citizen texts: accuracy, calibration,
auto-dispatch, latency and training time.

**Accuracy.** Stratified 5-fold cross-validation (shuffled, seed 0) on each real data set, a model trained
per fold on the other four: top-1, top-3, macro-F1, the expected calibration error of the confidence, and,
for comparison, a plain baseline (TF-IDF of character 1–4-grams + one linear SVM).

**Auto-dispatch.** The share of events whose confidence clears the threshold chosen for 97 % precision.
*Cross-fitted*: for each fold the threshold is chosen on the other four folds' out-of-fold predictions and
applied to this one (what a threshold chosen on validation data does on new events); *in-sample*: chosen
and measured on all out-of-fold predictions at once (optimistic). Side by side, on the same folds, the
cross-fitted figure of the same model without its NB-SVM second opinion, whose confidence is then the
calibrated probability (``second_opinion=False``: the model before the confidence model was added).

**Latency.** ``predict_one`` on single texts of the data set, one thread, with explanation.

**Training time.** ``TextClassifier.fit`` on 100 000 events synthesised from the teddycup messages
(resampled, sentences dropped and reordered, characters deleted), every core of the machine.

Data are read at run time from ``$CITYHUB_DATASETS`` (default ``../shared/datasets`` from the repository
root); their licences keep them out of the repository. Absent data → a message and exit 0.

    python bench/bench_classifier.py                    # everything, about 10 minutes on 2 cores
    python bench/bench_classifier.py --only cv          # cv | latency | scale
    python bench/bench_classifier.py --scale-events 20000
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import logging
import os
import random
import re
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cityhub.dispatch.classifier import (  # noqa: E402
    DEFAULT_CONFIG,
    Prediction,
    TextClassifier,
    expected_calibration_error,
)
from cityhub.dispatch.threshold import apply_threshold, choose_threshold  # noqa: E402

TARGET_PRECISION = 0.97


@dataclass(frozen=True)
class Dataset:
    name: str
    texts: list[str]
    labels: list[str]


def datasets_dir() -> Path:
    configured = os.environ.get("CITYHUB_DATASETS")
    return Path(configured) if configured else (ROOT / ".." / "shared" / "datasets").resolve()


def load_teddycup(root: Path) -> Dataset | None:
    path = root / "teddycup2020_gov_messages" / "messages_labeled_l1.csv"
    if not path.exists():
        return None
    with path.open(encoding="utf-8-sig", newline="") as source:
        rows = [row for row in csv.DictReader(source) if row["label_l1"].strip()]
    return Dataset("teddycup L1", [row["text"] for row in rows], [row["label_l1"] for row in rows])


def load_cocc(root: Path) -> Dataset | None:
    path = root / "cocc_telecom_complaints" / "COCC.txt"
    if not path.exists():
        return None
    texts, labels = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        text, _, label = line.rpartition("\t")
        if label.strip():
            texts.append(text)
            labels.append(label.strip())
    return Dataset("COCC", texts, labels)


# ---------------------------------------------------------------- cross-validation


@dataclass
class CvResult:
    dataset: str
    n: int
    classes: int
    top1: float
    top3: float
    macro_f1: float
    ece: float
    baseline_top1: float
    auto_rate_cross: float
    auto_precision_cross: float
    auto_rate_in_sample: float
    threshold_in_sample: float
    fit_seconds: float
    auto_rate_alone: float = float("nan")
    auto_precision_alone: float = float("nan")


def baseline_predict(
    train_texts: Sequence[str], train_labels: Sequence[str], test: Sequence[str]
) -> list[str]:
    """The plain model the brief quotes: TF-IDF character 1–4-grams and one linear SVM."""
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 4), sublinear_tf=True)
    svm = LinearSVC(C=1.0).fit(vectorizer.fit_transform(train_texts), train_labels)
    return [str(label) for label in svm.predict(vectorizer.transform(test))]


def cross_validate(data: Dataset, folds: int = 5) -> CvResult:
    splitter = StratifiedKFold(folds, shuffle=True, random_state=0)
    predictions: list[Prediction | None] = [None] * len(data.texts)
    alone: list[Prediction | None] = [None] * len(data.texts)
    baseline: list[str] = [""] * len(data.texts)
    without_second = dataclasses.replace(DEFAULT_CONFIG, second_opinion=False)
    fold_of = np.zeros(len(data.texts), dtype=int)
    fit_seconds = []
    for f, (train, test) in enumerate(splitter.split(data.texts, data.labels)):
        train_texts = [data.texts[i] for i in train]
        train_labels = [data.labels[i] for i in train]
        test_texts = [data.texts[i] for i in test]
        started = time.perf_counter()
        clf = TextClassifier.fit(train_texts, train_labels, seed=0)
        fit_seconds.append(time.perf_counter() - started)
        for i, p in zip(test, clf.predict(test_texts, explain=False), strict=True):
            predictions[i] = p
        single = TextClassifier.fit(train_texts, train_labels, seed=0, config=without_second)
        for i, p in zip(test, single.predict(test_texts, explain=False), strict=True):
            alone[i] = p
        for i, label in zip(test, baseline_predict(train_texts, train_labels, test_texts), strict=True):
            baseline[i] = label
        fold_of[test] = f
    preds = [p for p in predictions if p is not None]
    result = summarise(data, preds, baseline, fold_of, statistics.mean(fit_seconds))
    alone_correct = np.array(
        [p is not None and p.label == y for p, y in zip(alone, data.labels, strict=True)]
    )
    alone_conf = np.array([p.confidence if p is not None else 0.0 for p in alone])
    rate, precision = cross_fitted_auto_dispatch(alone_conf, alone_correct, fold_of)
    return dataclasses.replace(result, auto_rate_alone=rate, auto_precision_alone=precision)


def summarise(
    data: Dataset, preds: list[Prediction], baseline: list[str], fold_of: np.ndarray, fit_seconds: float
) -> CvResult:
    truth = data.labels
    correct = np.array([p.label == y for p, y in zip(preds, truth, strict=True)])
    conf = np.array([p.confidence for p in preds])
    in_top3 = [y in {name for name, _ in p.top} for p, y in zip(preds, truth, strict=True)]
    rate, precision = cross_fitted_auto_dispatch(conf, correct, fold_of)
    in_sample = choose_threshold(conf.tolist(), correct.tolist(), target_precision=TARGET_PRECISION)
    return CvResult(
        dataset=data.name,
        n=len(truth),
        classes=len(set(truth)),
        top1=float(correct.mean()),
        top3=float(np.mean(in_top3)),
        macro_f1=float(f1_score(truth, [p.label for p in preds], average="macro")),
        ece=expected_calibration_error(conf.tolist(), correct.tolist()),
        baseline_top1=float(np.mean([b == y for b, y in zip(baseline, truth, strict=True)])),
        auto_rate_cross=rate,
        auto_precision_cross=precision,
        auto_rate_in_sample=in_sample.auto_rate,
        threshold_in_sample=in_sample.threshold,
        fit_seconds=fit_seconds,
    )


def cross_fitted_auto_dispatch(
    conf: np.ndarray, correct: np.ndarray, fold_of: np.ndarray
) -> tuple[float, float]:
    """Threshold from the other folds' predictions, applied to each fold; pooled rate and precision."""
    taken = hits = 0
    for f in np.unique(fold_of):
        here = fold_of == f
        choice = choose_threshold(
            conf[~here].tolist(), correct[~here].tolist(), target_precision=TARGET_PRECISION
        )
        rate, precision = apply_threshold(conf[here].tolist(), correct[here].tolist(), choice.threshold)
        n_taken = round(rate * here.sum())
        taken += n_taken
        hits += round(precision * n_taken) if n_taken else 0
    return taken / len(conf), (hits / taken if taken else float("nan"))


def print_cv(results: Sequence[CvResult]) -> None:
    print("\n5-fold stratified CV (shuffled, seed 0); auto-dispatch at 97 % precision")
    print(
        "| data set | texts | classes | top-1 | top-3 | macro-F1 | ECE | baseline top-1 "
        "| auto-dispatch, cross-fitted (its precision) | auto-dispatch, in-sample (threshold) "
        "| without the second opinion: auto-dispatch, cross-fitted (its precision) | fit s/fold |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.dataset} | {r.n} | {r.classes} | {r.top1:.1%} | {r.top3:.1%} | {r.macro_f1:.3f} "
            f"| {r.ece:.3f} | {r.baseline_top1:.1%} | {r.auto_rate_cross:.1%} ({r.auto_precision_cross:.1%}) "
            f"| {r.auto_rate_in_sample:.1%} ({r.threshold_in_sample:.3f}) "
            f"| {r.auto_rate_alone:.1%} ({r.auto_precision_alone:.1%}) | {r.fit_seconds:.1f} |"
        )


# ---------------------------------------------------------------- latency


def latency(data: Dataset, samples: int = 500) -> None:
    """Single predictions on one thread (prediction starts no threads of its own)."""
    clf = TextClassifier.fit(data.texts, data.labels, seed=0)
    rng = random.Random(0)
    texts = [data.texts[rng.randrange(len(data.texts))] for _ in range(samples)]
    clf.predict_one(texts[0])  # jieba's dictionary loads on first use
    median_chars = statistics.median(map(len, texts))
    print(f"\nlatency on {samples} {data.name} texts (median {median_chars:.0f} chars), {load()}")
    print("| call | median ms | p95 ms | max ms | median CPU ms | p95 CPU ms |")
    print("|---|---|---|---|---|---|")
    print(timing_row("predict_one (with explanation)", clf.predict_one, texts))
    print(timing_row("predict([text], explain=False)", lambda t: clf.predict([t], explain=False)[0], texts))
    started = time.perf_counter()
    clf.predict(texts, explain=False)
    per_text = (time.perf_counter() - started) / len(texts) * 1000
    print(f"| predict(batch of {samples}, explain=False), per text | {per_text:.2f} | | | | |")


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} on {os.cpu_count()} cores"


def timing_row(name: str, call: Callable[[str], Prediction], texts: Sequence[str]) -> str:
    """Wall and CPU milliseconds per call: on a shared machine the CPU time is the steadier figure."""
    wall, cpu = [], []
    for text in texts:
        started, cpu_started = time.perf_counter(), time.process_time()
        call(text)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    wall.sort()
    cpu.sort()
    p95 = int(0.95 * len(texts))
    return (
        f"| {name} | {statistics.median(wall):.2f} | {wall[p95]:.2f} | {wall[-1]:.2f} "
        f"| {statistics.median(cpu):.2f} | {cpu[p95]:.2f} |"
    )


# ---------------------------------------------------------------- training at scale


def synthesise(data: Dataset, n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """``n`` events resampled from ``data``: sentences dropped (15 %) and reordered, characters deleted."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        i = rng.randrange(len(data.texts))
        sentences = [s for s in re.split(r"(?<=[。！？；，])", data.texts[i]) if s]
        kept = [s for s in sentences if rng.random() > 0.15] or sentences
        if len(kept) > 2 and rng.random() < 0.3:
            head, tail = kept[:1], kept[1:]
            rng.shuffle(tail)
            kept = head + tail
        text = "".join(kept)
        text = "".join(ch for ch in text if rng.random() > 0.01)
        texts.append(text)
        labels.append(data.labels[i])
    return texts, labels


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the tokenizing workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def scale(data: Dataset, n: int) -> None:
    texts, labels = synthesise(data, n)
    chars = sum(map(len, texts)) / n
    logging.basicConfig(format="  %(name)s: %(message)s")
    logging.getLogger("cityhub.dispatch.classifier").setLevel(logging.DEBUG)
    before = load()
    cpu, started = cpu_seconds(), time.perf_counter()
    clf = TextClassifier.fit(texts, labels, seed=0)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"\ntraining on {n} synthetic events from {data.name} ({chars:.0f} chars on average)")
    print(f"before: {before}; after: {load()}")
    print("| events | classes | wall s | CPU s (all processes) | peak RSS of the main process, GB |")
    print("|---|---|---|---|---|")
    print(f"| {n} | {len(clf.labels)} | {seconds:.1f} | {cpu:.1f} | {peak_gb:.1f} |")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["cv", "latency", "scale"], action="append")
    parser.add_argument("--scale-events", type=int, default=100_000)
    args = parser.parse_args()
    root = datasets_dir()
    found = [d for d in (load_teddycup(root), load_cocc(root)) if d is not None]
    if not found:
        print(f"skipped: no data sets under {root} (set CITYHUB_DATASETS to the shared datasets folder)")
        return 0
    parts = set(args.only or ["cv", "latency", "scale"])
    if "cv" in parts:
        print_cv([cross_validate(d) for d in found])
    if "latency" in parts:
        for d in found:
            latency(d)
    if "scale" in parts:
        scale(found[0], args.scale_events)
    return 0


if __name__ == "__main__":
    sys.exit(main())
