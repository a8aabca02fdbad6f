"""Duplicates (一事多诉): a new report of a problem that an open event already carries.

For a new event the detector looks at open events of the last few days nearby (within
``Rules.search_radius_m`` of its point, or in its district when it has only an address) and scores
each pair:

    score = text similarity × place agreement × category agreement

- **text similarity**: cosine of character 2–3-gram TF-IDF vectors of title and description (no word
  segmentation needed, robust to the many ways people write the same thing); the IDF comes from the
  hub's own recent reports, so boilerplate (市民来电反映…请尽快处理) weighs little;
- **place agreement**: 1 within 100 m, falling to 0 at 500 m; without a point on both sides, the
  overlap of the two address texts (or 0.6 in the same street, 0.3 in the same district);
- **category agreement**: the same category 1, a sibling 0.8, unknown 0.9, another 0.4.

Pairs at or above ``propose_at`` are proposed to the dispatcher (stored as candidates, shown on the
event); the best one at or above ``merge_at`` that is also close (``merge_within_m``, or the same
address) and not of another category is merged automatically, acting as the system. The thresholds were
chosen by measurement on synthetic near-duplicates of the demo city's texts (``bench/bench_dispatch.py``;
figures in docs/benchmarks.md).
"""

from __future__ import annotations

import itertools
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from cityhub.access import policy
from cityhub.access.principal import SYSTEM, Principal
from cityhub.audit.hooks import acting, bind_principal
from cityhub.events import categories
from cityhub.geo import squares
from cityhub.kit.errors import NotFound
from cityhub.kit.timeutil import clock
from cityhub.models.dispatch import CandidateStatus, DuplicateCandidate
from cityhub.models.event import Event, EventStatus

EARTH_RADIUS_M = 6_371_008.8
# Open events a new report may be merged into. A resolved (办结) event is left out: a new report of a
# problem the department says it fixed is news, not a duplicate.
TARGET_STATUSES = (
    EventStatus.RECEIVED,
    EventStatus.DISPATCHED,
    EventStatus.ACCEPTED,
    EventStatus.IN_PROGRESS,
    EventStatus.RETURNED,
    EventStatus.SUSPENDED,
    EventStatus.REOPENED,
)


@dataclass(frozen=True)
class Rules:
    """Where to look and when to propose or merge (thresholds measured in bench/bench_dispatch.py)."""

    window: timedelta = timedelta(days=3)
    search_radius_m: float = 500.0
    near_m: float = 100.0  # closer than this counts as the same spot
    propose_at: float = 0.45
    merge_at: float = 0.75
    merge_within_m: float = 150.0
    keep: int = 5  # candidates stored per event
    max_scanned: int = 300  # open events compared per new report, newest first


RULES = Rules()


# ---------------------------------------------------------------- text similarity


class TextModel:
    """Character 2–3-gram TF-IDF in a hashed space (no vocabulary to grow); IDF from a reference corpus.

    An n-gram never seen in the corpus counts as rare (the highest IDF), which is right for the new
    place names and numbers that tell two reports apart.

    Each new report is compared with up to ``Rules.max_scanned`` open events around it, and mostly the
    same ones as the report before: their vectors are kept (by text, at most ``CACHED`` of them) for as
    long as this model's IDF holds, so intake vectorises little more than the new report itself.
    """

    N_FEATURES = 2**18
    CACHED = 8192

    def __init__(self, corpus: Sequence[str]) -> None:
        self._hasher = HashingVectorizer(
            analyzer="char", ngram_range=(2, 3), n_features=self.N_FEATURES, alternate_sign=False, norm=None
        )
        counts = self._hasher.transform([clean(t) for t in corpus]) if corpus else None
        n = len(corpus)
        df = np.zeros(self.N_FEATURES) if counts is None else np.asarray((counts > 0).sum(axis=0)).ravel()
        self.idf = np.log((1 + n) / (1 + df)) + 1.0
        self.size = n
        self._rows_cache: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def vectors(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """One L2-normalised row per text (sublinear tf × idf)."""
        return _stack(self._rows(texts), self.N_FEATURES)

    def _rows(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each text's row as (sorted column indices, values), from the cache where it is known."""
        rows: list[tuple[np.ndarray, np.ndarray] | None] = []
        with self._lock:
            for text in texts:
                row = self._rows_cache.get(text)
                if row is not None:
                    self._rows_cache.move_to_end(text)
                rows.append(row)
        missing = sorted({t for t, row in zip(texts, rows, strict=True) if row is None})
        if not missing:
            return [row for row in rows if row is not None]
        computed = dict(zip(missing, self._compute(missing), strict=True))
        with self._lock:
            self._rows_cache.update(computed)
            while len(self._rows_cache) > self.CACHED:
                self._rows_cache.popitem(last=False)
        return [row if row is not None else computed[t] for t, row in zip(texts, rows, strict=True)]

    def _compute(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        counts = self._hasher.transform([clean(t) for t in texts])
        counts.sort_indices()
        # Sublinear term frequency × IDF on the stored values alone: a product with the IDF as a row
        # builds a matrix as wide as the hashed space, several times the cost of the rest on intake.
        weights = (1.0 + np.log(counts.data)) * self.idf[counts.indices]
        out = []
        for start, end in itertools.pairwise(counts.indptr):
            data = weights[start:end]
            norm = float(np.sqrt(data @ data)) or 1.0
            out.append((counts.indices[start:end].copy(), data / norm))
        return out

    def similarities(self, text: str, others: Sequence[str]) -> np.ndarray:
        """Cosine of ``text`` with each of ``others``: the products of the columns they share, summed
        per row (with a few hundred rows this is several times cheaper than a sparse matrix product)."""
        if not others:
            return np.zeros(0)
        (q_indices, q_data), *rows = self._rows([text, *others])
        if len(q_indices) == 0:
            return np.zeros(len(rows))
        lengths = np.fromiter((len(indices) for indices, _ in rows), dtype=np.int64, count=len(rows))
        indices = np.concatenate([indices for indices, _ in rows])
        data = np.concatenate([values for _, values in rows])
        at = np.minimum(np.searchsorted(q_indices, indices), len(q_indices) - 1)
        shared = q_indices[at] == indices
        owner = np.repeat(np.arange(len(rows)), lengths)
        weights = data[shared] * q_data[at[shared]]
        result: np.ndarray = np.bincount(owner[shared], weights=weights, minlength=len(rows))
        return result


def _stack(rows: Sequence[tuple[np.ndarray, np.ndarray]], width: int) -> sparse.csr_matrix:
    if not rows:
        return sparse.csr_matrix((0, width))
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(indices) for indices, _ in rows])
    indices = np.concatenate([indices for indices, _ in rows])
    data = np.concatenate([data for _, data in rows])
    return sparse.csr_matrix((data, indices, indptr), shape=(len(rows), width))


_SPACE = re.compile(r"\s+")


def clean(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def report_text(title: str, description: str | None) -> str:
    return f"{title}。{description or ''}"


class _CorpusCache:
    """The IDF corpus of each database: its latest reports, refreshed as the hub grows or a day passes.

    Whether to refresh is asked of the database at most every ``CHECK_EVERY_S`` seconds, and by the
    highest event id (an index lookup) rather than a count (a scan of the table on SQLite).
    """

    SIZE = 3000
    MAX_AGE = timedelta(hours=24)
    GROWTH = 1.25
    CHECK_EVERY_S = 30.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[str, tuple[datetime, int, TextModel]] = {}
        self._checked: dict[str, float] = {}

    def clear(self) -> None:
        with self._lock:
            self._models.clear()
            self._checked.clear()

    def get(self, session: Session) -> TextModel:
        key = str(session.get_bind().engine.url)
        with self._lock:
            entry = self._models.get(key)
            checked = self._checked.get(key, -math.inf)
        if entry is not None and time.monotonic() - checked < self.CHECK_EVERY_S:
            return entry[2]
        total = int(session.scalar(select(func.max(Event.id))) or 0)
        now = clock.now()
        fresh = entry is not None and now - entry[0] < self.MAX_AGE and total <= entry[1] * self.GROWTH + 10
        if entry is None or not fresh:
            rows = session.execute(
                select(Event.title, Event.description).order_by(Event.id.desc()).limit(self.SIZE)
            ).all()
            entry = (now, total, TextModel([report_text(r.title, r.description) for r in rows]))
        with self._lock:
            self._models[key] = entry
            self._checked[key] = time.monotonic()
        return entry[2]


corpus = _CorpusCache()


# ---------------------------------------------------------------- scoring


@dataclass(frozen=True)
class Report:
    """What the detector knows of a report (built from an event, or from synthetic data in the bench)."""

    id: int
    number: str
    text: str  # title and description
    created_at: datetime
    title: str = ""
    lon: float | None = None
    lat: float | None = None
    category: str | None = None  # the category path
    address: str | None = None
    district_id: int | None = None
    street_id: int | None = None


@dataclass(frozen=True)
class Candidate:
    """An open event the new report may duplicate, with the evidence."""

    event_id: int
    number: str
    score: float
    text_similarity: float
    distance_m: float | None
    hours_apart: float
    same_category: bool | None
    address_overlap: float | None = None
    merge: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "number": self.number,
            "score": round(self.score, 4),
            "text_similarity": round(self.text_similarity, 4),
            "distance_m": None if self.distance_m is None else round(self.distance_m, 1),
            "hours_apart": round(self.hours_apart, 2),
            "same_category": self.same_category,
            "merge": self.merge,
        }


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


_ADDRESS_NOISE = re.compile(r"[\s,，。、()（）]|青岛市|附近|一带|周边")


def address_overlap(a: str | None, b: str | None) -> float | None:
    """How much of the shorter address the longer one contains, by character pairs (None: one is missing).

    Containment rather than Jaccard: one caller writes 幸福路12号, the next 东区第1街道幸福路12号北侧.
    """
    if not a or not b:
        return None
    pa, pb = _pairs(a), _pairs(b)
    if not pa or not pb:
        return None
    return len(pa & pb) / min(len(pa), len(pb))


def _pairs(text: str) -> set[str]:
    cleaned = _ADDRESS_NOISE.sub("", text)
    return {cleaned[i : i + 2] for i in range(len(cleaned) - 1)}


def place_agreement(
    new: Report, old: Report, rules: Rules = RULES
) -> tuple[float, float | None, float | None]:
    """(factor, distance in metres or None, address overlap or None)."""
    if None not in (new.lon, new.lat, old.lon, old.lat):
        assert new.lon is not None and new.lat is not None and old.lon is not None and old.lat is not None
        d = haversine_m(new.lon, new.lat, old.lon, old.lat)
        ramp = (d - rules.near_m) / (rules.search_radius_m - rules.near_m)
        return max(0.0, min(1.0, 1.0 - ramp)), d, None
    overlap = address_overlap(new.address, old.address)
    if new.district_id and old.district_id and new.district_id != old.district_id:
        return 0.0, None, overlap
    if overlap is not None:
        return 0.3 + 0.7 * overlap, None, overlap
    same_street = new.street_id is not None and new.street_id == old.street_id
    return (0.6 if same_street else 0.3), None, None


def category_agreement(a: str | None, b: str | None) -> tuple[float, bool | None]:
    if a is None or b is None:
        return 0.9, None
    if a == b:
        return 1.0, True
    if a.rsplit("/", 1)[0] == b.rsplit("/", 1)[0]:
        return 0.8, False
    return 0.4, False


def score(new: Report, old: Report, similarity: float, rules: Rules = RULES) -> Candidate:
    place, distance, overlap = place_agreement(new, old, rules)
    category, same = category_agreement(new.category, old.category)
    value = similarity * place * category
    close = (distance is not None and distance <= rules.merge_within_m) or (
        distance is None and overlap is not None and overlap >= 0.999
    )
    return Candidate(
        event_id=old.id,
        number=old.number,
        score=value,
        text_similarity=similarity,
        distance_m=distance,
        hours_apart=abs((new.created_at - old.created_at).total_seconds()) / 3600,
        same_category=same,
        address_overlap=overlap,
        merge=value >= rules.merge_at and close and same is not False,
    )


def similarities(model: TextModel, new: Report, others: Sequence[Report]) -> np.ndarray:
    """The mean of the whole texts' and the titles' similarity (the whole text alone without a title).

    Measured on the synthetic set, the mean keeps automatic merges at 99 % precision with a much higher
    recall than the whole text alone: a second caller's description differs, the title names the place
    and the problem. Requiring both keeps a generic title (噪音扰民) from deciding on its own.
    """
    whole = model.similarities(new.text, [o.text for o in others])
    if not new.title:
        return whole
    titles = model.similarities(new.title, [o.title or o.text for o in others])
    mean: np.ndarray = 0.5 * (whole + titles)
    return mean


def rank(
    model: TextModel, new: Report, others: Sequence[Report], rules: Rules = RULES, *, at_least: float = 0.0
) -> list[Candidate]:
    """The pairs scored, best first; only those whose text similarity reaches ``at_least`` (a score is
    never above its text similarity), every pair by default: the bench sweeps the threshold."""
    sims = similarities(model, new, others)
    scored = [
        score(new, other, float(sim), rules)
        for other, sim in zip(others, sims, strict=True)
        if sim >= at_least
    ]
    return sorted(scored, key=lambda c: (-c.score, c.hours_apart))


# ---------------------------------------------------------------- in the hub


# The columns the detector reads of an event: open events around a new report are read as plain rows,
# not as ORM objects (up to ``Rules.max_scanned`` of them on every intake).
# Of the table, not the mapped class, and run on the session's connection: plain rows, without the ORM's
# statement handling (this runs on every intake).
_EVENTS = Event.__table__
_COLUMNS = (
    _EVENTS.c.id,
    _EVENTS.c.number,
    _EVENTS.c.title,
    _EVENTS.c.description,
    _EVENTS.c.created_at,
    _EVENTS.c.lon,
    _EVENTS.c.lat,
    func.coalesce(_EVENTS.c.category_id, _EVENTS.c.suggested_category_id).label("category_id"),
    _EVENTS.c.address,
    _EVENTS.c.district_id,
    _EVENTS.c.street_id,
)


class _EventLike(Protocol):
    id: int
    number: str
    title: str
    description: str
    created_at: datetime
    lon: float | None
    lat: float | None
    address: str | None
    district_id: int | None
    street_id: int | None


class _Nearby(_EventLike, Protocol):
    category_id: int | None  # the event's category, or the suggested one while it has none


def _report(e: _EventLike, category: str | None) -> Report:
    return Report(
        id=e.id,
        number=e.number,
        text=report_text(e.title, e.description),
        created_at=e.created_at,
        title=e.title,
        lon=e.lon,
        lat=e.lat,
        category=category,
        address=e.address,
        district_id=e.district_id,
        street_id=e.street_id,
    )


def _nearby_statement(*, box: bool, by_square: bool = False) -> Select[Any]:
    where = [
        _EVENTS.c.id != bindparam("event_id"),
        _EVENTS.c.status.in_(TARGET_STATUSES),
        _EVENTS.c.created_at >= bindparam("since"),
        _EVENTS.c.created_at <= bindparam("until"),
    ]
    if by_square:  # the index on (square, created_at) finds the box's rows among the city's
        where.append(_EVENTS.c.square.in_(bindparam("squares", expanding=True)))
    if box:
        where += [_EVENTS.c.lat.between(bindparam("lat_min"), bindparam("lat_max"))]
        where += [_EVENTS.c.lon.between(bindparam("lon_min"), bindparam("lon_max"))]
    else:
        where.append(_EVENTS.c.district_id == bindparam("district_id"))
    newest_first = (_EVENTS.c.created_at.desc(), _EVENTS.c.id.desc())
    scan = select(*_COLUMNS).where(*where).order_by(*newest_first).limit(bindparam("scanned"))
    scanned = scan.subquery("scanned")
    statement = select(scanned).order_by(scanned.c.created_at.desc(), scanned.c.id.desc())
    if box:
        # Of the events scanned, only those that may be close enough to be proposed are read: reading
        # (above all the texts) costs more than scanning, and most of the box is beyond reach.
        statement = statement.where(
            scanned.c.lat.between(bindparam("reach_lat_min"), bindparam("reach_lat_max")),
            scanned.c.lon.between(bindparam("reach_lon_min"), bindparam("reach_lon_max")),
        )
    return statement


# Built once: they run on every intake, and building a statement costs more than SQLite takes to run it.
_NEAR_POINT = _nearby_statement(box=True, by_square=True)
_NEAR_POINT_WIDE = _nearby_statement(box=True)  # a search box over more than squares.MAX_SQUARES
_IN_DISTRICT = _nearby_statement(box=False)


def _nearby(session: Session, event: Event, rules: Rules) -> Sequence[_Nearby]:
    """Open events of the window around the event, newest first: in a box around its point, or in its
    district. Around a point, of the newest ``max_scanned`` of the box only those within ``_reach_box``."""
    params: dict[str, Any] = {
        "event_id": event.id if event.id is not None else 0,  # a report at intake is not stored yet
        "since": event.created_at - rules.window,
        "until": event.created_at,
        "scanned": rules.max_scanned,
    }
    if event.lon is not None and event.lat is not None:
        dlat = rules.search_radius_m / 111_320
        dlon = dlat / max(math.cos(math.radians(event.lat)), 0.01)
        params |= {"lat_min": event.lat - dlat, "lat_max": event.lat + dlat}
        params |= {"lon_min": event.lon - dlon, "lon_max": event.lon + dlon}
        params |= _reach_box(event.lon, event.lat, _reach_m(rules))
        around = squares.squares(params["lon_min"], params["lat_min"], params["lon_max"], params["lat_max"])
        statement = _NEAR_POINT_WIDE
        if around is not None:
            params["squares"] = around
            statement = _NEAR_POINT
    elif event.district_id is not None:
        params["district_id"] = event.district_id
        statement = _IN_DISTRICT
    else:
        return []
    rows: Sequence[Any] = session.connection().execute(statement, params).all()
    return rows


def _reach_m(rules: Rules) -> float:
    """How far apart two reports may be and still be proposed: beyond, the place factor (hence the
    score, text and category agreement being at most 1) is below ``propose_at``."""
    if rules.propose_at <= 0:
        return math.inf  # a score of 0 is proposed: every event of the box is in reach
    return rules.near_m + (1.0 - rules.propose_at) * (rules.search_radius_m - rules.near_m)


def _reach_box(lon: float, lat: float, reach_m: float) -> dict[str, float]:
    """A box that holds every point within ``reach_m`` of (lon, lat) on the sphere of ``haversine_m``.

    A great circle is at least as long as its change of latitude, and its change of longitude is at
    most its length over the cosine of the latitude nearest the pole; the margin (1 % and a metre)
    covers the difference between a short arc and a straight line many times over.
    """
    dlat = min(90.0, math.degrees((reach_m * 1.01 + 1.0) / EARTH_RADIUS_M))
    poleward = min(90.0, abs(lat) + dlat)
    dlon = 180.0 if poleward >= 89.0 else dlat / math.cos(math.radians(poleward))
    return {
        "reach_lat_min": lat - dlat,
        "reach_lat_max": lat + dlat,
        "reach_lon_min": lon - dlon,
        "reach_lon_max": lon + dlon,
    }


# Far above the last bits by which numpy's haversine and ``haversine_m`` (or a cosine and 1) may
# differ, far below any difference between scores that matters: nothing within it is left out.
_SLACK = 1e-9


def detect(
    session: Session, event: Event, rules: Rules = RULES, *, category_id: int | None = None
) -> list[Candidate]:
    """The open events this new event may duplicate, best first, at or above ``propose_at``.

    ``category_id`` is the event's category when intake knows it before the event holds it (suggested).
    A score is text similarity × place × category agreement, each at most 1: the events around whose
    place and category alone keep them below ``propose_at`` (most of them) are left out before any
    text is read or compared, which changes no result.
    """
    # Asked first, on every intake: when the IDF is refreshed must not depend on what is found around.
    model = corpus.get(session)
    least = rules.propose_at - _SLACK
    nearby = _nearby(session, event, rules)
    places = _place_factors(event, nearby, rules).tolist()
    close = [(o, place) for o, place in zip(nearby, places, strict=True) if place >= least]
    if not close:
        return []
    taxonomy = categories.taxonomy(session)
    new = _report(event, taxonomy.path(category_id or event.category_id or event.suggested_category_id))
    old = []
    for o, place in close:
        path = taxonomy.path(o.category_id)
        if place * category_agreement(new.category, path)[0] >= least:
            old.append(_report(o, path))
    if not old:
        return []
    ranked = rank(model, new, old, rules, at_least=rules.propose_at)
    return [c for c in ranked if c.score >= rules.propose_at][: rules.keep]


def _place_factors(event: Event, others: Sequence[_EventLike], rules: Rules) -> np.ndarray:
    """``place_agreement``'s factor of each pair with a point on both sides, all at once; 1 for the
    others (theirs comes from the addresses and is at most 1)."""
    if event.lon is None or event.lat is None:
        return np.ones(len(others))
    lons = np.array([o.lon for o in others], dtype=np.float64)  # a missing point is NaN
    lats = np.array([o.lat for o in others], dtype=np.float64)
    distances = _haversines_m(event.lon, event.lat, lons, lats)
    ramp = (distances - rules.near_m) / (rules.search_radius_m - rules.near_m)
    factors: np.ndarray = np.nan_to_num(np.clip(1.0 - ramp, 0.0, 1.0), nan=1.0)
    return factors


def _haversines_m(lon: float, lat: float, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """``haversine_m`` from one point to many."""
    p1, p2 = math.radians(lat), np.radians(lats)
    dp, dl = p2 - p1, np.radians(lons - lon)
    h = np.sin(dp / 2) ** 2 + math.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    distances: np.ndarray = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h)))
    return distances


def record(session: Session, event: Event, candidates: Iterable[Candidate]) -> None:
    """Store the proposals on the event (the dispatcher's candidates list); none: nothing to flush."""
    candidates = list(candidates)
    if not candidates:
        return
    now = clock.now()
    for c in candidates:
        session.add(
            DuplicateCandidate(
                event_id=event.id,
                candidate_id=c.event_id,
                score=c.score,
                text_similarity=c.text_similarity,
                distance_m=c.distance_m,
                hours_apart=c.hours_apart,
                same_category=c.same_category,
                status=CandidateStatus.PROPOSED,
                created_at=now,
            )
        )
    session.flush()


def merge_automatically(session: Session, event: Event, into: Candidate) -> None:
    """Merge through the event service as the system; the audit goes back to whoever was acting."""
    from cityhub.events import service as events  # the event service imports this package

    acting_before = acting(session)
    note = f"一事多诉，系统自动合并 (duplicate merged automatically, score {into.score:.2f})"
    events.merge(session, SYSTEM, event.id, into.event_id, note)
    row = session.scalar(
        select(DuplicateCandidate).where(
            DuplicateCandidate.event_id == event.id, DuplicateCandidate.candidate_id == into.event_id
        )
    )
    if row is not None:
        row.status, row.decided_at, row.decided_by = CandidateStatus.MERGED, clock.now(), SYSTEM.username
    bind_principal(session, acting_before)
    session.flush()


def proposed(suggestion: dict[str, Any] | None) -> list[Candidate]:
    """The candidates a stored suggestion proposes, best first."""
    return [
        Candidate(
            event_id=int(item["event_id"]),
            number=str(item["number"]),
            score=float(item["score"]),
            text_similarity=float(item["text_similarity"]),
            distance_m=item.get("distance_m"),
            hours_apart=float(item["hours_apart"]),
            same_category=item.get("same_category"),
            merge=bool(item.get("merge")),
        )
        for item in (suggestion or {}).get("duplicates", [])
    ]


def best_to_merge(candidates: Sequence[Candidate]) -> list[Candidate]:
    """The candidates with only the best mergeable one keeping its merge flag."""
    chosen = next((c for c in candidates if c.merge), None)
    return [c if c is chosen else replace(c, merge=False) for c in candidates]


# ---------------------------------------------------------------- who is linked to whom


def master_of(session: Session, event: Event) -> Event | None:
    """The event that carries a merged event's problem on (following merges of merges)."""
    return masters(session, [event]).get(event.id)


def masters(session: Session, events: Sequence[Event]) -> dict[int, Event]:
    """Merged event id → the open (or finished) event at the end of its merge chain, in few queries."""
    pending = {e.id: e.merged_into_id for e in events if e.merged_into_id is not None}
    found: dict[int, Event] = {}
    for _hop in range(10):
        if not pending:
            break
        loaded = {e.id: e for e in session.scalars(select(Event).where(Event.id.in_(set(pending.values()))))}
        next_pending: dict[int, int] = {}
        for merged_id, target_id in pending.items():
            target = loaded.get(target_id)
            if target is None:
                continue
            found[merged_id] = target
            if target.merged_into_id is not None and target.merged_into_id != merged_id:
                next_pending[merged_id] = target.merged_into_id
        pending = next_pending
    return found


def linked_reports(session: Session, principal: Principal, master: Event) -> list[Event]:
    """The reports merged into this event (those this principal may read), oldest first."""
    return list(
        session.scalars(
            select(Event)
            .where(Event.merged_into_id == master.id, policy.readable_events(principal))
            .order_by(Event.created_at, Event.id)
        )
    )


def candidates_of(
    session: Session, principal: Principal, event: Event
) -> list[tuple[DuplicateCandidate, Event]]:
    """The open events this one may duplicate, as proposed at intake (those this principal may read)."""
    other = DuplicateCandidate.candidate_id
    rows = session.execute(
        select(DuplicateCandidate, Event)
        .join(Event, Event.id == other)
        .where(DuplicateCandidate.event_id == event.id, policy.readable_events(principal))
        .order_by(DuplicateCandidate.score.desc())
    ).all()
    return [(row[0], row[1]) for row in rows]


def dismiss(session: Session, principal: Principal, event: Event, candidate_id: int) -> DuplicateCandidate:
    """A dispatcher says the two reports are different problems."""
    policy.authorize_event(principal, "dismiss_duplicate", event)
    row = session.scalar(
        select(DuplicateCandidate).where(
            DuplicateCandidate.event_id == event.id, DuplicateCandidate.candidate_id == candidate_id
        )
    )
    if row is None:
        raise NotFound(f"event {event.number} has no duplicate candidate {candidate_id}")
    bind_principal(session, principal)
    row.status, row.decided_at, row.decided_by = CandidateStatus.DISMISSED, clock.now(), principal.username
    session.flush()
    return row
