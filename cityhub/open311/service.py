"""Open311 GeoReport v2 over the event service: services from the category taxonomy, requests from events.

Decisions (what a citizen-facing app can rely on):

- **Services** are the leaves of the category taxonomy: ``service_code`` is the category code, ``group``
  the level-1 name, ``description`` the full path. No service has extra attributes (``metadata`` false).
- **Which requests are public:** every event, from every channel, except cancelled ones (撤销: a
  dispatcher withdrew it as a prank, a test or a report made in error, so it is not the city's business
  to publish). Merged events stay visible, name the request they were merged into and share its status
  and result (一事多诉: every caller hears how their problem ended), so a citizen following one finds
  the other.
- **Status:** Open311 knows only ``open`` and ``closed``; ``closed`` means the city considers the request
  dealt with. See :func:`open311_status`.
- **Reporter identity never leaves the hub here:** responses carry no reporter name, phone, user or
  account. ``email`` is accepted and dropped (the hub keeps no e-mail addresses); ``device_id`` and
  ``account_id`` are accepted and not stored either.
- **Times** filter on ``requested_datetime`` (the event's creation). Without dates the last 90 days are
  searched; a longer range is allowed; at most 1000 requests are returned, newest first.
- **Locations** are WGS-84 (``lat``/``long``). ``address_id`` is the code of an area of this city
  (district, street, community or grid): the hub has no address repository yet, and its area codes are
  the closest thing to one. Responses give as ``address_id`` the code of the smallest area holding the
  request.
"""

from __future__ import annotations

import math
import mimetypes
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import ColumnElement, Select, and_, exists, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from cityhub.access import policy
from cityhub.access.principal import Principal
from cityhub.access.tokens import API_TOKEN_PREFIX, user_for_api_token
from cityhub.dispatch import duplicates
from cityhub.events import service as events
from cityhub.events.categories import SEPARATOR
from cityhub.events.schemas import PHONE_PATTERN, AttachmentIn, EventIn, LocationIn, ReporterIn
from cityhub.geo import service as geo
from cityhub.geo.crs import CRS
from cityhub.kit.errors import BadRequest, Forbidden, NotFound, Unauthorized
from cityhub.kit.text import has_control
from cityhub.kit.timeutil import EARLIEST, LATEST, clock, local_to_utc
from cityhub.models.area import Area, AreaLevel
from cityhub.models.category import Category
from cityhub.models.event import Attachment, Channel, Event, EventStatus
from cityhub.models.org import Department
from cityhub.open311.render import CreatedOut, RequestOut, ServiceDefinitionOut, ServiceOut, TokenOut
from cityhub.org.service import principal_for

CLOSED_STATUSES = frozenset(
    {EventStatus.RESOLVED, EventStatus.CLOSED, EventStatus.MERGED, EventStatus.CANCELLED}
)
HIDDEN_STATUSES = frozenset({EventStatus.CANCELLED})
MAX_RESULTS = 1000
MAX_CODES = 200
DEFAULT_WINDOW = timedelta(days=90)
MAX_DESCRIPTION = 4000  # the spec's limit
MAX_ADDRESS = 300  # Event.address
MAX_NAME = 50
MAX_URL = 500  # Attachment.url

_PLUS_AS_SPACE = re.compile(r" (\d{2}:?\d{2})$")
_DATE_ONLY = re.compile(r"\d{4}-?\d{2}-?\d{2}")


class RequestForm(BaseModel):
    """The form fields of ``POST requests`` (application/x-www-form-urlencoded), named as in the spec.

    Every field is optional text here so that a bad value is answered in the spec's error format by
    :func:`submit`, not by the framework's validation.
    """

    model_config = ConfigDict(extra="ignore")

    api_key: str | None = Field(None, description="an API token of this hub (chk_…); its user files it")
    jurisdiction_id: str | None = Field(None, description="the city's area code, e.g. 370200 (optional)")
    service_code: str | None = Field(None, description="required: a service_code from GET services")
    lat: str | None = Field(None, description="WGS-84 latitude; with long, or give address_string/address_id")
    long: str | None = Field(None, description="WGS-84 longitude")
    address_string: str | None = Field(None, description="free-text address (at most 300 characters)")
    address_id: str | None = Field(None, description="code of an area of this city (street, community, grid)")
    description: str | None = Field(None, description="what is wrong (at most 4000 characters)")
    first_name: str | None = Field(None, description="kept for call-backs, never published")
    last_name: str | None = Field(None, description="kept for call-backs, never published")
    phone: str | None = Field(None, description="kept for call-backs, never published")
    email: str | None = Field(None, description="accepted and dropped: the hub keeps no e-mail addresses")
    media_url: str | None = Field(None, description="http(s) URL of a photo")
    device_id: str | None = Field(None, description="accepted, not stored")
    account_id: str | None = Field(None, description="accepted, not stored")


class RequestQuery(BaseModel):
    """The query of ``GET requests``; every filter is optional."""

    service_request_id: str | None = Field(None, description="ids, comma-separated; overrides the rest")
    service_code: str | None = Field(None, description="service codes, comma-separated")
    start_date: str | None = Field(
        None, description="earliest requested_datetime (W3C: 2026-11-01T00:00:00Z)"
    )
    end_date: str | None = Field(None, description="latest requested_datetime, W3C")
    status: str | None = Field(None, description="open, closed or both, comma-separated")
    jurisdiction_id: str | None = Field(None, description="the city's area code, e.g. 370200 (optional)")


# ---------------------------------------------------------------- the rules


def open311_status(status: EventStatus) -> str:
    """``closed`` once the city considers the request dealt with, else ``open``.

    RESOLVED (办结) counts as closed although the hub still waits for the citizen's rating: the
    department has finished the work, which is what "closed" tells a citizen; a rating closes it for
    good and a reopen (重开) makes it open again. CLOSED (rated) and CANCELLED (withdrawn; hidden
    anyway) are closed. Every other status — received, dispatched, signed for, in progress, returned,
    suspended, reopened — is work still to do: open. A MERGED request shows the status of the request it
    was merged into (see :func:`_request`); MERGED itself counts as closed only at the end of a chain.
    """
    return "closed" if status in CLOSED_STATUSES else "open"


def public() -> ColumnElement[bool]:
    """The one rule of what the public may see through Open311: every event except cancelled ones."""
    return Event.status.not_in(HIDDEN_STATUSES)


def check_jurisdiction(session: Session, jurisdiction_id: str | None) -> None:
    """Accept no jurisdiction, or the code of the city this hub serves (404 otherwise, as the spec says)."""
    wanted = (jurisdiction_id or "").strip()
    if not wanted:
        return
    codes = list(session.scalars(select(Area.code).where(Area.level == AreaLevel.CITY).order_by(Area.code)))
    if wanted not in codes:
        served = ", ".join(codes) or "none yet"
        raise NotFound(f"unknown jurisdiction_id {wanted!r}; this hub serves: {served}")


# ---------------------------------------------------------------- services


def list_services(session: Session) -> list[ServiceOut]:
    """One service per leaf of the category taxonomy, by code."""
    categories = list(session.scalars(select(Category).order_by(Category.code)))
    parents = {c.parent_id for c in categories}
    return [_service(c) for c in categories if c.id not in parents]


def service_definition(session: Session, service_code: str) -> ServiceDefinitionOut:
    category = _find_service(session, service_code)
    if category is None:
        raise NotFound(f"no service {service_code!r}; GET services lists the codes")
    return ServiceDefinitionOut(service_code=category.code, attributes=[])


def _service(category: Category) -> ServiceOut:
    names = category.path.split(SEPARATOR)
    return ServiceOut(
        service_code=category.code,
        service_name=category.name,
        description=category.path,
        keywords=", ".join(names),
        group=names[0],
    )


def _find_service(session: Session, service_code: str) -> Category | None:
    """The leaf category with this code; None for an unknown code or a group (a category with children)."""
    code = service_code.strip()
    if has_control(code):
        return None
    category = session.scalar(select(Category).where(Category.code == code))
    if category is None:
        return None
    has_children = session.scalar(select(Category.id).where(Category.parent_id == category.id).limit(1))
    return None if has_children is not None else category


# ---------------------------------------------------------------- POST requests


def submit(session: Session, dispatch_policy: events.DispatchPolicy, form: RequestForm) -> CreatedOut:
    """File a request as an event of channel open311 on behalf of the API token's user."""
    principal = _authenticate(session, form.api_key)
    check_jurisdiction(session, form.jurisdiction_id)
    code = _text(form.service_code, "service_code", 40)
    if code is None:
        raise BadRequest("service_code is required: one of the codes that GET services lists")
    category = _find_service(session, code)
    if category is None:
        raise BadRequest(f"unknown service_code {code!r}: use one of the codes that GET services lists")
    event = events.create(session, principal, _event_in(session, category, form), dispatch_policy)
    notice = (
        f"{EventStatus(event.status).label}，编号 {event.number}；凭编号可查询办理进度 "
        f"(filed as {event.number}; follow it at requests/{event.number})"
    )
    return CreatedOut(service_request_id=event.number, token=event.number, service_notice=notice)


def _authenticate(session: Session, api_key: str | None) -> Principal:
    """The principal behind the API key; every failure is 403, as the spec has it."""
    key = (api_key or "").strip()
    if not key:
        raise Forbidden("api_key is required: send your application's API token (chk_…) as the api_key field")
    if not key.startswith(API_TOKEN_PREFIX):
        raise Forbidden("api_key is not valid: it must be an API token of this hub (chk_…)")
    try:
        user = user_for_api_token(session, key)
    except Unauthorized as exc:
        raise Forbidden(f"api_key is not valid: {exc.message}") from exc
    principal = principal_for(session, user)
    policy.authorize(principal, "events.create")
    return principal


def _event_in(session: Session, category: Category, form: RequestForm) -> EventIn:
    description = _text(form.description, "description", MAX_DESCRIPTION)
    location = _location(form.lat, form.long)
    address = _address(session, form)
    if location is None and address is None:
        raise BadRequest("a location is required: lat and long (WGS-84), address_string or address_id")
    try:
        return EventIn(
            title=_title(category, description),
            description=description or "",
            channel=Channel.OPEN311,
            category=category.code,
            location=location,
            address=address,
            reporter=_reporter(form),
            attachments=_media(form.media_url),
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
        raise BadRequest(f"the request is not valid: {problems}") from exc


def _text(value: str | None, field: str, max_length: int) -> str | None:
    """Stripped text, None when empty; 400 for control characters or too long a value."""
    text = (value or "").strip()
    if not text:
        return None
    if has_control(text):
        raise BadRequest(f"{field} contains control characters")
    if len(text) > max_length:
        raise BadRequest(f"{field} is too long: at most {max_length} characters")
    return text


def _location(lat: str | None, lon: str | None) -> LocationIn | None:
    lat_text, lon_text = _text(lat, "lat", 40), _text(lon, "long", 40)
    if lat_text is None and lon_text is None:
        return None
    if lat_text is None or lon_text is None:
        raise BadRequest("give both lat and long (WGS-84 decimal degrees), or neither")
    try:
        y, x = float(lat_text), float(lon_text)
    except ValueError as exc:
        raise BadRequest(f"lat and long must be decimal degrees, got {lat_text!r} and {lon_text!r}") from exc
    if not (math.isfinite(x) and math.isfinite(y) and -90 <= y <= 90 and -180 <= x <= 180):
        raise BadRequest("lat must lie within -90…90 and long within -180…180 (WGS-84 decimal degrees)")
    return LocationIn(lon=x, lat=y, crs=CRS.WGS84)


def _address(session: Session, form: RequestForm) -> str | None:
    """The address text; an ``address_id`` (area code) puts the area's names in front so it is located."""
    text = _text(form.address_string, "address_string", MAX_ADDRESS)
    code = _text(form.address_id, "address_id", 40)
    if code is None:
        return text
    area = session.scalar(select(Area).where(Area.code == code))
    if area is None:
        raise BadRequest(f"unknown address_id {code!r}: give the code of an area of this city, or lat/long")
    chain = [a for a in reversed(geo.ancestors(session, area)) if a.level != AreaLevel.CITY] or [area]
    combined = " ".join([a.name for a in chain] + ([text] if text else []))
    if len(combined) > MAX_ADDRESS:
        raise BadRequest(f"address_string is too long together with the area's names: at most {MAX_ADDRESS}")
    return combined


def _reporter(form: RequestForm) -> ReporterIn:
    """Name in Chinese order (last name first); no name and no phone means an anonymous report."""
    last = _text(form.last_name, "last_name", MAX_NAME)
    first = _text(form.first_name, "first_name", MAX_NAME)
    phone = _text(form.phone, "phone", 20)
    parts = [p for p in (last, first) if p]
    name = (" " if "".join(parts).isascii() else "").join(parts) or None
    if name is not None and len(name) > MAX_NAME:
        raise BadRequest(f"last_name and first_name together may have at most {MAX_NAME} characters")
    if phone is not None and not re.fullmatch(PHONE_PATTERN, phone):
        raise BadRequest("phone must be a telephone number of digits, e.g. 13812345678 or +86 532 1234 5678")
    if name is None and phone is None:
        return ReporterIn(anonymous=True)
    return ReporterIn(name=name, phone=phone)


def _media(media_url: str | None) -> list[AttachmentIn]:
    """The photo as an attachment by URL; its size is unknown (0): the bytes stay where the app put them."""
    url = _text(media_url, "media_url", MAX_URL)
    if url is None:
        return []
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadRequest("media_url must be an http(s) URL")
    filename = PurePosixPath(parts.path).name[:200] or "media"
    content_type = mimetypes.guess_type(parts.path)[0] or "application/octet-stream"
    return [AttachmentIn(filename=filename, content_type=content_type, size=0, url=url)]


def _title(category: Category, description: str | None) -> str:
    first_line = next((line.strip() for line in (description or "").splitlines() if line.strip()), "")
    if not first_line:
        return category.name
    snippet = first_line if len(first_line) <= 60 else first_line[:60] + "…"
    return f"{category.name}：{snippet}"


# ---------------------------------------------------------------- GET requests


def find_requests(session: Session, query: RequestQuery) -> list[RequestOut]:
    """Public requests, newest first, at most 1000: by ids, or by service, status and time."""
    check_jurisdiction(session, query.jurisdiction_id)
    numbers = _split(query.service_request_id, "service_request_id", MAX_RESULTS)
    criteria = [Event.number.in_(numbers)] if numbers else _filters(session, query)
    stmt = select(Event).where(public(), *criteria)
    rows = session.scalars(stmt.order_by(Event.created_at.desc(), Event.id.desc()).limit(MAX_RESULTS))
    return present(session, list(rows))


def get_request(session: Session, service_request_id: str, jurisdiction_id: str | None = None) -> RequestOut:
    check_jurisdiction(session, jurisdiction_id)
    return present(session, [_public_event(session, service_request_id)])[0]


def lookup_token(session: Session, token: str, jurisdiction_id: str | None = None) -> TokenOut:
    """Tokens are the request ids themselves: requests are created synchronously."""
    check_jurisdiction(session, jurisdiction_id)
    event = _public_event(session, token)
    return TokenOut(service_request_id=event.number, token=token)


def _public_event(session: Session, number: str) -> Event:
    wanted = number.strip()
    event = (
        None if has_control(wanted) else session.scalar(select(Event).where(Event.number == wanted, public()))
    )
    if event is None:
        raise NotFound(f"no service request {number!r}")
    return event


def _split(value: str | None, field: str, max_count: int) -> list[str]:
    """Comma-separated values, at most ``max_count`` of them."""
    parts = [part.strip() for part in (_text(value, field, 100_000) or "").split(",") if part.strip()]
    if len(parts) > max_count:
        raise BadRequest(f"at most {max_count} {field} values at once")
    return parts


def _filters(session: Session, query: RequestQuery) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    codes = _split(query.service_code, "service_code", MAX_CODES)
    if codes:
        found = {c.code: c.id for c in session.scalars(select(Category).where(Category.code.in_(codes)))}
        unknown = [code for code in codes if code not in found]
        if unknown:
            raise BadRequest(f"unknown service_code {', '.join(unknown)}: use codes that GET services lists")
        clauses.append(Event.category_id.in_(found.values()))
    statuses = _statuses(query.status)
    if statuses is not None:
        clauses.append(_in_statuses(statuses))
    since, until = _date_range(query.start_date, query.end_date)
    clauses.append(Event.created_at >= since)
    if until is not None:
        clauses.append(Event.created_at <= until)
    return clauses


def _statuses(value: str | None) -> list[EventStatus] | None:
    """The hub statuses behind ``open``/``closed``; None when both (or neither) are asked for."""
    wanted = {part.lower() for part in _split(value, "status", 2)}
    unknown = wanted - {"open", "closed"}
    if unknown:
        got = ", ".join(sorted(unknown))
        raise BadRequest(f"status must be open or closed (or both, comma-separated), got {got}")
    if len(wanted) != 1:
        return None
    return [s for s in EventStatus if open311_status(s) in wanted]


def _in_statuses(statuses: list[EventStatus]) -> ColumnElement[bool]:
    """A merged request is as open or closed as the request it was merged into."""
    master = aliased(Event)
    through_master = exists(
        select(master.id).where(master.id == Event.merged_into_id, master.status.in_(statuses))
    )
    return or_(
        and_(Event.status != EventStatus.MERGED, Event.status.in_(statuses)),
        and_(Event.status == EventStatus.MERGED, through_master),
    )


def _date_range(start_text: str | None, end_text: str | None) -> tuple[datetime, datetime | None]:
    """(since, until): the last 90 days by default, the 90 days before end_date if only it is given."""
    start = _parse_time("start_date", start_text, whole_day=False)
    end = _parse_time("end_date", end_text, whole_day=True)
    if start is not None and end is not None and start > end:
        raise BadRequest("start_date must not be after end_date")
    if start is None:
        start = (end or clock.now()) - DEFAULT_WINDOW
    return start, end


def _parse_time(field: str, value: str | None, *, whole_day: bool) -> datetime | None:
    """A W3C date-time (an offset is expected; without one it is Asia/Shanghai time), as UTC.

    A date alone is its first instant, or for an end date its whole day. A ``+`` the client did not
    percent-encode arrives as a space (``…T00:00:00 08:00``) and is read as the ``+`` it was.
    """
    text = _text(value, field, 40)
    if text is None:
        return None
    text = _PLUS_AS_SPACE.sub(r"+\1", text)
    try:
        written = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadRequest(
            f"{field} must be a W3C date-time such as 2026-11-01T00:00:00+08:00 or 2026-11-01T00:00:00Z, "
            f"got {text!r}"
        ) from exc
    try:
        parsed = local_to_utc(written)
    except OverflowError:
        parsed = None
    if parsed is None or not EARLIEST <= parsed < LATEST:
        raise BadRequest(f"{field} must lie between the years {EARLIEST.year} and {LATEST.year - 1}")
    if whole_day and _DATE_ONLY.fullmatch(text):
        parsed += timedelta(days=1, microseconds=-1)
    return parsed


# ---------------------------------------------------------------- presentation


class _Lookups:
    """Categories, departments, areas, photos and merge targets for a page of events: one query each."""

    def __init__(self, session: Session, rows: Sequence[Event]) -> None:
        category_ids = {e.category_id for e in rows if e.category_id is not None}
        self.categories = {
            c.id: c for c in session.scalars(select(Category).where(Category.id.in_(category_ids)))
        }
        department_ids = {e.lead_department_id for e in rows if e.lead_department_id is not None}
        self.departments = _pairs(
            session, select(Department.id, Department.name), Department.id, department_ids
        )
        area_ids = {a for a in map(_smallest_area, rows) if a is not None}
        self.area_codes = _pairs(session, select(Area.id, Area.code), Area.id, area_ids)
        self.masters = duplicates.masters(session, [e for e in rows if e.merged_into_id is not None])
        self.media: dict[int, str] = {}
        photos = select(Attachment.event_id, Attachment.url).where(
            Attachment.event_id.in_([e.id for e in rows]), Attachment.url.is_not(None)
        )
        for event_id, url in session.execute(photos.order_by(Attachment.id)):
            if url is not None:
                self.media.setdefault(event_id, url)


def _pairs(
    session: Session, stmt: Select[int, str], key: InstrumentedAttribute[int], ids: set[int]
) -> dict[int, str]:
    return {k: v for k, v in session.execute(stmt.where(key.in_(ids)))} if ids else {}


def _smallest_area(event: Event) -> int | None:
    return event.grid_id or event.community_id or event.street_id or event.district_id


def present(session: Session, rows: Sequence[Event]) -> list[RequestOut]:
    """Events as public Open311 requests; nothing about the reporter is read into them."""
    if not rows:
        return []
    lookups = _Lookups(session, rows)
    return [_request(event, lookups) for event in rows]


def _request(event: Event, lk: _Lookups) -> RequestOut:
    status = EventStatus(event.status)
    master = lk.masters.get(event.id) if status is EventStatus.MERGED else None
    category = lk.categories.get(event.category_id) if event.category_id is not None else None
    area_id = _smallest_area(event)
    return RequestOut(
        service_request_id=event.number,
        status=open311_status(EventStatus(master.status) if master is not None else status),
        status_notes=_status_notes(event, status, master),
        service_name=category.name if category else None,
        service_code=category.code if category else None,
        description=event.description or None,
        agency_responsible=lk.departments.get(event.lead_department_id) if event.lead_department_id else None,
        requested_datetime=event.created_at,
        updated_datetime=event.updated_at,
        expected_datetime=event.resolve_deadline,
        address=event.address,
        address_id=lk.area_codes.get(area_id) if area_id is not None else None,
        lat=event.lat,
        long=event.lon,
        media_url=lk.media.get(event.id),
    )


def _status_notes(event: Event, status: EventStatus, master: Event | None) -> str:
    """The hub's status in words; the resolution once resolved; once merged, the surviving request's."""
    if status is EventStatus.MERGED and master is not None:
        into = master.number
        merged = f"{status.label}：与 {into} 为同一问题 (merged into {into})"
        return f"{merged}；{_status_notes(master, EventStatus(master.status), None)}"
    if status in (EventStatus.RESOLVED, EventStatus.CLOSED) and event.resolution:
        return f"{status.label}：{event.resolution}"
    return status.label
