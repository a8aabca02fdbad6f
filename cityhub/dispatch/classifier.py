"""Citizen-text classifier for dispatch (智能分拨): category, calibrated confidence, top 3 and why.

The model, chosen by cross-validation on real 12345-style texts (figures and what else was tried in
``docs/benchmarks.md``):

- **Features**, TF-IDF with sublinear term frequency, three blocks side by side:
  character 1–2-grams of the first ``max_chars`` characters; the words of jieba's dictionary found in the
  first ``word_chars`` characters, all of them as in jieba's full mode (so a user-dictionary word such as
  香港中路 adds a feature without taking away 香港); and character 1–3-grams of the first ``head_chars``
  characters, where the title of a message sits, at half weight. Terms seen in only one training text
  are dropped (``min_df=2``): on these data that was the largest single gain, because one-off n-grams
  (names, numbers, typos) only dilute each text's vector.
- **Scores:** one linear SVM per category (one-vs-rest), fitted on threads (liblinear releases the GIL).
- **Calibration:** a multinomial logistic regression from the SVM scores to probabilities, fitted on
  scores of texts the SVMs did not train on: cross-fitted (5 folds) on small sets; on large sets
  (``holdout_from`` texts and more) a stratified 10 % is held out instead, which costs one fit, not six.
- **Confidence** (what auto-dispatch thresholds): a second opinion, one NB-SVM per category (Wang & Manning
  2012: an SVM on the features scaled by their naive-Bayes log-count ratio), and a logistic regression,
  fitted on the same held-out scores, from how sure both models are and whether they agree to the
  probability that the top category is right. It does not change the top category; where it ranks right
  and wrong predictions apart better than the calibrated probability (teddycup: 71.7 % → 79.3 % of the
  messages auto-dispatched at 97 % precision) it is kept, where it does not (COCC) the confidence stays
  the calibrated probability: each training run decides, cross-fitting it on its calibration texts.

Texts are folded one character to one character (NFKC, lower case, every digit → 0), so a position in the
folded text is the same position in the original: explanations are cut out of the original text.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import multiprocessing
import os
import pickle
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import jieba
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.svm import LinearSVC

from cityhub.dispatch.threshold import choose_threshold

_LOG = logging.getLogger(__name__)

# jieba logs "Building prefix dict…" at DEBUG on every process start; that is noise on a CLI.
jieba.setLogLevel(logging.WARNING)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
_T = TypeVar("_T")

_FORMAT = "cityhub.dispatch.TextClassifier/2"
# Below this many texts, tokenising in worker processes costs more (start-up, loading jieba) than it saves.
_PARALLEL_CUT_FROM = 5_000
_CUT_CHUNK = 2_000
# An SVM for a category absent from a fold's training part: a constant "not this one" margin.
_ABSENT_MARGIN = -1.0
# Longest phrase an explanation merges overlapping terms into.
_MAX_PHRASE = 8
# Joins a text's words into one string between processes (a list of strings pickles 20 times slower);
# folding turns it into a space in the texts themselves.
_WORD_SEPARATOR = "\x00"


@dataclass(frozen=True)
class Prediction:
    """The predicted category of one text.

    ``confidence`` is the calibrated probability of ``label``; ``top`` holds the three most probable
    categories (fewer if the model knows fewer), best first; ``explanation`` up to five words or phrases of
    the text that pushed the decision toward ``label``, as written in the text.
    """

    label: str
    confidence: float
    top: list[tuple[str, float]]
    explanation: list[str]


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of :class:`TextClassifier`; the defaults are the measured ones."""

    max_chars: int = 1_000
    char_ngrams: tuple[int, int] = (1, 2)
    use_words: bool = True
    # Looking words up is the slowest step of training (pure Python): only in the first 500 characters,
    # which cost 0.1 point on teddycup and nothing on COCC.
    word_chars: int = 500
    head_chars: int = 30
    head_ngrams: tuple[int, int] = (1, 3)
    head_weight: float = 0.5
    min_df: int = 2
    # On fewer training texts than this, min_df is 1: nearly every n-gram of a tiny set is seen once.
    min_df_from: int = 100
    svm_c: float = 1.0
    svm_max_iter: int = 2_000
    svm_tol: float = 1e-3
    # The NB-SVM second opinion behind the confidence: nb_alpha smooths its log-count ratios (of TF-IDF
    # mass, whose rows have unit length, hence well below 1); on larger sets it trains on this many texts.
    second_opinion: bool = True
    nb_alpha: float = 0.1
    second_opinion_max: int = 20_000
    # The confidence model is kept only if, cross-fitted on the calibration texts, it auto-dispatches
    # at least confidence_gain more of them than the calibrated probability does at this precision
    # (2 points: about two standard errors on 1 500 texts; smaller gains are as likely noise).
    target_precision: float = 0.97
    confidence_gain: float = 0.02
    cv_folds: int = 5
    holdout_from: int = 20_000
    holdout_share: float = 0.1
    max_holdout: int = 10_000


DEFAULT_CONFIG = ModelConfig()


# ---------------------------------------------------------------- text folding and words


class _Folding(dict[int, str]):
    """A ``str.translate`` table mapping each character to exactly one character, filled on first use."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        folded = unicodedata.normalize("NFKC", char).lower()
        if len(folded) != 1:  # e.g. ﬁ → fi would shift every later position
            folded = char
        if folded.isdigit():  # phone numbers, dates, amounts: the digits say nothing about the category
            folded = "0"
        elif folded == _WORD_SEPARATOR:
            folded = " "
        self[code] = folded
        return folded


_FOLDING = _Folding()


def fold(text: str) -> str:
    """Full-width → half-width, lower case, digits → 0; always the same length as ``text``."""
    return text.translate(_FOLDING)


@functools.lru_cache(maxsize=4)
def _jieba_with(user_words: tuple[str, ...]) -> Any:
    """A jieba tokenizer of its own (the global one belongs to everybody) with the user words added."""
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    for word in user_words:
        tokenizer.add_word(word)
    return tokenizer


def _dictionary_words(text: str, prefixes: dict[str, int]) -> list[str]:
    """What jieba's full mode yields, without its single characters (the character block has them).

    ``prefixes`` is jieba's prefix dictionary: every word with its frequency, every proper prefix of a
    word with 0. Walking it directly is 1.6× faster than ``cut(cut_all=True)``, whose per-block regular
    expressions and generators cost more than the lookups; jieba is the slowest step of training.
    """
    words = []
    for start in range(len(text)):
        end = start + 2
        piece = text[start:end]
        if text[start] not in prefixes:
            continue
        while end <= len(text) and piece in prefixes:
            if prefixes[piece]:
                words.append(piece)
            end += 1
            piece = text[start:end]
    return words


class WordSegmenter:
    """The words of jieba's dictionary in a text, with a user dictionary: place names, estates, terms.

    Out of the box jieba does not know 香港中路 or 燃气管道; :meth:`add_words` teaches it. Every dictionary
    word found is yielded (jieba's full mode), so adding a word only adds features. Only the words are
    pickled; the jieba dictionary is loaded again (from jieba's cache) on first use after loading.
    """

    def __init__(self, user_words: Iterable[str] = ()) -> None:
        self._words: tuple[str, ...] = ()
        self._tokenizer: Any = None
        self.add_words(user_words)

    @property
    def user_words(self) -> tuple[str, ...]:
        return self._words

    def add_words(self, words: Iterable[str]) -> None:
        """Add words (folded like the texts) to the dictionary."""
        new = [fold(word.strip()) for word in words if word.strip()]
        merged = tuple(dict.fromkeys((*self._words, *new)))
        if merged != self._words:
            self._words = merged
            self._tokenizer = None

    def cut(self, folded_text: str) -> list[str]:
        """Every dictionary word of two or more characters in an already folded text, in order."""
        if self._tokenizer is None:
            self._tokenizer = _jieba_with(self._words)
        return _dictionary_words(folded_text, self._tokenizer.FREQ)

    def __getstate__(self) -> dict[str, Any]:
        return {"_words": self._words, "_tokenizer": None}


def _workers(n_jobs: int) -> int:
    """``n_jobs`` as a number of workers: -1 (or any negative) means one per core."""
    return max(1, (os.cpu_count() or 1) if n_jobs < 0 else n_jobs)


def _cut_chunk(segmenter: WordSegmenter, texts: Sequence[str]) -> list[str]:
    """The words of each text, joined by ``_WORD_SEPARATOR``."""
    return [_WORD_SEPARATOR.join(segmenter.cut(text)) for text in texts]


class _Cutting:
    """Words of many texts, cut in worker processes while the caller builds the other blocks.

    jieba is pure Python (about 0.7 M characters a second a core), so on large sets it is the slowest
    step; small sets are cut at once in this process, where starting workers would cost more.
    """

    def __init__(self, segmenter: WordSegmenter, texts: Sequence[str], n_jobs: int) -> None:
        workers = _workers(n_jobs)
        self._words: list[str] | None = None
        self._pool: ProcessPoolExecutor | None = None
        if workers <= 1 or len(texts) < _PARALLEL_CUT_FROM:
            self._words = _cut_chunk(segmenter, texts)
            return
        # spawn, not fork: forking a process that runs threads (BLAS, the SVM fits) can deadlock.
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        chunks = [texts[i : i + _CUT_CHUNK] for i in range(0, len(texts), _CUT_CHUNK)]
        self._futures = [self._pool.submit(_cut_chunk, segmenter, chunk) for chunk in chunks]

    def result(self) -> list[str]:
        if self._words is None:
            assert self._pool is not None
            try:
                self._words = [words for future in self._futures for words in future.result()]
            finally:
                self._pool.shutdown(cancel_futures=True)
        return self._words


def _split_words(joined: str) -> list[str]:
    """The analyzer of the word block: the texts arrive already cut (module level, so it pickles)."""
    return joined.split(_WORD_SEPARATOR) if joined else []


def _char_ngrams(text: str, low: int, high: int) -> list[str]:
    """Every character n-gram with low ≤ n ≤ high; unlike sklearn's, runs of spaces are kept as they are,
    so an n-gram's position in the text stays exact."""
    return [text[i : i + n] for n in range(low, high + 1) for i in range(len(text) - n + 1)]


# ---------------------------------------------------------------- features


class _Block:
    """One TF-IDF block: sublinear tf × IDF, each row of unit length, times ``weight``.

    sklearn learns the vocabulary and IDF; transforming is done here, because for a single text sklearn's
    input validation costs more than the counting (most of the 5 ms budget of a prediction).
    """

    def __init__(self, analyzer: Callable[[Any], list[str]], weight: float) -> None:
        self.analyzer = analyzer
        self.weight = weight
        self.vocabulary: dict[str, int] = {}
        self.idf: FloatArray = np.empty(0)

    def fit_transform(self, docs: Sequence[Any], min_df: int) -> sp.csr_matrix:
        vectorizer = TfidfVectorizer(
            analyzer=self.analyzer, min_df=min_df, sublinear_tf=True, dtype=np.float64
        )
        x = vectorizer.fit_transform(docs)
        self.vocabulary = dict(vectorizer.vocabulary_)
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        return sp.csr_matrix(x * self.weight)

    def transform(self, docs: Sequence[Any]) -> sp.csr_matrix:
        indptr, indices, counts = [0], list[int](), list[int]()
        for doc in docs:
            row: dict[int, int] = {}
            for term in self.analyzer(doc):
                j = self.vocabulary.get(term)
                if j is not None:
                    row[j] = row.get(j, 0) + 1
            indices.extend(row)
            counts.extend(row.values())
            indptr.append(len(indices))
        columns = np.array(indices, dtype=np.int32)
        data = (np.log(np.array(counts, dtype=np.float64)) + 1.0) * self.idf[columns]
        lengths = np.diff(indptr)
        rows = np.repeat(np.arange(len(docs)), lengths)
        norms = np.sqrt(np.bincount(rows, weights=data**2, minlength=len(docs)))
        data *= self.weight / np.repeat(np.where(norms > 0, norms, 1.0), lengths)
        return sp.csr_matrix((data, columns, np.array(indptr)), shape=(len(docs), len(self.idf)))

    def names(self) -> npt.NDArray[np.object_]:
        """The term of every column."""
        names = np.empty(len(self.vocabulary), dtype=object)
        names[list(self.vocabulary.values())] = list(self.vocabulary)
        return names


class _Features:
    """Folded texts → one sparse matrix of the three TF-IDF blocks, with a name for every column."""

    def __init__(self, config: ModelConfig, segmenter: WordSegmenter) -> None:
        self.config = config
        self.segmenter = segmenter
        self.names: npt.NDArray[np.object_] = np.empty(0, dtype=object)
        self._chars = _Block(
            functools.partial(_char_ngrams, low=config.char_ngrams[0], high=config.char_ngrams[1]), 1.0
        )
        self._words = _Block(_split_words, 1.0) if config.use_words else None
        self._head = _Block(
            functools.partial(_char_ngrams, low=config.head_ngrams[0], high=config.head_ngrams[1]),
            config.head_weight,
        )

    def fit_transform(self, folded: Sequence[str], n_jobs: int) -> sp.csr_matrix:
        min_df = self.config.min_df if len(folded) >= self.config.min_df_from else 1
        cutting = self._cutting(folded, n_jobs)  # runs in other processes while the char blocks are built
        blocks = [self._chars.fit_transform(self._bodies(folded), min_df)]
        head = self._head.fit_transform(self._heads(folded), min_df)
        if self._words is not None and cutting is not None:
            blocks.append(self._words.fit_transform(cutting.result(), min_df))
        self.names = np.concatenate([block.names() for block in self._blocks()])
        return sp.hstack([*blocks, head], format="csr")

    def transform(self, folded: Sequence[str], n_jobs: int = 1) -> sp.csr_matrix:
        cutting = self._cutting(folded, n_jobs)
        blocks = [self._chars.transform(self._bodies(folded))]
        head = self._head.transform(self._heads(folded))
        if self._words is not None and cutting is not None:
            blocks.append(self._words.transform(cutting.result()))
        return sp.hstack([*blocks, head], format="csr")

    def _blocks(self) -> list[_Block]:
        return [b for b in (self._chars, self._words, self._head) if b is not None]

    def _cutting(self, folded: Sequence[str], n_jobs: int) -> _Cutting | None:
        if self._words is None:
            return None
        return _Cutting(self.segmenter, [text[: self.config.word_chars] for text in folded], n_jobs)

    def _bodies(self, folded: Sequence[str]) -> list[str]:
        return [text[: self.config.max_chars] for text in folded]

    def _heads(self, folded: Sequence[str]) -> list[str]:
        return [text[: self.config.head_chars] for text in folded]


# ---------------------------------------------------------------- linear scores and calibration


@dataclass
class _Linear:
    """One linear model per category: scores = features @ weights + intercept.

    The weights are stored feature-major and contiguous: ``x @ weights`` then reads them in place, where
    ``x @ coef.T`` would copy every weight on every prediction.
    """

    weights: FloatArray
    intercept: FloatArray

    def scores(self, x: sp.csr_matrix) -> FloatArray:
        return np.asarray(x @ self.weights) + self.intercept


def _log_count_ratios(x: sp.csr_matrix, y: IntArray, n_classes: int, alpha: float) -> FloatArray:
    """Per feature and category: log of (the feature's share of the category's TF-IDF mass) / (its share
    of the other texts'), smoothed by ``alpha`` (features × categories, stored by column)."""
    members = sp.csr_matrix((np.ones(len(y)), (y, np.arange(len(y)))), shape=(n_classes, len(y)))
    inside = np.asarray((members @ x).todense(), dtype=np.float64).T
    outside = inside.sum(axis=1, keepdims=True) - inside
    p, q = inside + alpha, outside + alpha
    return np.asfortranarray(np.log(p / p.sum(axis=0)) - np.log(q / q.sum(axis=0)))


def _fit_linear(
    x: sp.csr_matrix, y: IntArray, n_classes: int, config: ModelConfig, seed: int, n_jobs: int
) -> tuple[_Linear, _Linear | None]:
    """One-vs-rest linear SVMs and, with ``config.second_opinion``, one NB-SVM per category, all on
    threads (liblinear releases the GIL): (the SVMs, the NB-SVMs or None).

    An NB-SVM is an SVM on the features scaled by their log-count ratio for its category; the ratio is
    folded into its weights, so it scores the same features as the SVMs. On large sets it trains on a
    random ``second_opinion_max`` of the texts: it only has to disagree usefully, and that keeps
    training within its time budget.
    """
    nb_x, nb_y, ratios = x, y, None
    if config.second_opinion:
        if len(y) > config.second_opinion_max:
            rows = np.sort(
                np.random.default_rng(seed).choice(len(y), config.second_opinion_max, replace=False)
            )
            nb_x, nb_y = x[rows], y[rows]
        ratios = _log_count_ratios(nb_x, nb_y, n_classes, config.nb_alpha)

    def one(task: tuple[int, bool]) -> tuple[FloatArray, float]:
        k, scaled = task
        data, labels = (nb_x, nb_y) if scaled else (x, y)
        target = (labels == k).astype(np.int8)
        if not target.any():
            return np.zeros(x.shape[1]), _ABSENT_MARGIN
        if scaled:
            assert ratios is not None
            data = sp.csr_matrix(
                (data.data * ratios[data.indices, k], data.indices, data.indptr), shape=data.shape
            )
        svm = LinearSVC(C=config.svm_c, tol=config.svm_tol, max_iter=config.svm_max_iter, random_state=seed)
        svm.fit(data, target)
        weights = np.asarray(svm.coef_, dtype=np.float64).ravel()
        if scaled:
            assert ratios is not None
            weights = weights * ratios[:, k]
        return weights, float(svm.intercept_[0])

    tasks = [
        (k, scaled) for scaled in (False, True) if not scaled or ratios is not None for k in range(n_classes)
    ]
    with ThreadPoolExecutor(min(_workers(n_jobs), len(tasks))) as pool:
        fitted = dict(zip(tasks, pool.map(one, tasks), strict=True))

    def linear(scaled: bool) -> _Linear:
        columns = [fitted[(k, scaled)] for k in range(n_classes)]
        weights = np.ascontiguousarray(np.column_stack([w for w, _ in columns]))
        return _Linear(weights, np.array([b for _, b in columns], dtype=np.float64))

    return linear(False), (linear(True) if ratios is not None else None)


def _stratified_folds(y: IntArray, n_folds: int, rng: np.random.Generator) -> IntArray:
    """A fold number per text, each category spread evenly (from a random fold, so small ones vary)."""
    folds = np.empty(len(y), dtype=np.intp)
    for k in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == k))
        folds[members] = (np.arange(len(members)) + rng.integers(n_folds)) % n_folds
    return folds


def _holdout_mask(y: IntArray, config: ModelConfig, rng: np.random.Generator) -> npt.NDArray[np.bool_]:
    """A stratified calibration share of a large training set."""
    share = min(config.holdout_share, config.max_holdout / len(y))
    mask = np.zeros(len(y), dtype=bool)
    for k in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == k))
        mask[members[: round(len(members) * share)]] = True
    return mask


class _Calibrator:
    """Multinomial logistic regression from SVM scores to probabilities over all categories."""

    def __init__(self, scores: FloatArray, y: IntArray, n_classes: int) -> None:
        self.n_classes = n_classes
        self._model = LogisticRegression(C=1.0, max_iter=1_000)
        self._model.fit(scores, y)
        # A category missing from the calibration texts (a single example) keeps probability 0.
        self._columns: IntArray = np.asarray(self._model.classes_, dtype=np.intp)

    def __call__(self, scores: FloatArray) -> FloatArray:
        probabilities = np.zeros((scores.shape[0], self.n_classes))
        probabilities[:, self._columns] = self._model.predict_proba(scores)
        return probabilities


def _agreement(probabilities: FloatArray, scores: FloatArray, second: FloatArray) -> FloatArray:
    """What the confidence model reads, per text: the two largest probabilities (log), and for each of the
    two linear models its top score, the gap to its runner-up and whether its top is the chosen category."""
    chosen = probabilities.argmax(axis=1)
    ordered = np.sort(probabilities, axis=1)
    columns = [np.log(np.maximum(ordered[:, -1], 1e-12)), np.log(ordered[:, -2] + 1e-9)]
    for model_scores in (scores, second):
        ranked = np.sort(model_scores, axis=1)
        agrees = (model_scores.argmax(axis=1) == chosen).astype(np.float64)
        columns += [ranked[:, -1], ranked[:, -1] - ranked[:, -2], agrees]
    return np.column_stack(columns)


class _Confidence:
    """Logistic regression from :func:`_agreement` to the probability that the chosen category is right.

    Fitted on texts the linear models did not train on; the features are standardised on them.
    """

    def __init__(self, agreement: FloatArray, right: npt.NDArray[np.bool_]) -> None:
        self._mean = agreement.mean(axis=0)
        spread = agreement.std(axis=0)
        self._scale = np.where(spread > 0, spread, 1.0)
        self._model = LogisticRegression(C=1.0, max_iter=1_000)
        self._model.fit((agreement - self._mean) / self._scale, right.astype(np.int8))

    @classmethod
    def fit(
        cls, probabilities: FloatArray, scores: FloatArray, second: FloatArray, y: IntArray
    ) -> _Confidence | None:
        """None when the calibration texts are all right (or all wrong): nothing to learn from."""
        right = probabilities.argmax(axis=1) == y
        if right.all() or not right.any():
            return None
        return cls(_agreement(probabilities, scores, second), right)

    def __call__(self, probabilities: FloatArray, scores: FloatArray, second: FloatArray) -> FloatArray:
        agreement = (_agreement(probabilities, scores, second) - self._mean) / self._scale
        return np.asarray(self._model.predict_proba(agreement)[:, 1], dtype=np.float64)


def _with_confidence(row: FloatArray, best: int, confidence: float) -> FloatArray:
    """``row`` with the chosen category's probability replaced by ``confidence`` and the others rescaled
    to the rest, their order kept; raised where needed so the chosen category stays first."""
    rest = 1.0 - float(row[best])
    others = np.delete(row, best)
    runner_up = float(others.max()) if len(others) else 0.0
    if rest <= 1e-12 or runner_up <= 0.0:
        alone = np.zeros_like(row)
        alone[best] = confidence
        return alone
    confidence = max(confidence, runner_up / (rest + runner_up))  # then runner-up × (1 − c) / rest ≤ c
    adjusted: FloatArray = row * ((1.0 - confidence) / rest)
    adjusted[best] = confidence
    return adjusted


# ---------------------------------------------------------------- the classifier


@dataclass
class _Fitted:
    features: _Features
    weights: FloatArray
    intercept: FloatArray
    calibrator: _Calibrator
    # Models saved before the confidence model existed load with these defaults (class attributes):
    # their confidence is the calibrated probability.
    second: _Linear | None = None
    confidence: _Confidence | None = None


@dataclass
class _TrainingSet:
    folded: list[str]
    y: IntArray
    labels: list[str]
    seed: int
    n_jobs: int
    rng: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)


class TextClassifier:
    """Predicts the category of a citizen's report, with a calibrated confidence, top 3 and explanation.

    Train with :meth:`fit`, predict with :meth:`predict` / :meth:`predict_one`, keep with :meth:`save` /
    :meth:`load`. ``labels`` are plain strings (hierarchical ones such as ``城乡建设/安全生产/安全隐患``
    included); ``version`` identifies the training run (UTC time and a hash of the data and settings).
    """

    version: str
    labels: list[str]

    def __init__(self, fitted: _Fitted, labels: list[str], version: str) -> None:
        self._fitted = fitted
        self.labels = labels
        self.version = version

    # ---- training

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        seed: int = 0,
        user_words: Iterable[str] = (),
        config: ModelConfig = DEFAULT_CONFIG,
        n_jobs: int = -1,
    ) -> TextClassifier:
        """Train on ``texts`` and their ``labels``.

        ``user_words`` go into the jieba dictionary (place names…); ``n_jobs`` is the number of threads and
        worker processes for large sets (-1: every core).
        """
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        names = sorted(set(labels))
        if len(names) < 2:
            raise ValueError("at least two different categories are needed to train a classifier")
        index = {name: i for i, name in enumerate(names)}
        y = np.array([index[label] for label in labels], dtype=np.intp)
        folded = [fold(text) for text in texts]
        if not any(text.strip() for text in folded):
            raise ValueError("every training text is empty")
        data = _TrainingSet(folded, y, names, seed, n_jobs)
        segmenter = WordSegmenter(user_words)
        if len(y) >= config.holdout_from:
            fitted = _fit_with_holdout(data, config, segmenter)
        else:
            fitted = _fit_cross(data, config, segmenter)
        return cls(fitted, names, _version(texts, labels, seed, config, segmenter))

    # ---- prediction

    def predict(self, texts: Sequence[str], *, explain: bool = True) -> list[Prediction]:
        """Predictions for ``texts``, in order; ``explain=False`` skips the explanations (faster)."""
        if not texts:
            return []
        folded = [fold(text) for text in texts]
        x = self._fitted.features.transform(folded)
        probabilities, confidences = self._probabilities(x)
        predictions = []
        for i, calibrated in enumerate(probabilities):
            best = int(np.argmax(calibrated))
            row = (
                _with_confidence(calibrated, best, float(confidences[i]))
                if confidences is not None
                else calibrated
            )
            # The chosen category first even where the confidence ties it with the runner-up.
            order = [best, *(k for k in np.argsort(-row, kind="stable") if k != best)][:3]
            top = [(self.labels[k], float(row[k])) for k in order]
            why = self._explain(x[i], best, texts[i], folded[i]) if explain else []
            predictions.append(Prediction(self.labels[best], float(row[best]), top, why))
        return predictions

    def predict_one(self, text: str) -> Prediction:
        """The prediction for one text."""
        return self.predict([text])[0]

    def add_words(self, words: Iterable[str]) -> None:
        """Add words (place names…) to the dictionary. Before :meth:`fit`, pass ``user_words`` instead;
        on a trained model new words only take effect as features after training again."""
        self._fitted.features.segmenter.add_words(words)

    @property
    def user_words(self) -> tuple[str, ...]:
        return self._fitted.features.segmenter.user_words

    def _probabilities(self, x: sp.csr_matrix) -> tuple[FloatArray, FloatArray | None]:
        """Calibrated probabilities of every category and, where the model has one, the confidence
        model's probability that the most probable category is right."""
        fitted = self._fitted
        scores = np.asarray(x @ fitted.weights) + fitted.intercept
        probabilities = fitted.calibrator(scores)
        if fitted.confidence is None or fitted.second is None:
            return probabilities, None
        return probabilities, fitted.confidence(probabilities, scores, fitted.second.scores(x))

    def _explain(self, row: sp.csr_matrix, k: int, text: str, folded: str, limit: int = 5) -> list[str]:
        """The terms of ``row`` with the largest push (tf-idf × weight) toward category ``k``.

        The same string from several blocks (a character bigram that is also a word) counts once with the
        sum of its pushes. Terms are placed at their first occurrence; overlapping ones merge into one
        phrase (不知 + 知情 → 不知情) up to ``_MAX_PHRASE`` characters; single characters and terms with
        punctuation are left out, so the list reads as words and phrases.
        """
        push = row.data * self._fitted.weights[row.indices, k]
        totals: dict[str, float] = {}
        for j in np.argsort(-push)[: limit * 10]:
            if push[j] <= 0:
                break
            term = str(self._fitted.features.names[row.indices[j]])
            totals[term] = totals.get(term, 0.0) + float(push[j])
        spans: list[tuple[int, int]] = []
        for term in sorted(totals, key=totals.__getitem__, reverse=True):
            start = folded.find(term)
            if len(term) < 2 or start < 0 or not all(ch.isalnum() for ch in term):
                continue
            _place(spans, (start, start + len(term)))
            if len(spans) == limit:
                break
        return [text[a:b] for a, b in spans]

    # ---- persistence

    def save(self, path: Path) -> None:
        """Write the model to ``path`` (a pickle: load only files you trust, such as cityhub's own)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as out:
            pickle.dump({"format": _FORMAT, "classifier": self}, out, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(path)

    @classmethod
    def load(cls, path: Path) -> TextClassifier:
        """Read a model written by :meth:`save`; ``ValueError`` if the file is not one."""
        path = Path(path)
        try:
            with path.open("rb") as source:
                payload = pickle.load(source)
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, TypeError) as exc:
            raise ValueError(f"{path} is not a cityhub dispatch model ({exc})") from exc
        if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a cityhub dispatch model")
        classifier = payload["classifier"]
        if not isinstance(classifier, cls):
            raise ValueError(f"{path} is not a cityhub dispatch model")
        return classifier


def _place(spans: list[tuple[int, int]], span: tuple[int, int]) -> None:
    """Add ``span`` to the chosen ones, merged into the first it overlaps if the phrase stays short."""
    a, b = span
    for i, (c, d) in enumerate(spans):
        if a < d and c < b:
            if max(b, d) - min(a, c) <= _MAX_PHRASE:
                spans[i] = (min(a, c), max(b, d))
            return
    spans.append(span)


def _fit_cross(data: _TrainingSet, config: ModelConfig, segmenter: WordSegmenter) -> _Fitted:
    """Small sets: calibrate on cross-fitted scores, then fit the linear models on everything.

    The vocabulary and IDF are fitted once on all texts (unsupervised; measured to change nothing), so
    only the linear models are refitted per fold.
    """
    n_classes = len(data.labels)
    features = _Features(config, segmenter)
    x = _timed("features", features.fit_transform, data.folded, data.n_jobs)
    folds = _stratified_folds(data.y, config.cv_folds, data.rng)
    scores = np.zeros((len(data.y), n_classes))
    second = np.zeros((len(data.y), n_classes))
    for f in range(config.cv_folds):
        train, test = folds != f, folds == f
        if test.any():
            svms, nb_svms = _fit_linear(x[train], data.y[train], n_classes, config, data.seed, data.n_jobs)
            scores[test] = svms.scores(x[test])
            if nb_svms is not None:
                second[test] = nb_svms.scores(x[test])
    svms, nb_svms = _fit_linear(x, data.y, n_classes, config, data.seed, data.n_jobs)
    return _calibrated(features, svms, nb_svms, scores, second, data.y, config, data.seed)


def _fit_with_holdout(data: _TrainingSet, config: ModelConfig, segmenter: WordSegmenter) -> _Fitted:
    """Large sets: fit on ~90 % and calibrate on the held-out rest (one fit per model instead of six)."""
    n_classes = len(data.labels)
    held = _holdout_mask(data.y, config, data.rng)
    train = np.flatnonzero(~held)
    features = _Features(config, segmenter)
    x = _timed("features", features.fit_transform, [data.folded[i] for i in train], data.n_jobs)
    svms, nb_svms = _timed(
        "linear models", _fit_linear, x, data.y[train], n_classes, config, data.seed, data.n_jobs
    )
    x_held = _timed(
        "held-out features", features.transform, [data.folded[i] for i in np.flatnonzero(held)], data.n_jobs
    )
    second = nb_svms.scores(x_held) if nb_svms is not None else np.zeros(0)
    return _calibrated(features, svms, nb_svms, svms.scores(x_held), second, data.y[held], config, data.seed)


def _calibrated(
    features: _Features,
    svms: _Linear,
    nb_svms: _Linear | None,
    scores: FloatArray,
    second: FloatArray,
    y: IntArray,
    config: ModelConfig,
    seed: int,
) -> _Fitted:
    """The fitted model, its calibrator and confidence model fitted on scores of texts the linear models
    did not train on (``scores`` and ``second``, labels ``y``)."""
    calibrator = _Calibrator(scores, y, scores.shape[1])
    confidence = None
    if nb_svms is not None:
        probabilities = calibrator(scores)
        confidence = _Confidence.fit(probabilities, scores, second, y)
        if confidence is not None and not _confidence_helps(probabilities, scores, second, y, config, seed):
            _LOG.debug("confidence model dropped: the calibrated probability auto-dispatches as much")
            confidence = None
    # Without a confidence model the NB-SVMs are not needed to predict: not kept, the model stays small.
    kept = nb_svms if confidence is not None else None
    return _Fitted(features, svms.weights, svms.intercept, calibrator, kept, confidence)


def _confidence_helps(
    probabilities: FloatArray,
    scores: FloatArray,
    second: FloatArray,
    y: IntArray,
    config: ModelConfig,
    seed: int,
) -> bool:
    """Whether the confidence model, cross-fitted on the calibration texts, lets at least
    ``config.confidence_gain`` more of them be auto-dispatched at ``config.target_precision`` than the
    calibrated probability does.

    It helps on some data (teddycup: 72 % → 79 % auto-dispatched) and not on others (COCC, and small
    training sets of either), so each training run decides on its own texts.
    """
    right = probabilities.argmax(axis=1) == y
    folds = _stratified_folds(right.astype(np.intp), config.cv_folds, np.random.default_rng(seed))
    plain = probabilities.max(axis=1)
    crossed = plain.copy()
    for f in range(config.cv_folds):
        train, test = folds != f, folds == f
        model = _Confidence.fit(probabilities[train], scores[train], second[train], y[train])
        if model is not None and test.any():
            crossed[test] = model(probabilities[test], scores[test], second[test])
    target = config.target_precision
    with_model = choose_threshold(crossed.tolist(), right.tolist(), target_precision=target)
    without = choose_threshold(plain.tolist(), right.tolist(), target_precision=target)
    return with_model.auto_rate >= without.auto_rate + config.confidence_gain


def _timed(step: str, function: Callable[..., _T], *args: Any) -> _T:
    """``function(*args)``, logging how long the training step took (DEBUG)."""
    started = time.perf_counter()
    result = function(*args)
    _LOG.debug("%s: %.1f s", step, time.perf_counter() - started)
    return result


def _version(
    texts: Sequence[str], labels: Sequence[str], seed: int, config: ModelConfig, segmenter: WordSegmenter
) -> str:
    """UTC training time and a short hash of what was trained on: the same data gives the same hash."""
    digest = hashlib.sha256(repr((config, seed, segmenter.user_words)).encode())
    for text, label in zip(texts, labels, strict=True):
        digest.update(text.encode("utf-8", "surrogatepass") + b"\x1f" + label.encode() + b"\x1e")
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{digest.hexdigest()[:8]}"


# ---------------------------------------------------------------- evaluation


def evaluate(
    clf: TextClassifier, texts: Sequence[str], labels: Sequence[str], *, target_precision: float = 0.97
) -> dict[str, Any]:
    """Figures of ``clf`` on labelled validation texts (not its training texts).

    ``top1``, ``top3``, ``macro_f1``, ``ece`` (expected calibration error of the confidence, 15 bins),
    and the auto-dispatch threshold chosen on these texts for ``target_precision``: ``threshold`` (None
    when no threshold reaches it), ``auto_dispatch_rate`` and ``auto_dispatch_precision``.
    """
    if len(texts) != len(labels) or not texts:
        raise ValueError("need as many labels as texts, and at least one text")
    predictions = clf.predict(texts, explain=False)
    predicted = [p.label for p in predictions]
    correct = [p.label == label for p, label in zip(predictions, labels, strict=True)]
    confidences = [p.confidence for p in predictions]
    in_top3 = [label in {name for name, _ in p.top} for p, label in zip(predictions, labels, strict=True)]
    choice = choose_threshold(confidences, correct, target_precision=target_precision)
    reached = math.isfinite(choice.threshold)
    return {
        "n": len(texts),
        "top1": float(np.mean(correct)),
        "top3": float(np.mean(in_top3)),
        "macro_f1": float(f1_score(list(labels), predicted, average="macro", zero_division=0)),
        "ece": expected_calibration_error(confidences, correct),
        "target_precision": target_precision,
        "threshold": choice.threshold if reached else None,
        "auto_dispatch_rate": choice.auto_rate,
        "auto_dispatch_precision": choice.precision if reached else None,
    }


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], bins: int = 15
) -> float:
    """Mean |accuracy − confidence| over equal-width confidence bins, weighted by bin size."""
    conf = np.asarray(confidences, dtype=np.float64)
    hits = np.asarray(correct, dtype=np.float64)
    which = np.minimum((conf * bins).astype(np.intp), bins - 1)
    error = 0.0
    for b in np.unique(which):
        members = which == b
        error += members.mean() * abs(hits[members].mean() - conf[members].mean())
    return float(error)
