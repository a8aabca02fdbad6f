"""``GET /metrics``: the hub's metrics in Prometheus's text format, for the city's monitoring.

What the processes count (requests, their durations, the scheduler's jobs: ``cityhub.kit.metrics``) and the
city's state read from the database at scrape time — open events by status and emergencies by grade, near
and overdue deadlines, the review queue, open alerts by warning level, telemetry dead letters waiting — so any
process of a scale-out hub tells the same. Not public: a monitoring system scrapes with an API token of a
``monitor`` user (a role that may read metrics and nothing else) or an administrator's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Response
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4 as CONTENT_TYPE
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityhub.access import policy
from cityhub.access.deps import PrincipalDep, SessionDep, SettingsDep
from cityhub.access.principal import SYSTEM
from cityhub.kit import metrics
from cityhub.kit.timeutil import clock
from cityhub.models.alert import Alert, AlertStatus
from cityhub.models.event import Event, EventGrade, EventStatus
from cityhub.models.telemetry import DeadLetter, DeadLetterStatus
from cityhub.web import service as dashboard

router = APIRouter(tags=["metrics"])
FINAL = [status for status in EventStatus if not status.is_open]


class CityState(Collector):
    """Gauges of the city's state, read with the scrape's own session when collected."""

    def __init__(self, session: Session, tz: ZoneInfo) -> None:
        self._session = session
        self._tz = tz

    def collect(self) -> Iterator[Metric]:
        session = self._session
        # The operations centre's own figures (the dashboard's summary), over the whole city.
        today = dashboard.summary(session, SYSTEM, None, now=clock.now(), tz=self._tz)
        alerts = session.execute(
            select(Alert.level, func.count(Alert.id))
            .where(Alert.status != AlertStatus.CLEARED)
            .group_by(Alert.level)
        ).all()
        graded: dict[EventGrade | None, int] = {
            grade: count
            for grade, count in session.execute(
                select(Event.grade, func.count(Event.id))
                .where(Event.grade.is_not(None), Event.status.not_in(FINAL))
                .group_by(Event.grade)
            )
        }
        dead_letters = session.scalar(
            select(func.count(DeadLetter.id)).where(DeadLetter.status == DeadLetterStatus.PENDING)
        )
        yield _labelled(
            "cityhub_events_open", "Open events, by status", "status", sorted(today.by_status.items())
        )
        yield _labelled(
            "cityhub_events_deadline",
            "Open events whose deadline is near (临期) or past (超期)",
            "state",
            [("near", today.near), ("overdue", today.overdue)],
        )
        yield GaugeMetricFamily(
            "cityhub_events_review_queue",
            "Events waiting for a dispatcher to review the suggestion",
            today.review_queue,
        )
        yield GaugeMetricFamily(
            "cityhub_events_supervised_open", "Open events under supervision (督办)", today.supervised_open
        )
        yield _labelled(
            "cityhub_events_graded_open",
            "Open emergencies, by grade (突发事件分级 I 特别重大 … IV 一般)",
            "grade",
            [(str(grade), graded.get(grade, 0)) for grade in EventGrade],
        )
        yield _labelled(
            "cityhub_events_today",
            "Events received, dispatched, resolved and closed today (local day)",
            "step",
            [
                ("received", today.intake_today),
                ("dispatched", today.dispatched_today),
                ("resolved", today.resolved_today),
                ("closed", today.closed_today),
            ],
        )
        yield _labelled(
            "cityhub_alerts_open",
            "Alerts not cleared, by warning level",
            "level",
            [(str(level), count) for level, count in alerts],
        )
        yield GaugeMetricFamily(
            "cityhub_telemetry_dead_letters_pending",
            "Rejected readings waiting to be replayed",
            int(dead_letters or 0),
        )


def _labelled(name: str, documentation: str, label: str, values: Iterable[tuple[str, int]]) -> Metric:
    gauge = GaugeMetricFamily(name, documentation, labels=[label])
    for key, count in values:
        gauge.add_metric([key], count)
    return gauge


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format 0.0.4"}},
)
def read_metrics(principal: PrincipalDep, session: SessionDep, settings: SettingsDep) -> Response:
    """The hub's metrics for Prometheus (send an API token of a monitor user as a bearer token)."""
    policy.authorize(principal, "metrics.read")
    state = CityState(session, ZoneInfo(settings.timezone))
    return Response(metrics.exposition([state]), media_type=CONTENT_TYPE)
