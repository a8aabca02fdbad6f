"""``cityhub.dispatch.classifier`` and ``threshold`` on synthetic Chinese reports."""

from __future__ import annotations

import dataclasses
import math
import pickle
import random
import re
from pathlib import Path

import numpy as np
import pytest

from cityhub.dispatch.classifier import (
    DEFAULT_CONFIG,
    TextClassifier,
    WordSegmenter,
    _confidence_helps,
    _with_confidence,
    evaluate,
    expected_calibration_error,
    fold,
)
from cityhub.dispatch.threshold import apply_threshold, choose_threshold
from tests.dispatch import PHRASES, synthetic_reports


@pytest.fixture(scope="module")
def trained() -> TextClassifier:
    texts, labels = synthetic_reports(per_category=40, seed=1)
    return TextClassifier.fit(texts, labels, seed=0, n_jobs=1)


def noisy_reports(per_category: int, seed: int, share: float = 0.2) -> tuple[list[str], list[str]]:
    """Synthetic reports with a ``share`` of the labels drawn at random: a model then makes mistakes."""
    texts, labels = synthetic_reports(per_category=per_category, seed=seed)
    rng = random.Random(seed)
    names = sorted(set(labels))
    return texts, [rng.choice(names) if rng.random() < share else label for label in labels]


# Random label noise is nothing a confidence model can learn: keep it whatever it gains, to test it.
KEEP_CONFIDENCE = dataclasses.replace(DEFAULT_CONFIG, confidence_gain=-1.0)


@pytest.fixture(scope="module")
def noisy() -> TextClassifier:
    texts, labels = noisy_reports(per_category=40, seed=10)
    return TextClassifier.fit(texts, labels, seed=0, n_jobs=1, config=KEEP_CONFIDENCE)


def test_new_reports_of_separable_categories_are_classified_correctly(trained: TextClassifier) -> None:
    texts, labels = synthetic_reports(per_category=10, seed=2)
    predicted = [p.label for p in trained.predict(texts)]
    accuracy = sum(p == y for p, y in zip(predicted, labels, strict=True)) / len(labels)
    assert accuracy >= 0.95
    assert trained.labels == sorted(PHRASES)


def test_confidence_is_a_probability_and_top3_is_ordered(trained: TextClassifier) -> None:
    texts, _ = synthetic_reports(per_category=3, seed=3)
    for p in trained.predict(texts):
        assert 0.0 <= p.confidence <= 1.0
        assert len(p.top) == 3
        assert p.top[0] == (p.label, p.confidence)
        probabilities = [probability for _, probability in p.top]
        assert probabilities == sorted(probabilities, reverse=True)
        assert sum(probabilities) <= 1.0 + 1e-9
        assert len({name for name, _ in p.top}) == 3


def test_a_clear_report_is_confident(trained: TextClassifier) -> None:
    p = trained.predict_one("市民来电反映：香港中路夜间施工噪音，请相关部门尽快处理。")
    assert p.label == "环境保护"
    assert p.confidence > 0.6


def test_explanation_comes_from_the_text_and_names_the_problem(trained: TextClassifier) -> None:
    text = "您好，ＡＢＣ小区１２号楼旁边路灯不亮，已经持续一周了，希望解决。"
    p = trained.predict_one(text)
    assert p.label == "城乡建设"
    assert 1 <= len(p.explanation) <= 5
    assert all(word in text for word in p.explanation)
    assert any("路灯" in word or "不亮" in word for word in p.explanation)


def test_empty_and_unknown_texts_still_get_a_prediction(trained: TextClassifier) -> None:
    empty, unknown = trained.predict(["", "今天天气不错"])
    for p in (empty, unknown):
        assert p.label in trained.labels
        assert 0.0 <= p.confidence <= 1.0
    assert empty.explanation == []
    assert trained.predict([]) == []


def test_save_and_load_give_identical_predictions(trained: TextClassifier, tmp_path: Path) -> None:
    path = tmp_path / "models" / "dispatch.pkl"
    trained.save(path)
    loaded = TextClassifier.load(path)
    texts, _ = synthetic_reports(per_category=5, seed=4)
    assert loaded.predict(texts) == trained.predict(texts)
    assert (loaded.version, loaded.labels) == (trained.version, trained.labels)


def test_loading_a_file_that_is_not_a_model_is_a_value_error(tmp_path: Path) -> None:
    path = tmp_path / "not-a-model.pkl"
    path.write_text("text,label\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not a cityhub dispatch model"):
        TextClassifier.load(path)


def test_version_says_when_and_on_what_data(trained: TextClassifier) -> None:
    texts, labels = synthetic_reports(per_category=40, seed=1)
    again = TextClassifier.fit(texts, labels, seed=0, n_jobs=1)
    other = TextClassifier.fit(texts[1:], labels[1:], seed=0, n_jobs=1)
    assert again.version[-8:] == trained.version[-8:] != other.version[-8:]
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{8}", trained.version)


def test_user_words_teach_jieba_local_place_names() -> None:
    text = fold("香港中路燃气管道泄漏")
    assert "香港中路" not in WordSegmenter().cut(text)
    taught = WordSegmenter(["香港中路"])
    taught.add_words(["燃气管道", " "])
    words = taught.cut(text)
    assert {"香港中路", "燃气管道", "香港"} <= set(words)
    assert taught.user_words == ("香港中路", "燃气管道")


def test_user_words_are_kept_with_the_model(tmp_path: Path) -> None:
    texts, labels = synthetic_reports(per_category=8, seed=5)
    clf = TextClassifier.fit(texts, labels, user_words=["香港中路", "燃气管道"], n_jobs=1)
    clf.add_words(["书院路"])
    clf.save(tmp_path / "m.pkl")
    assert TextClassifier.load(tmp_path / "m.pkl").user_words == ("香港中路", "燃气管道", "书院路")


def test_folding_keeps_positions() -> None:
    text = "ＡＢＣ路１２３号，Ｗｉｆｉ"
    folded = fold(text)
    assert len(folded) == len(text)
    assert folded == "abc路000号,wifi"
    assert fold("a\x00b") == "a b"  # NUL joins words between processes


def test_hierarchical_labels_and_two_categories() -> None:
    texts, labels = synthetic_reports(per_category=10, seed=6)
    keep = [i for i, y in enumerate(labels) if y in ("城乡建设", "环境保护")]
    paths = {"城乡建设": "城乡建设/市政设施/路灯", "环境保护": "环境保护/噪声污染/施工噪声"}
    clf = TextClassifier.fit([texts[i] for i in keep], [paths[labels[i]] for i in keep], n_jobs=1)
    p = clf.predict_one("书院路河道污水直排")
    assert p.label == "环境保护/噪声污染/施工噪声"
    assert len(p.top) == 2


def test_large_sets_calibrate_on_a_holdout() -> None:
    texts, labels = synthetic_reports(per_category=30, seed=7)
    config = dataclasses.replace(DEFAULT_CONFIG, holdout_from=50, holdout_share=0.3)
    clf = TextClassifier.fit(texts, labels, config=config, n_jobs=2)
    figures = evaluate(clf, *synthetic_reports(per_category=10, seed=8))
    assert figures["top1"] >= 0.95


def test_training_needs_two_categories_and_one_label_per_text() -> None:
    with pytest.raises(ValueError, match="two different categories"):
        TextClassifier.fit(["路灯不亮", "井盖缺失"], ["城乡建设", "城乡建设"])
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        TextClassifier.fit(["路灯不亮", "井盖缺失"], ["城乡建设"])


def test_evaluate_reports_accuracy_and_auto_dispatch(trained: TextClassifier) -> None:
    figures = evaluate(trained, *synthetic_reports(per_category=10, seed=9))
    assert figures["n"] == 40
    assert figures["top1"] >= 0.95 and figures["top3"] == 1.0 and figures["macro_f1"] >= 0.95
    assert figures["threshold"] is not None and 0.0 <= figures["threshold"] <= 1.0
    assert figures["auto_dispatch_precision"] >= 0.97
    assert 0.0 < figures["auto_dispatch_rate"] <= 1.0
    assert 0.0 <= figures["ece"] <= 1.0


def test_threshold_takes_the_largest_share_that_stays_precise() -> None:
    confidences = [0.99, 0.95, 0.9, 0.8, 0.7, 0.6]
    correct = [True, True, True, False, True, False]
    choice = choose_threshold(confidences, correct, target_precision=0.75)
    assert (choice.threshold, choice.auto_count) == (0.7, 5)
    assert choice.precision == pytest.approx(0.8)
    assert choice.auto_rate == pytest.approx(5 / 6)
    assert apply_threshold(confidences, correct, choice.threshold) == pytest.approx((5 / 6, 0.8))


def test_threshold_keeps_equal_confidences_together() -> None:
    choice = choose_threshold([0.9, 0.8, 0.8], [True, True, False], target_precision=0.9)
    assert (choice.threshold, choice.auto_count) == (0.9, 1)


def test_unreachable_precision_dispatches_nothing() -> None:
    choice = choose_threshold([0.9, 0.8], [False, True], target_precision=0.99)
    assert math.isinf(choice.threshold) and choice.auto_rate == 0.0
    assert apply_threshold([0.9, 0.8], [False, True], choice.threshold)[0] == 0.0


def test_calibration_error_of_perfectly_calibrated_confidences_is_zero() -> None:
    assert expected_calibration_error([0.5, 0.5, 1.0], [True, False, True]) == pytest.approx(0.0)
    assert expected_calibration_error([1.0, 1.0], [False, False]) == pytest.approx(1.0)


def test_with_mistakes_to_learn_from_a_confidence_model_scores_the_top_category(
    noisy: TextClassifier,
) -> None:
    assert noisy._fitted.second is not None and noisy._fitted.confidence is not None
    texts, labels = synthetic_reports(per_category=10, seed=11)
    predictions = noisy.predict(texts)
    for p in predictions:
        assert 0.0 <= p.confidence <= 1.0
        assert p.top[0] == (p.label, p.confidence)
        probabilities = [probability for _, probability in p.top]
        assert probabilities == sorted(probabilities, reverse=True)
        assert sum(probabilities) <= 1.0 + 1e-9
    assert evaluate(noisy, texts, labels)["top1"] >= 0.9


def test_the_confidence_replaces_the_top_probability_and_keeps_the_order() -> None:
    row = np.array([0.5, 0.3, 0.2])
    assert _with_confidence(row, 0, 0.9) == pytest.approx([0.9, 0.06, 0.04])
    # Below the runner-up's rescaled share the chosen category ties with it instead of falling behind.
    assert _with_confidence(row, 0, 0.1) == pytest.approx([0.375, 0.375, 0.25])
    assert _with_confidence(np.array([0.0, 1.0]), 1, 0.8) == pytest.approx([0.0, 0.8])


def test_a_model_saved_before_the_confidence_model_still_loads_and_predicts(
    noisy: TextClassifier, tmp_path: Path
) -> None:
    old = pickle.loads(pickle.dumps(noisy))
    del old._fitted.__dict__["second"], old._fitted.__dict__["confidence"]
    old.save(tmp_path / "old.pkl")
    loaded = TextClassifier.load(tmp_path / "old.pkl")
    texts, _ = synthetic_reports(per_category=3, seed=12)
    for before, after in zip(noisy.predict(texts), loaded.predict(texts), strict=True):
        assert after.label == before.label  # the confidence model never changes the category
        assert after.top[0] == (after.label, after.confidence)
        assert sum(probability for _, probability in after.top) <= 1.0 + 1e-9


def test_the_second_opinion_can_be_switched_off() -> None:
    texts, labels = noisy_reports(per_category=20, seed=13)
    config = dataclasses.replace(DEFAULT_CONFIG, second_opinion=False)
    clf = TextClassifier.fit(texts, labels, config=config, n_jobs=1)
    assert clf._fitted.second is None and clf._fitted.confidence is None
    p = clf.predict_one("市民来电反映：香港中路夜间施工噪音，请相关部门尽快处理。")
    assert p.top[0] == (p.label, p.confidence)


def test_large_sets_fit_the_second_opinion_on_a_sample_and_calibrate_on_a_holdout() -> None:
    texts, labels = noisy_reports(per_category=40, seed=14)
    config = dataclasses.replace(KEEP_CONFIDENCE, holdout_from=50, holdout_share=0.3, second_opinion_max=60)
    clf = TextClassifier.fit(texts, labels, config=config, n_jobs=2)
    assert clf._fitted.second is not None and clf._fitted.confidence is not None
    alone = TextClassifier.fit(texts, labels, config=dataclasses.replace(config, second_opinion=False))
    new, _ = synthetic_reports(per_category=10, seed=15)
    assert [p.label for p in clf.predict(new)] == [p.label for p in alone.predict(new)]


def test_the_confidence_model_is_kept_only_where_it_auto_dispatches_more() -> None:
    rng = np.random.default_rng(0)
    n, k = 400, 3
    y = rng.integers(k, size=n)
    right = rng.random(n) < 0.8
    chosen = np.where(right, y, (y + 1) % k)
    # The calibrated probability says nothing (0.6 for every text); where the second opinion agrees
    # with the chosen category, it is right.
    probabilities = np.full((n, k), 0.2)
    probabilities[np.arange(n), chosen] = 0.6
    scores = probabilities - 0.5
    second = np.zeros((n, k))
    second[np.arange(n), np.where(right, chosen, (chosen + 1) % k)] = 1.0
    assert _confidence_helps(probabilities, scores, second, y, DEFAULT_CONFIG, seed=0)
    # A second opinion that always agrees adds nothing: the calibrated probability is kept.
    assert not _confidence_helps(probabilities, scores, scores.copy(), y, DEFAULT_CONFIG, seed=0)
    strict = dataclasses.replace(DEFAULT_CONFIG, confidence_gain=1.0)
    assert not _confidence_helps(probabilities, scores, second, y, strict, seed=0)
