"""``cityhub.dispatch.classifier`` and ``threshold`` on synthetic Chinese reports."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import pytest

from cityhub.dispatch.classifier import (
    DEFAULT_CONFIG,
    TextClassifier,
    WordSegmenter,
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
