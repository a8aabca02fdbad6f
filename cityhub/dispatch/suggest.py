"""Dispatch suggestions: what the routing table and the text classifier propose.

A suggester returns a category and departments with a confidence; the event service dispatches at
once above the review threshold and otherwise puts the event in the dispatcher's review queue.
``RoutingSuggester`` routes the reporter's own category; ``ClassifierSuggester`` asks a trained model
for the category of a report that came without one. The hub combines them with duplicate detection
and the gazetteer in ``cityhub.dispatch.service``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.dispatch.routing import find_route
from cityhub.models.category import Category
from cityhub.models.event import Event

# Without a location a department is only known city-wide: such suggestions are capped at this
# confidence, below every review threshold the hub uses, so a person looks at them.
UNLOCATED_CONFIDENCE = 0.5


@dataclass(frozen=True)
class Suggestion:
    category_id: int | None
    lead_department_id: int | None
    co_department_ids: tuple[int, ...] = ()
    confidence: float = 0.0
    model_version: str | None = None
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    explanation: list[str] = field(default_factory=list)
    reason: str = ""
    # Open events this report may duplicate (一事多诉), best first, and how it was located.
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    location: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "category_id": self.category_id,
            "lead_department_id": self.lead_department_id,
            "co_department_ids": list(self.co_department_ids),
            "confidence": round(self.confidence, 4),
            "model_version": self.model_version,
            "alternatives": self.alternatives,
            "explanation": self.explanation,
            "reason": self.reason,
            "duplicates": self.duplicates,
            "location": self.location,
        }


class Suggester(Protocol):
    def suggest(self, session: Session, event: Event) -> Suggestion: ...


def event_area_ids(event: Event) -> list[int]:
    """The event's areas, deepest first (the routing table prefers the most specific)."""
    ids = (event.grid_id, event.community_id, event.street_id, event.district_id)
    return [area_id for area_id in ids if area_id is not None]


class RoutingSuggester:
    """Routes the reporter's own category through the routing table.

    Confidence is 1.0 when both the category and the area are known and a rule matches, lower when
    the rule matched without the area (the department may be right city-wide, not locally), 0 when
    nothing can be said — so a person reviews it.
    """

    def suggest(self, session: Session, event: Event) -> Suggestion:
        if event.category_id is None:
            return Suggestion(None, None, reason="no category: a dispatcher must classify it")
        route = find_route(session, event.category_id, event_area_ids(event))
        if route is None:
            return Suggestion(
                event.category_id, None, reason="no routing rule matches this category and area"
            )
        located = event.district_id is not None
        return Suggestion(
            event.category_id,
            route.lead_department_id,
            route.co_department_ids,
            confidence=1.0 if located else UNLOCATED_CONFIDENCE,
            model_version="routing-table",
            reason=f"routing rule {route.rule_id}" + ("" if located else " (location unknown)"),
        )


class Predicted(Protocol):
    """What the classifier says of one text (``cityhub.dispatch.classifier.Prediction``)."""

    @property
    def label(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def top(self) -> list[tuple[str, float]]: ...
    @property
    def explanation(self) -> list[str]: ...


class Classifier(Protocol):
    def predict_one(self, text: str) -> Predicted: ...


def event_text(title: str, description: str | None) -> str:
    """What the classifier reads of an event: the title (where the gist sits) and the description."""
    return f"{title}\n{description or ''}".strip()


class ClassifierSuggester:
    """Classifies a report that came without a category, then routes the predicted category.

    The suggestion carries the model's calibrated confidence, its top three categories and the words
    that drove the decision; without a location the confidence is capped (the department is only
    known city-wide). A report with the reporter's own category is left to the routing table.
    """

    def __init__(self, model: Classifier, version: str) -> None:
        self.model = model
        self.version = version

    def suggest(self, session: Session, event: Event) -> Suggestion:
        if event.category_id is not None:
            return RoutingSuggester().suggest(session, event)
        prediction = self.model.predict_one(event_text(event.title, event.description))
        by_path = _categories(session, [name for name, _ in prediction.top])
        category = by_path.get(prediction.label)
        alternatives: list[dict[str, Any]] = [
            {"category": name, "category_id": by_path[name].id if name in by_path else None, "confidence": p}
            for name, p in prediction.top
        ]
        base = Suggestion(
            None,
            None,
            model_version=self.version,
            alternatives=alternatives,
            explanation=list(prediction.explanation),
        )
        if category is None:
            return replace(base, reason=f"the model's category {prediction.label!r} is not in the taxonomy")
        located = event.district_id is not None
        confidence = prediction.confidence if located else min(prediction.confidence, UNLOCATED_CONFIDENCE)
        route = find_route(session, category.id, event_area_ids(event))
        found = f"classifier {self.version}: {category.path} ({prediction.confidence:.0%})"
        if route is None:
            return replace(
                base,
                category_id=category.id,
                confidence=confidence,
                reason=f"{found}; no routing rule matches",
            )
        return replace(
            base,
            category_id=category.id,
            lead_department_id=route.lead_department_id,
            co_department_ids=route.co_department_ids,
            confidence=confidence,
            reason=f"{found}, routing rule {route.rule_id}" + ("" if located else " (location unknown)"),
        )


def _categories(session: Session, paths: Sequence[str]) -> dict[str, Category]:
    return {c.path: c for c in session.scalars(select(Category).where(Category.path.in_(paths)))}
