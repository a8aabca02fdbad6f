"""The catalog (一本账): registering, grading, browsing and searching resources, and loading their sample
data. Functions take the session and the acting principal first and flush; the caller commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, Select, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from cityhub.access import policy
from cityhub.access.principal import SYSTEM, Principal
from cityhub.audit.hooks import PRINCIPAL_KEY, bind_principal
from cityhub.catalog import sources
from cityhub.catalog.builtin import BUILTIN, BUILTIN_BY_CODE, BuiltinResource
from cityhub.catalog.schemas import (
    CheckSpec,
    ConformityFormat,
    Dimension,
    FieldRole,
    FieldSpec,
    FieldType,
    ResourceIn,
    ResourceOut,
    ResourceSummary,
    ResourceUpdate,
)
from cityhub.kit import csvtext
from cityhub.kit.errors import Conflict, NotFound, Unprocessable
from cityhub.kit.timeutil import clock
from cityhub.models.catalog import CatalogResource, CatalogSampleRow, DataGrade, OpenAttribute, QualityRun
from cityhub.models.catalog import SharingAttribute as Sharing
from cityhub.models.org import Department, DepartmentKind

MAX_SAMPLE_ROWS = 100_000
MAX_TAG_LENGTH = 40


# ---------------------------------------------------------------- grading


def grade_floor(fields: Iterable[FieldSpec]) -> DataGrade:
    """The lowest grade a resource may carry given its fields: sensitive personal information → 重要."""
    if any(f.sensitive_personal for f in fields):
        return DataGrade.IMPORTANT
    return DataGrade.GENERAL_1


def effective_grade(declared: DataGrade, fields: Iterable[FieldSpec]) -> DataGrade:
    """就高从严: the stricter of the declared grade and what the fields demand."""
    return DataGrade.strictest(declared, grade_floor(fields))


def holds_sensitive_personal(resource: CatalogResource) -> bool:
    return any(f.sensitive_personal for f in sources.fields_of(resource))


# ---------------------------------------------------------------- built-in resources


def hub_owner(session: Session) -> Department | None:
    """The department that runs the hub: the city-level operation centre, else the first department."""
    centre = session.scalar(
        select(Department)
        .where(Department.kind == DepartmentKind.OPERATION_CENTRE, Department.parent_id.is_(None))
        .order_by(Department.id)
        .limit(1)
    )
    return centre or session.scalar(select(Department).order_by(Department.id).limit(1))


def ensure_builtin(session: Session) -> int:
    """Register the hub's own resources that are not in the catalog yet; returns how many were added.

    Existing entries are left alone: a data steward may have regraded them.
    """
    present = set(session.scalars(select(CatalogResource.code).where(CatalogResource.builtin.is_(True))))
    missing = [b for b in BUILTIN if b.code not in present]
    if not missing:
        return 0
    owner = hub_owner(session)
    if owner is None:
        return 0  # nothing to own them yet: an empty hub
    previous = session.info.get(PRINCIPAL_KEY)
    bind_principal(session, SYSTEM)  # the hub registers its own data, whoever happens to be reading
    try:
        for spec in missing:
            session.add(_from_builtin(spec, owner.id))
        session.flush()
    finally:
        if previous is not None:
            session.info[PRINCIPAL_KEY] = previous
        else:
            session.info.pop(PRINCIPAL_KEY, None)
    return len(missing)


def _from_builtin(spec: BuiltinResource, department_id: int) -> CatalogResource:
    now = clock.now()
    return CatalogResource(
        code=spec.code,
        name=spec.name,
        department_id=department_id,
        description=spec.description,
        source_system="cityhub",
        update_cycle=spec.update_cycle,
        format="table",
        grade=effective_grade(spec.grade, spec.fields),
        sharing=spec.sharing,
        sharing_conditions=spec.sharing_conditions,
        open_attribute=spec.open_attribute,
        open_conditions="",
        tags=list(spec.tags),
        fields=[f.model_dump(mode="json") for f in spec.fields],
        quality_checks=[c.model_dump(mode="json", exclude_defaults=True) for c in spec.checks],
        builtin=True,
        source_table=spec.source_table,
        created_at=now,
        updated_at=now,
    )


# ---------------------------------------------------------------- registering and updating


def register(session: Session, principal: Principal, data: ResourceIn) -> CatalogResource:
    """Register an external resource for the principal's department (an administrator: any department)."""
    department = _owning_department(session, principal, data.department)
    policy.authorize_catalog(principal, "catalog.register", owner_department_id=department.id)
    if session.scalar(select(CatalogResource.id).where(CatalogResource.code == data.code)) is not None:
        raise Conflict(f"a resource with code {data.code} is already registered")
    _validate_declaration(data.fields, data.quality_checks)
    _validate_attributes(data.sharing, data.sharing_conditions, data.open_attribute, data.open_conditions)
    _validate_area_field(data.area_field, data.fields)
    now = clock.now()
    resource = CatalogResource(
        code=data.code,
        name=data.name,
        department_id=department.id,
        description=data.description,
        source_system=data.source_system,
        update_cycle=data.update_cycle,
        format=data.format,
        grade=effective_grade(data.grade, data.fields),
        sharing=data.sharing,
        sharing_conditions=data.sharing_conditions,
        open_attribute=data.open_attribute,
        open_conditions=data.open_conditions,
        tags=_clean_tags(data.tags),
        area_field=data.area_field,
        fields=[f.model_dump(mode="json") for f in data.fields],
        quality_checks=[c.model_dump(mode="json", exclude_defaults=True) for c in data.quality_checks],
        builtin=False,
        created_at=now,
        updated_at=now,
    )
    session.add(resource)
    session.flush()
    return resource


def _owning_department(session: Session, principal: Principal, code: str | None) -> Department:
    if code is None:
        if principal.department_id is None:
            raise Unprocessable("say which department owns the resource (department)")
        return session.get_one(Department, principal.department_id)
    department = session.scalar(select(Department).where(Department.code == code))
    if department is None:
        raise Unprocessable(f"no department with code {code}")
    return department


def _validate_declaration(fields: Sequence[FieldSpec], checks: Sequence[CheckSpec]) -> None:
    names = [f.name for f in fields]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise Unprocessable(f"field names must be unique: {', '.join(duplicates)}")
    for check in checks:
        unknown = [f for f in check.fields if f not in names]
        if unknown:
            raise Unprocessable(f"check '{check.label}' names unknown fields: {', '.join(unknown)}")
        if check.dimension is Dimension.CONSISTENCY and check.key is not None and check.key not in names:
            raise Unprocessable(f"check '{check.label}': key {check.key} is not a field")
        if check.format is ConformityFormat.REGEX and check.pattern is not None:
            _compile(check.pattern)


def _compile(pattern: str) -> None:
    import re

    try:
        re.compile(pattern)
    except re.error as exc:
        raise Unprocessable(f"invalid regular expression {pattern!r}: {exc}") from exc


def _validate_attributes(
    sharing: Sharing, sharing_conditions: str, open_attribute: OpenAttribute, open_conditions: str
) -> None:
    if sharing is Sharing.CONDITIONAL and not sharing_conditions.strip():
        raise Unprocessable("有条件共享 needs its conditions (sharing_conditions)")
    if open_attribute is OpenAttribute.CONDITIONAL and not open_conditions.strip():
        raise Unprocessable("有条件开放 needs its conditions (open_conditions)")


def _validate_area_field(name: str | None, fields: Sequence[FieldSpec]) -> None:
    """The area field is one declared text field with the area role: its values are area codes."""
    if name is None:
        return
    spec = next((f for f in fields if f.name == name), None)
    if spec is None or spec.role is not FieldRole.AREA or spec.type is not FieldType.STRING:
        raise Unprocessable(
            f"area_field {name} must be a declared string field with role 'area' (its values are area codes)"
        )


def _clean_tags(tags: Iterable[str]) -> list[str]:
    cleaned: list[str] = []
    for tag in tags:
        tag = tag.strip()
        if not tag or len(tag) > MAX_TAG_LENGTH:
            raise Unprocessable(f"tags must have 1 to {MAX_TAG_LENGTH} characters")
        if tag not in cleaned:
            cleaned.append(tag)
    return cleaned


def update(session: Session, principal: Principal, code: str, data: ResourceUpdate) -> CatalogResource:
    """Regrade or re-describe a resource (its owner's data steward, or an administrator)."""
    resource = get(session, principal, code)
    policy.authorize_catalog(principal, "catalog.update", owner_department_id=resource.department_id)
    changes = data.model_dump(exclude_unset=True)
    if data.quality_checks is not None:
        _validate_declaration(sources.fields_of(resource), data.quality_checks)
        changes["quality_checks"] = [
            c.model_dump(mode="json", exclude_defaults=True) for c in data.quality_checks
        ]
    if data.tags is not None:
        changes["tags"] = _clean_tags(data.tags)
    if "area_field" in changes:
        if resource.builtin:
            raise Unprocessable(f"{code} is the hub's own data: its rows' areas come from the hub")
        _validate_area_field(data.area_field, sources.fields_of(resource))
    for key in ("name", "update_cycle", "grade", "sharing", "open_attribute"):
        if key in changes and changes[key] is None:
            raise Unprocessable(f"{key} cannot be empty")
    for key, value in changes.items():
        setattr(resource, key, value)
    _validate_attributes(
        resource.sharing, resource.sharing_conditions, resource.open_attribute, resource.open_conditions
    )
    resource.grade = effective_grade(DataGrade(resource.grade), sources.fields_of(resource))
    resource.updated_at = clock.now()
    session.flush()
    return resource


# ---------------------------------------------------------------- reading


def get(session: Session, principal: Principal, code: str) -> CatalogResource:
    stmt = select(CatalogResource).where(CatalogResource.code == code, policy.readable_catalog(principal))
    resource = session.scalar(stmt)
    if resource is None and code in BUILTIN_BY_CODE and ensure_builtin(session):
        resource = session.scalar(stmt)
    if resource is None:
        raise NotFound(f"no resource {code} in the catalog")
    return resource


@dataclass(frozen=True)
class ResourceFilter:
    """Browse and search: by department, domain tag, grade, sharing attribute, text."""

    department: str | None = None
    tag: str | None = None
    grade: DataGrade | None = None
    sharing: Sharing | None = None
    q: str | None = None
    builtin: bool | None = None


def search(
    session: Session, principal: Principal, f: ResourceFilter, *, limit: int = 100, offset: int = 0
) -> list[CatalogResource]:
    ensure_builtin(session)
    stmt = _filtered(select(CatalogResource), principal, f)
    rows = session.scalars(stmt.order_by(CatalogResource.code)).all()
    if f.tag is not None:
        # Tags are a JSON list: filtered here, the same on SQLite and PostgreSQL.
        rows = [r for r in rows if f.tag in (r.tags or [])]
    return list(rows[offset : offset + limit])


def _filtered(
    stmt: Select[CatalogResource], principal: Principal, f: ResourceFilter
) -> Select[CatalogResource]:
    clauses: list[ColumnElement[bool]] = [policy.readable_catalog(principal)]
    if f.department is not None:
        dept_ids = select(Department.id).where(Department.code == f.department)
        clauses.append(CatalogResource.department_id.in_(dept_ids))
    if f.grade is not None:
        clauses.append(CatalogResource.grade == f.grade)
    if f.sharing is not None:
        clauses.append(CatalogResource.sharing == f.sharing)
    if f.builtin is not None:
        clauses.append(CatalogResource.builtin.is_(f.builtin))
    if f.q:
        like = f"%{f.q}%"
        clauses.append(
            or_(
                CatalogResource.name.ilike(like),
                CatalogResource.code.ilike(like),
                CatalogResource.description.ilike(like),
            )
        )
    return stmt.where(*clauses)


def latest_runs(session: Session, resource_ids: Sequence[int]) -> dict[int, QualityRun]:
    if not resource_ids:
        return {}
    newest = (
        select(QualityRun.resource_id, func.max(QualityRun.id).label("id"))
        .where(QualityRun.resource_id.in_(resource_ids))
        .group_by(QualityRun.resource_id)
        .subquery()
    )
    runs = session.scalars(select(QualityRun).join(newest, newest.c.id == QualityRun.id))
    return {r.resource_id: r for r in runs}


def department_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = set(ids)
    if not wanted:
        return {}
    return dict(
        session.execute(select(Department.id, Department.name).where(Department.id.in_(wanted))).all()
    )


def summaries(session: Session, resources: Sequence[CatalogResource]) -> list[ResourceSummary]:
    names = department_names(session, (r.department_id for r in resources))
    runs = latest_runs(session, [r.id for r in resources])
    return [_summary(r, names.get(r.department_id, ""), runs.get(r.id)) for r in resources]


def _summary(resource: CatalogResource, department: str, run: QualityRun | None) -> ResourceSummary:
    grade, sharing, open_attr = (
        DataGrade(resource.grade),
        Sharing(resource.sharing),
        OpenAttribute(resource.open_attribute),
    )
    return ResourceSummary(
        id=resource.id,
        code=resource.code,
        name=resource.name,
        department_id=resource.department_id,
        department=department,
        grade=grade,
        grade_label=grade.label,
        sharing=sharing,
        sharing_label=sharing.label,
        open_attribute=open_attr,
        open_label=open_attr.label,
        update_cycle=resource.update_cycle,
        tags=list(resource.tags or []),
        restricting_tags=sorted(policy.restricting_rules(resource.tags or [])),
        builtin=resource.builtin,
        holds_sensitive_personal_information=holds_sensitive_personal(resource),
        quality_score=run.overall if run else None,
    )


def detail(session: Session, resource: CatalogResource) -> ResourceOut:
    summary = summaries(session, [resource])[0]
    rows = session.scalar(
        select(func.count(CatalogSampleRow.id)).where(CatalogSampleRow.resource_id == resource.id)
    )
    return ResourceOut(
        **summary.model_dump(),
        description=resource.description,
        source_system=resource.source_system,
        format=resource.format,
        sharing_conditions=resource.sharing_conditions,
        open_conditions=resource.open_conditions,
        area_bound=sources.area_bound(resource),
        area_field=resource.area_field,
        fields=sources.fields_of(resource),
        quality_checks=[CheckSpec.model_validate(c) for c in resource.quality_checks],
        source_table=resource.source_table,
        has_data=sources.has_data(session, resource),
        sample_rows=rows or 0,
        created_at=resource.created_at,
        updated_at=resource.updated_at,
    )


# ---------------------------------------------------------------- sample data


def load_sample(session: Session, principal: Principal, code: str, text: str) -> tuple[int, list[str]]:
    """Replace an external resource's rows with a CSV (header = field names); returns (rows, problems).

    Cells that do not fit their declared type are kept as text, so the quality checks count them.
    """
    resource = get(session, principal, code)
    policy.authorize_catalog(principal, "catalog.sample.upload", owner_department_id=resource.department_id)
    if resource.builtin:
        raise Conflict(f"{code} is the hub's own data: it is read from the hub, not uploaded")
    reader = csvtext.records(text)
    fields = {f.name: f for f in sources.fields_of(resource)}
    header = reader.fieldnames or []
    unknown = [h for h in header if h not in fields]
    if not header or unknown:
        raise Unprocessable(
            "the CSV header must name declared fields"
            + (f"; unknown: {', '.join(unknown[:10])}" if unknown else " (it is empty)"),
            declared=list(fields),
        )
    return _store_rows(session, resource, fields, reader)


def _store_rows(
    session: Session,
    resource: CatalogResource,
    fields: dict[str, FieldSpec],
    reader: Iterable[dict[str, Any]],
) -> tuple[int, list[str]]:
    session.execute(delete(CatalogSampleRow).where(CatalogSampleRow.resource_id == resource.id))
    problems: list[str] = []
    batch: list[dict[str, Any]] = []
    count = 0
    for count, raw in enumerate(reader, start=1):
        if count > MAX_SAMPLE_ROWS:
            raise Unprocessable(f"at most {MAX_SAMPLE_ROWS} sample rows per resource")
        data = {name: _cell(raw.get(name), spec, count, problems) for name, spec in fields.items()}
        batch.append({"resource_id": resource.id, "row_no": count, "data": data})
        if len(batch) >= 1000:
            session.execute(insert(CatalogSampleRow), batch)
            batch = []
    if batch:
        session.execute(insert(CatalogSampleRow), batch)
    resource.sample_loaded_at = clock.now()
    resource.updated_at = resource.sample_loaded_at
    session.flush()
    return count, problems[:20]


def _cell(value: Any, spec: FieldSpec, row: int, problems: list[str]) -> Any:
    try:
        return sources.coerce(value, spec.type)
    except (ValueError, OverflowError):
        if len(problems) < 20:
            problems.append(f"row {row}, {spec.name}: {value!r} is not a {spec.type}")
        return str(value)


def parse_resource(data: dict[str, Any]) -> ResourceIn:
    """A ``ResourceIn`` from plain data (CLI, CSV), with validation errors as 422."""
    try:
        return ResourceIn.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise Unprocessable(f"{data.get('code', '?')}: {where}: {first.get('msg')}") from exc
