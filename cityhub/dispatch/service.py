"""Dispatch orchestration: the hub's intake policy and the classifier's model registry.

``HubDispatchPolicy`` is what the application (and the demo stream) hand to the event service. For each
new report its suggester, ``HubSuggester``:

1. asks the active classifier for the category when the reporter gave none (``ClassifierSuggester``),
   otherwise routes the reporter's category through the routing table (``RoutingSuggester``);
2. looks for open events the report duplicates (``duplicates.detect``), proposals that ``after_intake``
   stores once the event is stored;
3. notes how the report was located (point, address or both, and any disagreement: ``gazetteer``).

The event service then dispatches at once when the suggestion is sure (its confidence reaches the review
threshold) and otherwise queues it for review; finally ``after_intake`` merges a report marked as a sure
duplicate into its open master, as the system.

The review threshold follows the active model: it is the threshold chosen on validation data for the
target precision when the model was trained (never below ``MIN_THRESHOLD``); without a model it is
``CITYHUB_REVIEW_THRESHOLD``.

The registry (``dispatch_models``) keeps every trained version with its file under the data directory
and its figures. ``retrain`` learns from the hub's own history — the final category of events that were
handled (办结/回访), plus the categories dispatchers set by hand when they corrected a suggestion — and
activates the new version only if it is not worse than the active one on the same held-back events.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.access import policy
from cityhub.access.masking import mask_name, mask_phone
from cityhub.access.principal import Principal
from cityhub.audit.hooks import bind_principal
from cityhub.dispatch import duplicates, gazetteer
from cityhub.dispatch.classifier import TextClassifier
from cityhub.dispatch.schemas import CandidateOut, DuplicatesOut, LinkedEventOut, MasterOut
from cityhub.dispatch.suggest import ClassifierSuggester, RoutingSuggester, Suggester, Suggestion, event_text
from cityhub.dispatch.threshold import apply_threshold, choose_threshold
from cityhub.events import service as events
from cityhub.events.service import DispatchPolicy
from cityhub.geo import service as geo
from cityhub.kit.cache import PerDatabase
from cityhub.kit.errors import NotFound, Unprocessable
from cityhub.kit.settings import Settings
from cityhub.kit.timeutil import clock
from cityhub.models.area import AreaLevel
from cityhub.models.category import Category
from cityhub.models.dispatch import DispatchModel
from cityhub.models.event import Event, EventAction, EventStatus

log = logging.getLogger(__name__)

# A suggestion must be clearly more likely right than wrong to go out without a person, whatever the
# validation data say; this also keeps "routed without a location" (confidence 0.5) in review.
MIN_THRESHOLD = 0.55
MODEL_DIR = Path("models") / "dispatch"
MIN_EXAMPLES = 30
HANDLED = (EventStatus.RESOLVED, EventStatus.CLOSED)
VALIDATION_SHARE = 0.15
TEST_SHARE = 0.15
DEFAULT_TARGET_PRECISION = 0.97


# ---------------------------------------------------------------- loading models


class ModelRow(Protocol):
    """What loading a model needs of its registry row (a ``DispatchModel`` or the kept ``ActiveModel``)."""

    @property
    def version(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def threshold(self) -> float | None: ...


@dataclass(frozen=True)
class ActiveModel:
    version: str
    path: str
    threshold: float | None


class ModelStore:
    """Trained classifiers read from the data directory once, then kept in memory by version."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._lock = threading.Lock()
        self._loaded: dict[str, TextClassifier] = {}

    def path(self, row: ModelRow) -> Path:
        return self.data_dir / row.path

    def load(self, row: ModelRow) -> TextClassifier:
        with self._lock:
            model = self._loaded.get(row.version)
        if model is None:
            model = TextClassifier.load(self.path(row))
            with self._lock:
                self._loaded = {row.version: model}  # one active model at a time
        return model


_ACTIVE = select(DispatchModel).where(DispatchModel.active.is_(True)).limit(1)


def active_model(session: Session) -> DispatchModel | None:
    return session.scalar(_ACTIVE)


def _kept_active(session: Session) -> ActiveModel | None:
    row = active_model(session)
    return None if row is None else ActiveModel(row.version, row.path, row.threshold)


_active_cache = PerDatabase(_kept_active)  # every intake asks


def review_threshold(row: ModelRow) -> float:
    """The confidence at which the model's suggestions go out without a person (1.0: never below certain)."""
    return 1.0 if row.threshold is None else max(row.threshold, MIN_THRESHOLD)


# ---------------------------------------------------------------- the intake policy


class HubDispatchPolicy(DispatchPolicy):
    """The hub's intake: classifier or routing table, duplicates, gazetteer notes (see the module doc)."""

    def __init__(self, settings: Settings, *, find_duplicates: bool = True) -> None:
        super().__init__(review_threshold=settings.review_threshold)
        self.settings = settings
        self.default_threshold = settings.review_threshold
        self.store = ModelStore(settings.data_dir)
        self.find_duplicates = find_duplicates
        self.rules = duplicates.RULES

    def get_suggester(self) -> Suggester:
        return HubSuggester(self)

    def after_intake(self, session: Session, event: Event) -> None:
        # Stored now that the event is: the suggester found them before it was.
        found = duplicates.proposed(event.suggestion)
        duplicates.record(session, event, found)
        into = next((c for c in found if c.merge), None)
        if into is not None:
            duplicates.merge_automatically(session, event, into)

    def without_duplicates(self) -> HubDispatchPolicy:
        """The same policy, minus duplicate detection (for events the hub files itself, e.g. hot spots)."""
        twin = HubDispatchPolicy(self.settings, find_duplicates=False)
        twin.store = self.store
        return twin

    def model(self, session: Session) -> tuple[ActiveModel, TextClassifier] | None:
        """The active model, loaded; the review threshold is set to the one chosen for it."""
        row = _active_cache.get(session)
        if row is None:
            self.review_threshold = self.default_threshold
            return None
        try:
            loaded = self.store.load(row)
        except (OSError, ValueError) as exc:
            log.warning(
                "dispatch model %s cannot be read (%s); using the routing table only", row.version, exc
            )
            self.review_threshold = self.default_threshold
            return None
        self.review_threshold = review_threshold(row)
        return row, loaded


class HubSuggester:
    """One intake's suggestion: category and departments, duplicate candidates, location notes."""

    def __init__(self, hub: HubDispatchPolicy) -> None:
        self.hub = hub

    def suggest(self, session: Session, event: Event) -> Suggestion:
        suggestion = self._categorised(session, event)
        found: list[duplicates.Candidate] = []
        if self.hub.find_duplicates:
            found = duplicates.detect(session, event, self.hub.rules, category_id=suggestion.category_id)
            found = duplicates.best_to_merge(found)  # stored by ``after_intake``, with the event
        master = next((c for c in found if c.merge), None)
        if master is not None:
            # Not dispatched: after intake the report is merged into the event that carries the problem.
            suggestion = replace(
                suggestion,
                lead_department_id=None,
                co_department_ids=(),
                reason=f"一事多诉：与 {master.number} 为同一问题，自动合并 "
                f"(the same problem as {master.number}; merged automatically)",
            )
        return replace(
            suggestion, duplicates=[c.as_dict() for c in found], location=location_of(session, event)
        )

    def _categorised(self, session: Session, event: Event) -> Suggestion:
        loaded = self.hub.model(session)
        if loaded is None:
            return RoutingSuggester().suggest(session, event)
        try:
            return ClassifierSuggester(loaded[1], loaded[0].version).suggest(session, event)
        except Exception:
            # A model file from an incompatible version must not stop intake: the report still comes in.
            log.exception("dispatch model %s failed; suggesting from the routing table", loaded[0].version)
            return RoutingSuggester().suggest(session, event)


def location_of(session: Session, event: Event) -> dict[str, Any]:
    """How the event was located, the places its address names, and any disagreement (for the dispatcher)."""
    point = None
    if event.lon is not None and event.lat is not None:
        levels = (
            (AreaLevel.DISTRICT, event.district_id),
            (AreaLevel.STREET, event.street_id),
            (AreaLevel.COMMUNITY, event.community_id),
            (AreaLevel.GRID, event.grid_id),
        )
        point = geo.Located({level: a for level, a in levels if a is not None}, event.lon, event.lat)
    placed = gazetteer.place(session, point, event.address)
    return {
        "source": placed.source,
        "places": [p.name for p in placed.address.places],
        "notes": list(placed.notes),
    }


# ---------------------------------------------------------------- training data


@dataclass(frozen=True)
class Example:
    event_id: int
    text: str
    label: str  # the category path
    at: datetime
    corrected: bool = False


def training_examples(session: Session) -> list[Example]:
    """Handled events with their final category, and open ones whose category a dispatcher corrected."""
    paths = dict(session.execute(select(Category.id, Category.path)).all())
    corrected = _corrected_by_hand(session)
    rows = session.execute(
        select(
            Event.id, Event.title, Event.description, Event.category_id, Event.created_at, Event.status
        ).where(
            Event.category_id.is_not(None),
            Event.merged_into_id.is_(None),
            Event.status.in_((*HANDLED, *_OPEN)),
        )
    )
    examples = [
        Example(
            r.id, event_text(r.title, r.description), paths[r.category_id], r.created_at, r.id in corrected
        )
        for r in rows
        if r.category_id in paths and (EventStatus(r.status) in HANDLED or r.id in corrected)
    ]
    return sorted(examples, key=lambda e: (e.at, e.event_id))


_OPEN = (
    EventStatus.DISPATCHED,
    EventStatus.ACCEPTED,
    EventStatus.IN_PROGRESS,
    EventStatus.SUSPENDED,
    EventStatus.RETURNED,
    EventStatus.REOPENED,
)


def _corrected_by_hand(session: Session) -> set[int]:
    """Events a person dispatched with a category of their own (``corrected_category`` of the dispatch)."""
    actions = session.execute(
        select(EventAction.event_id, EventAction.data).where(
            EventAction.action == "dispatch", EventAction.actor_id.is_not(None)
        )
    )
    return {event_id for event_id, data in actions if (data or {}).get("corrected_category")}


@dataclass(frozen=True)
class Split:
    train: list[Example]
    validation: list[Example]
    test: list[Example]


def split_by_time(examples: Sequence[Example]) -> Split:
    """Oldest for training, then validation (the threshold), newest held back (the comparison).

    Held-back data are the newest events: the model is judged on what comes after what it learnt from,
    as it will be used.
    """
    n = len(examples)
    n_test = max(1, round(n * TEST_SHARE))
    n_val = max(1, round(n * VALIDATION_SHARE))
    cut = n - n_test - n_val
    return Split(list(examples[:cut]), list(examples[cut : n - n_test]), list(examples[n - n_test :]))


# ---------------------------------------------------------------- the registry


def list_models(session: Session, principal: Principal) -> list[DispatchModel]:
    policy.authorize(principal, "dispatch_models.read")
    return list(session.scalars(select(DispatchModel).order_by(DispatchModel.created_at.desc())))


def get_model(session: Session, version: str) -> DispatchModel:
    row = session.scalar(select(DispatchModel).where(DispatchModel.version == version))
    if row is None:
        raise NotFound(f"no dispatch model {version!r}")
    return row


def activate(session: Session, principal: Principal, version: str) -> DispatchModel:
    """Make this version the live one (e.g. to roll back); its file must still be readable."""
    policy.authorize(principal, "dispatch_models.manage")
    bind_principal(session, principal)
    row = get_model(session, version)
    return _activate(session, row)


def _activate(session: Session, row: DispatchModel) -> DispatchModel:
    for other in session.scalars(select(DispatchModel).where(DispatchModel.active.is_(True))):
        if other.id != row.id:
            other.active = False
    row.active, row.activated_at = True, clock.now()
    session.flush()
    return row


def retrain(
    session: Session,
    principal: Principal,
    data_dir: Path,
    *,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    seed: int = 0,
    n_jobs: int = -1,
) -> DispatchModel:
    """Train a new version on the hub's history; activate it unless it is worse than the active one."""
    policy.authorize(principal, "dispatch_models.manage")
    bind_principal(session, principal)
    examples = training_examples(session)
    if len(examples) < MIN_EXAMPLES:
        raise Unprocessable(
            f"only {len(examples)} handled or corrected events with a category; "
            f"at least {MIN_EXAMPLES} are needed"
        )
    split = split_by_time(examples)
    try:
        model = TextClassifier.fit(
            [e.text for e in split.train],
            [e.label for e in split.train],
            seed=seed,
            user_words=gazetteer.local_words(session),
            n_jobs=n_jobs,
        )
    except ValueError as exc:
        raise Unprocessable(f"cannot train on the hub's history: {exc}") from exc
    figures = _figures(model, split, target_precision)
    active = active_model(session)
    row = _register(session, principal, model, data_dir, figures, target_precision, len(examples))
    row.metrics["corrections"] = sum(e.corrected for e in examples)
    _decide(session, row, active, data_dir, split)
    return row


def _figures(model: TextClassifier, split: Split, target_precision: float) -> dict[str, Any]:
    """Threshold chosen on validation; top-1, top-3 and auto-dispatch on the held-back (test) events."""
    validation = _scored(model, split.validation)
    choice = choose_threshold(
        validation["confidence"], validation["correct"], target_precision=target_precision
    )
    threshold = choice.threshold if math.isfinite(choice.threshold) else None
    test = _scored(model, split.test)
    rate, precision = apply_threshold(test["confidence"], test["correct"], threshold or math.inf)
    return {
        "threshold": threshold,
        "validation": {
            "n": len(split.validation),
            "top1": _mean(validation["correct"]),
            "auto_dispatch_rate": choice.auto_rate,
            "auto_dispatch_precision": None if math.isnan(choice.precision) else choice.precision,
        },
        "test": {
            "n": len(split.test),
            "top1": _mean(test["correct"]),
            "top3": _mean(test["in_top3"]),
            "auto_dispatch_rate": rate,
            "auto_dispatch_precision": None if math.isnan(precision) else precision,
        },
        "train": {"n": len(split.train), "labels": len(model.labels)},
    }


def _scored(model: TextClassifier, examples: Sequence[Example]) -> dict[str, list[Any]]:
    predictions = model.predict([e.text for e in examples], explain=False)
    return {
        "confidence": [p.confidence for p in predictions],
        "correct": [p.label == e.label for p, e in zip(predictions, examples, strict=True)],
        "in_top3": [
            e.label in {name for name, _ in p.top} for p, e in zip(predictions, examples, strict=True)
        ],
    }


def _mean(values: Sequence[bool]) -> float:
    return sum(values) / len(values) if values else 0.0


def _register(
    session: Session,
    principal: Principal,
    model: TextClassifier,
    data_dir: Path,
    figures: dict[str, Any],
    target_precision: float,
    examples: int,
) -> DispatchModel:
    version = _unique_version(session, model.version)
    relative = MODEL_DIR / f"{version}.model"
    model.save(data_dir / relative)
    row = DispatchModel(
        version=version,
        path=relative.as_posix(),
        created_at=clock.now(),
        active=False,
        threshold=figures["threshold"],
        target_precision=target_precision,
        metrics={**figures, "examples": examples},
        trained_by=principal.username,
        note="",
    )
    session.add(row)
    session.flush()
    return row


def _unique_version(session: Session, version: str) -> str:
    taken = set(
        session.scalars(select(DispatchModel.version).where(DispatchModel.version.startswith(version)))
    )
    candidate, n = version, 1
    while candidate in taken:
        n += 1
        candidate = f"{version}-{n}"
    return candidate


def _decide(
    session: Session, row: DispatchModel, active: DispatchModel | None, data_dir: Path, split: Split
) -> None:
    """Activate the new version unless the active one does better on the same held-back events."""
    mine = float(row.metrics["test"]["top1"])
    theirs = _active_top1(active, data_dir, split) if active is not None else None
    if theirs is not None and mine < theirs:
        assert active is not None
        row.note = (
            f"kept {active.version}: top-1 {mine:.3f} < {theirs:.3f} "
            f"on the same {len(split.test)} held-back events"
        )
    else:
        against = "" if theirs is None or active is None else f" (≥ {theirs:.3f} of {active.version})"
        row.note = f"activated: top-1 {mine:.3f} on {len(split.test)} held-back events{against}"
        _activate(session, row)
    row.metrics = {
        **row.metrics,
        "compared_with": None if active is None else active.version,
        "active_top1": theirs,
    }
    session.flush()


def _active_top1(active: DispatchModel, data_dir: Path, split: Split) -> float | None:
    """The active model's top-1 on the held-back events; None if it cannot be read or run any more."""
    try:
        model = TextClassifier.load(data_dir / active.path)
        return _mean(_scored(model, split.test)["correct"])
    except Exception as exc:  # a file from an incompatible version: the new model replaces it
        log.warning("active dispatch model %s is unusable (%r); the new one replaces it", active.version, exc)
        return None


# ---------------------------------------------------------------- 一事多诉 around one event


def duplicates_of(session: Session, principal: Principal, event_id: int) -> DuplicatesOut:
    """The master of a merged report (with its result), the reports merged into an event, its candidates."""
    event = events.get(session, principal, event_id)
    master = duplicates.master_of(session, event)
    merged = event.status is EventStatus.MERGED
    proposed = duplicates.candidates_of(session, principal, event)
    return DuplicatesOut(
        event_id=event.id,
        number=event.number,
        master=_master(master) if master is not None else None,
        linked_reports=[_linked(e) for e in duplicates.linked_reports(session, principal, event)],
        candidates=[
            CandidateOut(
                event=_linked(other),
                score=row.score,
                text_similarity=row.text_similarity,
                distance_m=row.distance_m,
                hours_apart=row.hours_apart,
                same_category=row.same_category,
                status="merged" if merged and event.merged_into_id == other.id else str(row.status),
            )
            for row, other in proposed
        ],
    )


def _master(master: Event) -> MasterOut:
    return MasterOut(
        number=master.number,
        status=str(master.status),
        status_label=master.status.label,
        resolution=master.resolution,
        resolved_at=master.resolved_at,
        closed_at=master.closed_at,
    )


def _linked(event: Event) -> LinkedEventOut:
    """Another report, its reporter masked (who they are is for the event's own page, audited)."""
    reporter: dict[str, Any] | None
    if event.reporter_unknown:
        reporter = {"anonymous": True}
    else:
        reporter = {
            "name": mask_name(event.reporter_name),
            "phone": mask_phone(event.reporter_phone),
            "anonymous": event.anonymous,
        }
    return LinkedEventOut(
        id=event.id,
        number=event.number,
        title=event.title,
        channel=str(event.channel),
        status=str(event.status),
        status_label=event.status.label,
        created_at=event.created_at,
        reporter=reporter,
    )


def dismiss_duplicate(
    session: Session, principal: Principal, event_id: int, candidate_id: int
) -> DuplicatesOut:
    """The dispatcher says: not the same problem. The proposal stays on record as dismissed."""
    event = events.get(session, principal, event_id)
    duplicates.dismiss(session, principal, event, candidate_id)
    return duplicates_of(session, principal, event_id)
