"""Choose the auto-dispatch threshold: the lowest confidence at which predictions are still precise enough.

An event whose top prediction has confidence ≥ the threshold is dispatched without a person; the rest go to
the dispatcher's review queue. The threshold is chosen on validation data (events the model did not train
on) so that the auto-dispatched share is as large as possible while its precision stays ≥ the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ThresholdChoice:
    """The chosen threshold and what it does on the data it was chosen on.

    ``threshold`` is ``inf`` when no threshold reaches the target (nothing is dispatched automatically);
    ``precision`` is then ``nan``.
    """

    threshold: float
    target_precision: float
    precision: float
    auto_rate: float
    auto_count: int
    total: int


def choose_threshold(
    confidences: Sequence[float], correct: Sequence[bool], *, target_precision: float = 0.97
) -> ThresholdChoice:
    """The threshold giving the largest auto-dispatch rate whose precision is ≥ ``target_precision``.

    Predictions with equal confidence are taken or left together, so the figures are the ones the
    threshold really yields.
    """
    conf = np.asarray(confidences, dtype=np.float64)
    hits = np.asarray(correct, dtype=bool)
    if conf.shape != hits.shape:
        raise ValueError("confidences and correct must have the same length")
    order = np.argsort(-conf, kind="stable")
    conf, hits = conf[order], hits[order]
    cum_precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    # Only the last position of a run of equal confidences is a cut a threshold can make.
    cut_ok = np.append(conf[1:] < conf[:-1], True) if len(conf) else np.zeros(0, dtype=bool)
    eligible = np.flatnonzero(cut_ok & (cum_precision >= target_precision))
    if len(eligible) == 0:
        return ThresholdChoice(float("inf"), target_precision, float("nan"), 0.0, 0, len(conf))
    last = int(eligible[-1])
    return ThresholdChoice(
        threshold=float(conf[last]),
        target_precision=target_precision,
        precision=float(cum_precision[last]),
        auto_rate=(last + 1) / len(conf),
        auto_count=last + 1,
        total=len(conf),
    )


def apply_threshold(
    confidences: Sequence[float], correct: Sequence[bool], threshold: float
) -> tuple[float, float]:
    """(auto-dispatch rate, precision of the auto-dispatched) when ``threshold`` is applied to new data."""
    conf = np.asarray(confidences, dtype=np.float64)
    hits = np.asarray(correct, dtype=bool)
    taken = conf >= threshold
    if not taken.any():
        return 0.0, float("nan")
    return float(taken.mean()), float(hits[taken].mean())
