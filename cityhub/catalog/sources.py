"""Reading a resource's data as rows named by its declared fields — from a hub table (built-in resources)
or from the sample rows uploaded as CSV (external resources). Quality checks, shared rows and aggregates
all read through here, so they see the same data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, inspect, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from cityhub.access import policy
from cityhub.catalog.builtin import AREA_ID, BUILTIN_BY_CODE, RowSelect
from cityhub.catalog.schemas import FieldSpec, FieldType
from cityhub.kit.errors import Conflict, Unprocessable
from cityhub.kit.timeutil import SHANGHAI
from cityhub.models.catalog import CatalogResource, CatalogSampleRow

BATCH = 2000


def fields_of(resource: CatalogResource) -> list[FieldSpec]:
    return [FieldSpec.model_validate(f) for f in resource.fields]


def area_bound(resource: CatalogResource) -> bool:
    """Whether the resource's rows carry an area (a hub table with areas, or a declared area field)."""
    if resource.builtin:
        spec = BUILTIN_BY_CODE.get(resource.code)
        return spec is not None and spec.area
    return resource.area_field is not None


def _builtin_select(
    session: Session, resource: CatalogResource, within: int | None = None
) -> RowSelect | None:
    """The hub table's rows as declared fields; ``within``: only the rows lying in that area or below."""
    spec = BUILTIN_BY_CODE.get(resource.code) if resource.builtin else None
    if spec is None or spec.select is None or spec.source_table is None:
        return None
    if not inspect(session.connection()).has_table(spec.source_table):
        return None
    stmt = spec.select()
    area = stmt.selected_columns.get(AREA_ID)
    if area is None:
        if within is not None:  # fail closed: an area-bound resource whose reader lost its area column
            raise Conflict(f"the rows of {resource.code} have no area, so they cannot be confined to one")
        return stmt
    if within is not None:
        stmt = stmt.where(policy.catalog_rows_in_area(within, area_ids=area))
    # The area column decides which rows; it is not one of the resource's fields.
    return stmt.with_only_columns(
        *(c for c in stmt.selected_columns if c.key != AREA_ID), maintain_column_froms=True
    )


def _sample_area(resource: CatalogResource, within: int | None) -> list[ColumnElement[bool]]:
    if within is None or resource.area_field is None:
        return []
    code = CatalogSampleRow.data[resource.area_field].as_string()
    return [policy.catalog_rows_in_area(within, area_codes=code)]


def _is_foreign(resource: CatalogResource) -> bool:
    spec = BUILTIN_BY_CODE.get(resource.code) if resource.builtin else None
    return spec is not None and spec.foreign


def has_data(session: Session, resource: CatalogResource) -> bool:
    """Whether the hub can read this resource at all (a table behind it, or uploaded rows)."""
    if resource.builtin:
        return _builtin_select(session, resource) is not None
    return resource.sample_loaded_at is not None


def count(session: Session, resource: CatalogResource) -> int:
    stmt = _builtin_select(session, resource)
    if stmt is not None:
        counted = select(func.count()).select_from(stmt.order_by(None).subquery())
        try:
            with session.begin_nested():
                return session.scalar(counted) or 0
        except SQLAlchemyError as exc:
            raise Unprocessable(f"the data of {resource.code} cannot be read: {type(exc).__name__}") from exc
    return (
        session.scalar(
            select(func.count(CatalogSampleRow.id)).where(CatalogSampleRow.resource_id == resource.id)
        )
        or 0
    )


def iter_rows(
    session: Session, resource: CatalogResource, *, within: int | None = None
) -> Iterator[dict[str, Any]]:
    """Every row (``within``: of that area and below, for an area-bearing resource), in a stable order,
    streamed in batches."""
    yield from _rows(session, resource, offset=0, limit=None, within=within)


def page(
    session: Session, resource: CatalogResource, *, offset: int, limit: int, within: int | None = None
) -> list[dict[str, Any]]:
    return list(_rows(session, resource, offset=offset, limit=limit, within=within))


def _rows(
    session: Session, resource: CatalogResource, *, offset: int, limit: int | None, within: int | None
) -> Iterator[dict[str, Any]]:
    stmt = _builtin_select(session, resource, within)
    if stmt is None and resource.builtin:
        return
    try:
        if stmt is not None and _is_foreign(resource):
            with session.begin_nested():
                rows = [dict(r._mapping) for r in session.execute(stmt.offset(offset).limit(limit))]
            yield from rows
            return
        if stmt is not None:
            stmt = stmt.offset(offset).limit(limit)
            for row in session.execute(stmt.execution_options(yield_per=BATCH)):
                yield dict(row._mapping)
            return
        sample = (
            select(CatalogSampleRow.data)
            .where(CatalogSampleRow.resource_id == resource.id, *_sample_area(resource, within))
            .order_by(CatalogSampleRow.row_no)
            .offset(offset)
            .limit(limit)
        )
        for data in session.scalars(sample.execution_options(yield_per=BATCH)):
            yield dict(data)
    except SQLAlchemyError as exc:  # a hub table whose shape changed under the declaration
        raise Unprocessable(f"the data of {resource.code} cannot be read: {type(exc).__name__}") from exc


# ---------------------------------------------------------------- values


def coerce(value: Any, type_: FieldType) -> Any:
    """A value as its declared type, or raise ValueError (CSV cells arrive as text)."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if type_ is FieldType.INTEGER:
        number = float(value)
        if not number.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        return int(number)
    if type_ is FieldType.NUMBER:
        return float(value)
    if type_ is FieldType.BOOLEAN:
        return _boolean(value)
    if type_ in (FieldType.DATE, FieldType.DATETIME):
        parsed = as_datetime(value)
        if parsed is None:
            raise ValueError(f"{value!r} is not a date")
        return str(value).strip() if isinstance(value, str) else parsed.isoformat()
    return str(value).strip()


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y", "是"):
        return True
    if text in ("0", "false", "no", "n", "否"):
        return False
    raise ValueError(f"{value!r} is not yes/no")


def as_datetime(value: Any) -> datetime | None:
    """Aware datetime from a datetime, a date or ISO text; naive values are local (Asia/Shanghai)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=SHANGHAI)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=SHANGHAI)
    try:
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=SHANGHAI)


def as_number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def as_text(value: Any) -> str | None:
    """Text as delivered: enums by value, times in UTC ISO 8601."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)
