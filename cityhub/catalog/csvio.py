"""Registering resources from a CSV catalog sheet: one row per field (信息项), the resource's columns
repeated (the first row of a resource gives them), and the checks written as field attributes:

``resource_code, resource_name, department, description, source_system, update_cycle, format, grade,
sharing, sharing_conditions, open_attribute, open_conditions, tags (; separated), area_field, field_name,
field_title, field_type, field_description, personal (yes/no), sensitivity, mask, role, min, max,
required (yes → completeness), unique (yes → uniqueness), check_format (citizen_id, uscc, phone,
area_code, date → conformity), references (CODE.field → consistency)``. ``min``/``max`` give an accuracy
check, and the first ``time`` field a timeliness check.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from cityhub.catalog.schemas import ResourceIn
from cityhub.catalog.service import parse_resource
from cityhub.kit.errors import Unprocessable

REQUIRED_COLUMNS = ("resource_code", "resource_name", "grade", "sharing", "field_name")
RESOURCE_COLUMNS = {
    "resource_name": "name",
    "department": "department",
    "description": "description",
    "source_system": "source_system",
    "update_cycle": "update_cycle",
    "format": "format",
    "grade": "grade",
    "sharing": "sharing",
    "sharing_conditions": "sharing_conditions",
    "open_attribute": "open_attribute",
    "open_conditions": "open_conditions",
    "area_field": "area_field",
}
FIELD_COLUMNS = {
    "field_name": "name",
    "field_title": "title",
    "field_type": "type",
    "field_description": "description",
    "sensitivity": "sensitivity",
    "mask": "mask",
    "role": "role",
}
YES = ("yes", "y", "true", "1", "是")


def _yes(value: str | None) -> bool:
    return (value or "").strip().lower() in YES


def _number(value: str | None, row: int, column: str) -> float | None:
    if not (value or "").strip():
        return None
    try:
        return float(str(value))
    except ValueError as exc:
        raise Unprocessable(f"row {row}: {column} must be a number, not {value!r}") from exc


def parse_catalog_csv(text: str) -> list[ResourceIn]:
    """The resources described by a catalog sheet, validated (422 names the row and the problem)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise Unprocessable(f"the catalog CSV lacks the column(s) {', '.join(missing)}")
    resources: dict[str, dict[str, Any]] = {}
    for row_no, row in enumerate(reader, start=2):
        code = (row.get("resource_code") or "").strip()
        if not code:
            raise Unprocessable(f"row {row_no}: resource_code is empty")
        resource = resources.setdefault(code, _resource(code, row))
        field, checks = _field(row, row_no)
        resource["fields"].append(field)
        resource["quality_checks"].extend(checks)
        if _yes(row.get("required")):
            resource["_required"].append(field["name"])
    return [parse_resource(_finish(r)) for r in resources.values()]


def _resource(code: str, row: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {"code": code, "fields": [], "quality_checks": [], "_required": []}
    for column, key in RESOURCE_COLUMNS.items():
        value = (row.get(column) or "").strip()
        if value:
            data[key] = value
    tags = (row.get("tags") or "").replace("；", ";")
    data["tags"] = [t.strip() for t in tags.split(";") if t.strip()]
    return data


def _field(row: dict[str, str], row_no: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    field: dict[str, Any] = {
        k: (row.get(c) or "").strip() for c, k in FIELD_COLUMNS.items() if (row.get(c) or "").strip()
    }
    field["personal"] = _yes(row.get("personal"))
    low, high = _number(row.get("min"), row_no, "min"), _number(row.get("max"), row_no, "max")
    field.update({k: v for k, v in (("min", low), ("max", high)) if v is not None})
    name = field.get("name", "")
    checks: list[dict[str, Any]] = []
    if _yes(row.get("unique")):
        checks.append({"dimension": "uniqueness", "fields": [name], "threshold": 100})
    fmt = (row.get("check_format") or "").strip()
    if fmt:
        checks.append({"dimension": "conformity", "fields": [name], "format": fmt})
    if low is not None or high is not None:
        checks.append({"dimension": "accuracy", "fields": [name], "min": low, "max": high})
    reference = (row.get("references") or "").strip()
    if reference:
        ref_code, _dot, ref_field = reference.rpartition(".")
        if not ref_code:
            raise Unprocessable(f"row {row_no}: references must read CODE.field, not {reference!r}")
        checks.append(
            {
                "dimension": "consistency",
                "fields": [name],
                "reference": ref_code,
                "reference_field": ref_field,
            }
        )
    return field, checks


def _finish(data: dict[str, Any]) -> dict[str, Any]:
    required = data.pop("_required")
    for start in range(0, len(required), 10):  # a check names at most 10 fields
        data["quality_checks"].append({"dimension": "completeness", "fields": required[start : start + 10]})
    time_field = next((f["name"] for f in data["fields"] if f.get("role") == "time"), None)
    if time_field:
        data["quality_checks"].append({"dimension": "timeliness", "fields": [time_field]})
    return data
