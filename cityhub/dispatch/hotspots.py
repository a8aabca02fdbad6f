"""Hot spots (民生诉求热点): many reports of one kind of problem at one place in a short time.

For a period (the last ``days``) the reports with a point — merged duplicates included, since each is a
person who called — are grouped by category (the suggested one when the reporter gave none) and
clustered with DBSCAN on the sphere (haversine): a hot spot is at least ``min_reports`` reports, each
within ``radius_m`` of another. Clustering per category on space alone was measured against one
clustering over space, time and text together (``bench/bench_dispatch.py``, planted hot spots in a dense
week of background reports): per category on space found more of the planted hot spots whole, with as
few false ones once ``min_reports`` is 5, in a twentieth of the time, and it is the one a reader can
check on a map. Three reports within 300 m are common by chance in a dense district; five are not.

Each hot spot carries its size, the number of distinct events behind it, the same count for the
previous period around the same place (the trend), the districts and streets, a representative text
(the medoid: the report most similar to all the others) and a map point (the members' centre).

A supervisor can turn a hot spot into one supervised event (督办) through the event service, or raise it as an
alert (source ``hotspot``, one open alert per hot spot) so the alert console and the map show it until someone
clears it.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import h3
import numpy as np
from sklearn.cluster import DBSCAN
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.access import policy
from cityhub.access.principal import Principal
from cityhub.alerts import service as alerts
from cityhub.dispatch import duplicates
from cityhub.dispatch.service import HubDispatchPolicy
from cityhub.events import service as events
from cityhub.events.schemas import EventIn, LocationIn
from cityhub.kit.errors import Conflict, NotFound
from cityhub.kit.timeutil import clock
from cityhub.models.alert import OPEN_STATUSES, Alert, AlertSource
from cityhub.models.area import Area, AreaLevel
from cityhub.models.category import Category
from cityhub.models.dispatch import HotspotEscalation
from cityhub.models.event import Channel, Event, EventStatus, Urgency
from cityhub.models.indicator import WarningLevel

KEY_RESOLUTION = 8  # H3 cells of about 0.7 km²: the key stays put while a hot spot grows


@dataclass(frozen=True)
class Params:
    """What counts as a hot spot (measured in bench/bench_dispatch.py)."""

    radius_m: float = 300.0
    min_reports: int = 5
    limit: int = 50


PARAMS = Params()


@dataclass(frozen=True)
class Point:
    """One report as the clustering sees it."""

    id: int
    lon: float
    lat: float
    at: datetime
    group: str  # reports are clustered within their group (the category)
    text: str = ""


def clusters(points: Sequence[Point], params: Params = PARAMS) -> list[list[Point]]:
    """DBSCAN per group on the sphere; each cluster's members, in input order."""
    by_group: dict[str, list[Point]] = defaultdict(list)
    for point in points:
        by_group[point.group].append(point)
    found: list[list[Point]] = []
    for members in by_group.values():
        if len(members) < params.min_reports:
            continue
        coordinates = np.radians([[p.lat, p.lon] for p in members])
        labels = DBSCAN(
            eps=params.radius_m / duplicates.EARTH_RADIUS_M,
            min_samples=params.min_reports,
            metric="haversine",
            algorithm="ball_tree",
        ).fit_predict(coordinates)
        for label in sorted(set(labels) - {-1}):
            found.append([p for p, lab in zip(members, labels, strict=True) if lab == label])
    return found


def centre(members: Sequence[Point]) -> tuple[float, float]:
    return float(np.mean([p.lon for p in members])), float(np.mean([p.lat for p in members]))


def medoid(members: Sequence[Point]) -> Point:
    """The member whose text is most similar to all the others' (char n-gram TF-IDF)."""
    if len(members) <= 2:
        return members[0]
    model = duplicates.TextModel([p.text for p in members])
    vectors = model.vectors([p.text for p in members])
    similarity = np.asarray((vectors @ vectors.T).toarray())
    return members[int(np.argmax(similarity.sum(axis=1)))]


# ---------------------------------------------------------------- in the hub


@dataclass(frozen=True)
class Hotspot:
    """One hot spot as the list shows it (``report_ids``: every report in it, merged ones included)."""

    key: str
    category_id: int
    category: str
    size: int
    events: int
    previous: int
    trend: str
    lon: float
    lat: float
    radius_m: float
    districts: list[str]
    streets: list[str]
    representative: dict[str, Any]
    first_at: datetime
    last_at: datetime
    report_ids: list[int]
    escalated_event: dict[str, Any] | None = None
    open_events: list[str] = field(default_factory=list)
    alert: dict[str, Any] | None = None  # the open alert raised for it, if any


def trend(size: int, previous: int) -> str:
    if previous == 0:
        return "new"
    if size >= previous * 1.25:
        return "rising"
    if size <= previous * 0.8:
        return "falling"
    return "steady"


def find(
    session: Session,
    principal: Principal,
    *,
    days: int = 7,
    now: datetime | None = None,
    params: Params = PARAMS,
) -> list[Hotspot]:
    """The hot spots of the last ``days`` among the reports this principal may read, biggest first."""
    policy.authorize(principal, "hotspots.read")
    end = now or clock.now()
    start = end - timedelta(days=days)
    rows = _reports(session, principal, start - timedelta(days=days), end)
    current = [r for r in rows if r.created_at >= start]
    previous = [r for r in rows if r.created_at < start]
    paths = dict(session.execute(select(Category.id, Category.path)).all())
    points = [_point(r, paths) for r in current if _category(r) in paths]
    by_id = {r.id: r for r in current}
    spots = [
        _describe(session, members, by_id, previous, paths, params) for members in clusters(points, params)
    ]
    spots.sort(key=lambda h: (-h.size, -(h.size - h.previous), -h.last_at.timestamp()))
    return _with_escalations(session, spots[: params.limit], start)


def _reports(session: Session, principal: Principal, since: datetime, until: datetime) -> list[Event]:
    return list(
        session.scalars(
            select(Event).where(
                Event.created_at >= since,
                Event.created_at <= until,
                Event.lon.is_not(None),
                Event.lat.is_not(None),
                Event.status != EventStatus.CANCELLED,
                policy.readable_events(principal),
            )
        )
    )


def _category(event: Event) -> int:
    return event.category_id or event.suggested_category_id or 0


def _point(event: Event, paths: dict[int, str]) -> Point:
    assert event.lon is not None and event.lat is not None
    return Point(
        event.id,
        event.lon,
        event.lat,
        event.created_at,
        paths[_category(event)],
        duplicates.report_text(event.title, event.description),
    )


def _describe(
    session: Session,
    members: list[Point],
    by_id: dict[int, Event],
    previous: Sequence[Event],
    paths: dict[int, str],
    params: Params,
) -> Hotspot:
    lon, lat = centre(members)
    radius = max(duplicates.haversine_m(lon, lat, p.lon, p.lat) for p in members)
    reports = [by_id[p.id] for p in members]
    category_id = _category(reports[0])
    reach = radius + params.radius_m
    before = sum(
        1
        for e in previous
        if _category(e) == category_id
        and e.lon is not None
        and e.lat is not None
        and duplicates.haversine_m(lon, lat, e.lon, e.lat) <= reach
    )
    masters = {e.merged_into_id or e.id for e in reports}
    # The representative is an event a reader can act on: a duplicate merged into another is not one.
    standing = [p for p in members if by_id[p.id].merged_into_id is None]
    best = by_id[medoid(standing or members).id]
    code = session.scalar(select(Category.code).where(Category.id == category_id)) or str(category_id)
    return Hotspot(
        key=f"{code}@{h3.latlng_to_cell(lat, lon, KEY_RESOLUTION)}",
        category_id=category_id,
        category=paths[category_id],
        size=len(members),
        events=len(masters),
        previous=before,
        trend=trend(len(members), before),
        lon=round(lon, 6),
        lat=round(lat, 6),
        radius_m=round(radius, 1),
        districts=_names(session, [e.district_id for e in reports]),
        streets=_names(session, [e.street_id for e in reports]),
        representative={
            "event_id": best.id,
            "number": best.number,
            "title": best.title,
            "description": best.description,
        },
        first_at=min(e.created_at for e in reports),
        last_at=max(e.created_at for e in reports),
        report_ids=sorted(e.id for e in reports),
        open_events=sorted({e.number for e in reports if e.status.is_open and e.merged_into_id is None}),
    )


def _names(session: Session, area_ids: Sequence[int | None]) -> list[str]:
    """Area names, most frequent first."""
    counts = Counter(a for a in area_ids if a is not None)
    if not counts:
        return []
    names = dict(session.execute(select(Area.id, Area.name).where(Area.id.in_(counts))).all())
    return [names[a] for a, _ in counts.most_common() if a in names]


def _with_escalations(session: Session, spots: list[Hotspot], since: datetime) -> list[Hotspot]:
    keys = [h.key for h in spots]
    if not keys:
        return spots
    done = {
        row.key: row
        for row in session.scalars(
            select(HotspotEscalation)
            .where(HotspotEscalation.key.in_(keys), HotspotEscalation.created_at >= since)
            .order_by(HotspotEscalation.id)
        )
    }
    numbers = dict(
        session.execute(
            select(Event.id, Event.number).where(Event.id.in_([r.event_id for r in done.values()]))
        ).all()
    )
    alerts = {
        alert.source.removeprefix(ALERT_SOURCE_PREFIX): {"id": alert.id, "level": alert.level.value}
        for alert in session.scalars(
            select(Alert).where(
                Alert.source.in_([ALERT_SOURCE_PREFIX + k for k in keys]),
                Alert.type == ALERT_TYPE,
                Alert.status.in_(OPEN_STATUSES),
            )
        )
    }
    return [
        replace(
            h
            if h.key not in done
            else _escalated(h, done[h.key].event_id, numbers.get(done[h.key].event_id, "?")),
            alert=alerts.get(h.key),
        )
        for h in spots
    ]


def _escalated(spot: Hotspot, event_id: int, number: str) -> Hotspot:
    return replace(spot, escalated_event={"id": event_id, "number": number})


# ---------------------------------------------------------------- turning one into a supervised event


def escalate(
    session: Session,
    principal: Principal,
    dispatch_policy: events.DispatchPolicy,
    key: str,
    *,
    days: int = 7,
    note: str | None = None,
) -> Event:
    """File the hot spot as one event, supervised (督办), so one department answers for the place."""
    policy.authorize(principal, "hotspots.escalate")
    spot = _one(session, principal, key, days)
    if spot.escalated_event is not None:
        number = spot.escalated_event["number"]
        raise Conflict(f"hot spot {key} is already supervised as event {number}")
    if isinstance(dispatch_policy, HubDispatchPolicy):
        # The new event is about the same place and problem as its reports: it must not be merged into them.
        dispatch_policy = dispatch_policy.without_duplicates()
    event = events.create(session, principal, _event_in(spot, days), dispatch_policy)
    instruction = note or f"热点问题：{days}天内{spot.size}件相关诉求，请统筹处置并反馈。"
    events.supervise(session, principal, event.id, instruction)
    session.add(
        HotspotEscalation(
            key=spot.key,
            event_id=event.id,
            report_ids=spot.report_ids,
            created_at=clock.now(),
            created_by=principal.username,
        )
    )
    session.flush()
    return event


def _event_in(spot: Hotspot, days: int) -> EventIn:
    title = f"热点督办：{_headline(spot, days)}"
    representative = spot.representative
    lines = [
        f"{days}天内{spot.size}件相关诉求（涉及{spot.events}件工单，上一周期{spot.previous}件），"
        f"集中在半径约{math.ceil(spot.radius_m)}米范围内。",
        f"代表性诉求 {representative['number']}：{representative['title']}。{representative['description']}",
        "未办结工单：" + "、".join(spot.open_events[:50]),
    ]
    return EventIn(
        title=title[:200],
        description="\n".join(lines)[:5000],
        channel=Channel.OTHER,
        category=spot.category,
        urgency=Urgency.URGENT,
        location=LocationIn(lon=spot.lon, lat=spot.lat),
    )


def _headline(spot: Hotspot, days: int) -> str:
    place = "".join(spot.districts[:1] + spot.streets[:1])
    name = spot.category.rsplit("/", 1)[-1]
    return f"{place}{name}（{days}天{spot.size}件）"


# ---------------------------------------------------------------- raising one as an alert

ALERT_TYPE = "dispatch.hotspot"
ALERT_SOURCE_PREFIX = "hotspot:"
ALERT_EVIDENCE = 20  # reports named in the alert's evidence


def raise_alert(
    session: Session,
    principal: Principal,
    key: str,
    *,
    days: int = 7,
    level: WarningLevel = WarningLevel.YELLOW,
    note: str | None = None,
) -> Alert:
    """Raise the hot spot as an alert at ``level`` (one open alert per hot spot; a person clears it)."""
    policy.authorize(principal, "hotspots.escalate")
    spot = _one(session, principal, key, days)
    if spot.alert is not None:
        raise Conflict(f"hot spot {key} already has open alert {spot.alert['id']}")
    where = Event.id.in_(spot.report_ids)
    placed = session.execute(select(Event.district_id, Event.street_id).where(where)).all()
    areas = {
        AreaLevel.DISTRICT: _most_common([r.district_id for r in placed]),
        AreaLevel.STREET: _most_common([r.street_id for r in placed]),
    }
    reports = session.execute(
        select(Event.number, Event.title, Event.created_at)
        .where(Event.id.in_(spot.report_ids))
        .order_by(Event.created_at.desc())
        .limit(ALERT_EVIDENCE)
    ).all()
    raised = alerts.raise_alert(
        session,
        alerts.Trigger(
            source_kind=AlertSource.HOTSPOT,
            source=ALERT_SOURCE_PREFIX + spot.key,
            type=ALERT_TYPE,
            title=f"民生诉求热点：{_headline(spot, days)}",
            level=level,
            value=float(spot.size),
            evidence=[{"event": r.number, "title": r.title, "at": r.created_at.isoformat()} for r in reports],
            areas={lvl: area for lvl, area in areas.items() if area is not None},
            auto_clear=False,
            details={
                "hotspot": spot.key,
                "category": spot.category,
                "size": spot.size,
                "events": spot.events,
                "previous": spot.previous,
                "trend": spot.trend,
                "days": days,
                "center": [spot.lon, spot.lat],
                "radius_m": spot.radius_m,
                "raised_by": principal.username,
                "note": note,
            },
        ),
    )
    return raised.alert


def _one(session: Session, principal: Principal, key: str, days: int) -> Hotspot:
    spot = next((h for h in find(session, principal, days=days) if h.key == key), None)
    if spot is None:
        raise NotFound(f"no hot spot {key!r} in the last {days} days (the list may have changed)")
    return spot


def _most_common(ids: Sequence[int | None]) -> int | None:
    counts = Counter(i for i in ids if i is not None)
    return counts.most_common(1)[0][0] if counts else None
