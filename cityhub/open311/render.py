"""The Open311 GeoReport v2 wire format: the records the API returns and their JSON and XML renderings.

The format is chosen by the path's extension (``services.json`` / ``services.xml``). XML is written with
the standard library: the root and item element names are the spec's (``services/service``,
``service_requests/request``, ``service_definition``, ``errors/error``), UTF-8 with an XML declaration.
Times are W3C date-times in Asia/Shanghai (``2026-11-21T16:55:00+08:00``), as the hub shows them.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from fastapi.responses import Response
from pydantic import BaseModel, Field, field_serializer

from cityhub.kit.timeutil import SHANGHAI

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
JSON_MEDIA_TYPE = "application/json; charset=utf-8"
XML_MEDIA_TYPE = "text/xml; charset=utf-8"
# Characters XML 1.0 cannot carry at all (C0 controls other than tab, newline and carriage return).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Element names of list items inside a record, e.g. a service definition's <attributes><attribute>.
_ITEM_NAMES = {"attributes": "attribute", "values": "value"}


class Format(StrEnum):
    """Response formats, chosen by the path's extension."""

    JSON = "json"
    XML = "xml"


def format_of(extension: str | None) -> Format | None:
    """The format an extension names, or None for anything else (the caller answers 404)."""
    try:
        return Format(extension or "")
    except ValueError:
        return None


def w3c(value: datetime | None) -> str | None:
    """A W3C date-time with its offset, in Asia/Shanghai, to the second."""
    return None if value is None else value.astimezone(SHANGHAI).isoformat(timespec="seconds")


# ---------------------------------------------------------------- records


class ServiceOut(BaseModel):
    """One service type a citizen may report: a leaf of the hub's category taxonomy."""

    service_code: str = Field(description="the category code, e.g. 01.01.02")
    service_name: str
    description: str = Field(description="the category's full path, e.g. 城乡建设/市政设施/道路破损")
    metadata: bool = Field(False, description="always false: no service has extra attributes")
    type: str = Field("realtime", description="realtime: a request gets its id at once")
    keywords: str = Field(description="the names along the category path, comma-separated")
    group: str = Field(description="the level-1 category name")


class ServiceDefinitionOut(BaseModel):
    """A service's extra attributes (none in this hub, so an empty list)."""

    service_code: str
    attributes: list[dict[str, str]] = Field(default_factory=list)


class RequestOut(BaseModel):
    """A service request as the public sees it: never the reporter's name, phone or account."""

    service_request_id: str = Field(description="the event number, e.g. 20261121-000123")
    status: str = Field(description="open or closed")
    status_notes: str | None = None
    service_name: str | None = None
    service_code: str | None = None
    description: str | None = None
    agency_responsible: str | None = Field(None, description="the lead department (主办部门)")
    service_notice: str | None = None
    requested_datetime: datetime | None = None
    updated_datetime: datetime | None = None
    expected_datetime: datetime | None = Field(None, description="the resolution deadline (办结时限)")
    address: str | None = None
    address_id: str | None = Field(None, description="code of the smallest area that holds the request")
    zipcode: str | None = None
    lat: float | None = Field(None, description="WGS-84")
    long: float | None = Field(None, description="WGS-84")
    media_url: str | None = None

    @field_serializer("requested_datetime", "updated_datetime", "expected_datetime")
    def _w3c(self, value: datetime | None) -> str | None:
        return w3c(value)


class CreatedOut(BaseModel):
    """The answer to a new request: its id at once (requests are created synchronously)."""

    service_request_id: str
    token: str = Field(description="the same as service_request_id; GET tokens/{token} resolves it")
    service_notice: str
    account_id: str | None = None


class TokenOut(BaseModel):
    service_request_id: str
    token: str


class ErrorOut(BaseModel):
    """One error, as the spec writes it: the HTTP status and a description a person can act on."""

    code: int
    description: str


# ---------------------------------------------------------------- responses


def records(fmt: Format, root: str, item: str, rows: Sequence[BaseModel], status_code: int = 200) -> Response:
    """A list response: a JSON array, or ``<root><item>…</item>…</root>``."""
    data = [row.model_dump(mode="json") for row in rows]
    if fmt is Format.JSON:
        return _json(data, status_code)
    element = ET.Element(root)
    for row in data:
        element.append(_element(item, row))
    return _xml(element, status_code)


def record(fmt: Format, root: str, row: BaseModel) -> Response:
    """A single-object response (the service definition): a JSON object, or ``<root>…</root>``."""
    data = row.model_dump(mode="json")
    if fmt is Format.JSON:
        return _json(data, 200)
    return _xml(_element(root, data), 200)


def error(fmt: Format, status_code: int, description: str) -> Response:
    """``[{"code": 400, "description": "…"}]`` or ``<errors><error>…</error></errors>``, with that status."""
    return records(fmt, "errors", "error", [ErrorOut(code=status_code, description=description)], status_code)


def _json(data: Any, status_code: int) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status_code, media_type=JSON_MEDIA_TYPE)


def _xml(element: ET.Element, status_code: int) -> Response:
    body = XML_DECLARATION + ET.tostring(element, encoding="utf-8", xml_declaration=False)
    return Response(body, status_code=status_code, media_type=XML_MEDIA_TYPE)


def _element(tag: str, value: Any) -> ET.Element:
    element = ET.Element(tag)
    if isinstance(value, dict):
        for key, child in value.items():
            element.append(_element(key, child))
    elif isinstance(value, list):
        for child in value:
            element.append(_element(_ITEM_NAMES.get(tag, "item"), child))
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = _XML_INVALID.sub("", str(value))
    return element
