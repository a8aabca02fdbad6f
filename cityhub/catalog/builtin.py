"""The hub's own data, registered in the catalog automatically with default grades (declared as data).

Each entry says which hub table holds the data and how to read it as rows named by the declared fields
(``select``). Reporter identity and the whereabouts of vulnerable people are sensitive personal
information (PIPL Art. 28), so the resources holding them are graded 重要 (就高从严).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from sqlalchemy import Select, column, func, select, table
from sqlalchemy.orm import aliased

from cityhub.catalog.schemas import CheckSpec, FieldSpec
from cityhub.models.area import Area
from cityhub.models.audit import AuditLog
from cityhub.models.catalog import DataGrade, OpenAttribute, SharingAttribute, UpdateCycle
from cityhub.models.category import Category
from cityhub.models.event import Event
from cityhub.models.org import Department, DepartmentKind

# A select of labelled columns, one per declared field.
RowSelect: TypeAlias = Select[*tuple[Any, ...]]
# The extra column of an area-bearing resource's select: the id of the finest area the row lies in. It is
# never delivered; a grant confined to an area filters on it (``policy.catalog_rows_in_area``).
AREA_ID = "_area_id"


def _f(name: str, title: str, type: str = "string", **extra: Any) -> FieldSpec:
    return FieldSpec.model_validate({"name": name, "title": title, "type": type, **extra})


def _c(dimension: str, *fields: str, **extra: Any) -> CheckSpec:
    return CheckSpec.model_validate({"dimension": dimension, "fields": list(fields), **extra})


@dataclass(frozen=True)
class BuiltinResource:
    """One of the hub's own resources; ``select`` is None while the hub has no table for it yet."""

    code: str
    name: str
    description: str
    update_cycle: UpdateCycle
    grade: DataGrade
    sharing: SharingAttribute
    sharing_conditions: str
    open_attribute: OpenAttribute
    tags: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    checks: tuple[CheckSpec, ...] = ()
    source_table: str | None = None
    select: Callable[[], RowSelect] | None = field(default=None, compare=False)
    # Read by column name from a table another domain owns: read inside a savepoint, so a change of
    # shape there turns into a clear 422 here instead of an aborted transaction.
    foreign: bool = False
    # Its rows lie in areas: ``select`` has the ``AREA_ID`` column, and grants to an area-bound department
    # deliver only the rows of its area (docs/decisions/0005).
    area: bool = False


def _events() -> RowSelect:
    district, street, grid = aliased(Area), aliased(Area), aliased(Area)
    return (
        select(
            Event.number.label("number"),
            Event.title.label("title"),
            Category.path.label("category"),
            Event.channel.label("channel"),
            Event.status.label("status"),
            Event.urgency.label("urgency"),
            district.code.label("district"),
            street.code.label("street"),
            grid.code.label("grid"),
            Event.lon.label("lon"),
            Event.lat.label("lat"),
            Event.address.label("address"),
            Event.reporter_name.label("reporter_name"),
            Event.reporter_phone.label("reporter_phone"),
            Event.created_at.label("created_at"),
            Event.resolved_at.label("resolved_at"),
            Event.rating.label("rating"),
            func.coalesce(Event.grid_id, Event.community_id, Event.street_id, Event.district_id).label(
                AREA_ID
            ),
        )
        .outerjoin(Category, Category.id == Event.category_id)
        .outerjoin(district, district.id == Event.district_id)
        .outerjoin(street, street.id == Event.street_id)
        .outerjoin(grid, grid.id == Event.grid_id)
        .order_by(Event.id)
    )


def _areas() -> RowSelect:
    parent = aliased(Area)
    return (
        select(
            Area.code.label("code"),
            Area.name.label("name"),
            Area.level.label("level"),
            parent.code.label("parent"),
            Area.population.label("population"),
            Area.center_lon.label("center_lon"),
            Area.center_lat.label("center_lat"),
        )
        .outerjoin(parent, parent.id == Area.parent_id)
        .order_by(Area.id)
    )


def _departments() -> RowSelect:
    return (
        select(
            Department.code.label("code"),
            Department.name.label("name"),
            Department.kind.label("kind"),
            Area.code.label("area"),
            Department.active.label("active"),
        )
        .outerjoin(Area, Area.id == Department.area_id)
        .order_by(Department.id)
    )


def _audit() -> RowSelect:
    return select(
        AuditLog.at.label("at"),
        AuditLog.actor.label("actor"),
        AuditLog.action.label("action"),
        AuditLog.object_type.label("object_type"),
        AuditLog.object_id.label("object_id"),
        AuditLog.purpose.label("purpose"),
    ).order_by(AuditLog.id)


# The sensing domain's tables, by column name (no import: the catalog must not break when they move).
_entities = table(
    "entities",
    column("id"),
    column("code"),
    column("type"),
    column("name"),
    column("district_id"),
    column("street_id"),
    column("community_id"),
    column("grid_id"),
    column("lon"),
    column("lat"),
    column("updated_at"),
)
_readings = table("telemetry_readings", column("entity_id"), column("metric"), column("ts"), column("value"))
_subjects = table(
    "alert_subjects",
    column("id"),
    column("kind"),
    column("name"),
    column("phone"),
    column("address"),
    column("community_id"),
    column("consent_at"),
    column("active"),
)


def _where_entity_lies() -> Any:
    """The finest area an entity (or a device's readings) lies in."""
    e = _entities.c
    return func.coalesce(e.grid_id, e.community_id, e.street_id, e.district_id)


def _entity_rows() -> RowSelect:
    district = aliased(Area)
    return (
        select(
            _entities.c.code.label("city_code"),
            _entities.c.type.label("kind"),
            _entities.c.name.label("name"),
            district.code.label("area"),
            _entities.c.lon.label("lon"),
            _entities.c.lat.label("lat"),
            _where_entity_lies().label(AREA_ID),
        )
        .outerjoin(district, district.id == _entities.c.district_id)
        .order_by(_entities.c.id)
    )


def _reading_rows() -> RowSelect:
    return (
        select(
            _entities.c.code.label("device"),
            _readings.c.metric.label("metric"),
            _readings.c.ts.label("ts"),
            _readings.c.value.label("value"),
            _where_entity_lies().label(AREA_ID),
        )
        .outerjoin(_entities, _entities.c.id == _readings.c.entity_id)
        .order_by(_readings.c.ts)
    )


def _subject_rows() -> RowSelect:
    community = aliased(Area)
    return (
        select(
            _subjects.c.kind.label("kind"),
            _subjects.c.name.label("name"),
            _subjects.c.phone.label("phone"),
            _subjects.c.address.label("address"),
            community.code.label("community"),
            _subjects.c.consent_at.label("consent_at"),
            _subjects.c.community_id.label(AREA_ID),
        )
        .outerjoin(community, community.id == _subjects.c.community_id)
        .order_by(_subjects.c.id)
    )


PHONE = r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}|\d{5})$"
_SENSITIVE: dict[str, Any] = {"personal": True, "sensitivity": "sensitive"}
_LOCATION: dict[str, Any] = {"sensitivity": "sensitive", "mask": "location", "type": "number"}

EVENTS = BuiltinResource(
    code="CH-EVENTS",
    name="城市事件（12345热线、网格上报、感知发现）",
    description="Every report about the city from every channel, from intake to the rated closure.",
    update_cycle=UpdateCycle.REALTIME,
    grade=DataGrade.IMPORTANT,  # reporter identity is sensitive personal information: 就高从严
    sharing=SharingAttribute.CONDITIONAL,
    sharing_conditions="报告人身份信息不予提供；用于属地处置、统计分析，按最小必要原则申请，聚合使用。",
    open_attribute=OpenAttribute.NONE,
    tags=("城市治理", "12345", "事件"),
    fields=(
        _f("number", "事件编号", role="key"),
        _f("title", "标题"),
        _f("category", "事件分类", role="category"),
        _f("channel", "来源渠道", role="category"),
        _f("status", "办理状态", role="category"),
        _f("urgency", "紧急程度", role="category"),
        _f("district", "所属区（市）", role="area"),
        _f("street", "所属街道", role="area"),
        _f("grid", "所属网格", role="area"),
        _f("lon", "经度（WGS-84）", role="lon", min=73.5, max=135.1, **_LOCATION),
        _f("lat", "纬度（WGS-84）", role="lat", min=3.8, max=53.6, **_LOCATION),
        _f("address", "事发地址", sensitivity="sensitive", mask="address"),
        _f("reporter_name", "报告人姓名", mask="name", **_SENSITIVE),
        _f("reporter_phone", "报告人电话", mask="phone", **_SENSITIVE),
        _f("created_at", "受理时间", "datetime", role="time"),
        _f("resolved_at", "办结时间", "datetime"),
        _f("rating", "满意度评价", "integer", min=1, max=5),
    ),
    checks=(
        _c("completeness", "title", "category", "district", threshold=90),
        _c("conformity", "reporter_phone", format="regex", pattern=PHONE),
        _c("accuracy", "lon", min=73.5, max=135.1),
        _c("accuracy", "lat", min=3.8, max=53.6),
        _c("accuracy", "rating", min=1, max=5),
        _c("uniqueness", "number", threshold=100),
        _c("consistency", "district", reference="CH-AREAS", reference_field="code", threshold=99),
        _c("timeliness", "created_at"),
    ),
    source_table="events",
    select=_events,
    area=True,
)

AREAS = BuiltinResource(
    code="CH-AREAS",
    name="行政区划与网格",
    description="The area tree: city, districts (GB/T 2260), streets, communities and grids with boundaries.",
    update_cycle=UpdateCycle.IRREGULAR,
    grade=DataGrade.GENERAL_1,
    sharing=SharingAttribute.UNCONDITIONAL,
    sharing_conditions="",
    open_attribute=OpenAttribute.UNCONDITIONAL,
    tags=("空间地理", "基础数据"),
    fields=(
        _f("code", "区划代码", role="key"),
        _f("name", "名称"),
        _f("level", "层级", role="category"),
        _f("parent", "上级区划代码", role="area"),
        _f("population", "常住人口", "integer", min=0, max=30_000_000),
        _f("center_lon", "中心经度", "number", min=73.5, max=135.1),
        _f("center_lat", "中心纬度", "number", min=3.8, max=53.6),
    ),
    checks=(
        _c("completeness", "code", "name", "level"),
        _c("conformity", "code", format="area_code"),
        _c("uniqueness", "code", threshold=100),
        _c("accuracy", "population", min=0, max=30_000_000),
        _c("consistency", "parent", reference="CH-AREAS", reference_field="code", threshold=100),
    ),
    source_table="areas",
    select=_areas,
)

DEPARTMENTS = BuiltinResource(
    code="CH-DEPARTMENTS",
    name="部门目录",
    description="Departments (委办局, district bureaus, street offices, utilities) and their jurisdictions.",
    update_cycle=UpdateCycle.MONTHLY,
    grade=DataGrade.GENERAL_1,
    sharing=SharingAttribute.UNCONDITIONAL,
    sharing_conditions="",
    open_attribute=OpenAttribute.UNCONDITIONAL,
    tags=("组织机构", "基础数据"),
    fields=(
        _f("code", "部门代码", role="key"),
        _f("name", "部门名称"),
        _f("kind", "部门类型", role="category"),
        _f("area", "管辖区域代码", role="area"),
        _f("active", "在用", "boolean"),
    ),
    checks=(
        _c("completeness", "code", "name", "kind"),
        _c("uniqueness", "code", threshold=100),
        _c("conformity", "kind", format="code_list", values=[k.value for k in DepartmentKind]),
        _c("consistency", "area", reference="CH-AREAS", reference_field="code", threshold=100),
    ),
    source_table="departments",
    select=_departments,
)

AUDIT = BuiltinResource(
    code="CH-AUDIT",
    name="审计日志",
    description="Who changed or read what, in the same transaction as the change (append-only).",
    update_cycle=UpdateCycle.REALTIME,
    grade=DataGrade.GENERAL_4,
    sharing=SharingAttribute.NONE,
    sharing_conditions="安全审计数据，仅供本单位审计、督办使用。",
    open_attribute=OpenAttribute.NONE,
    tags=("安全审计",),
    fields=(
        _f("at", "时间", "datetime", role="time"),
        _f("actor", "操作人", personal=True, mask="redact"),
        _f("action", "操作", role="category"),
        _f("object_type", "对象类型", role="category"),
        _f("object_id", "对象标识"),
        _f("purpose", "目的"),
    ),
    checks=(_c("completeness", "at", "actor", "action"),),
    source_table="audit_log",
    select=_audit,
)

# The sensing side (issue 3): registered by name; they are read once their tables have a reader here.
ENTITIES = BuiltinResource(
    code="CH-ENTITIES",
    name="城市码实体（建筑、设施、设备）",
    description="One identity per city object (城市码): buildings, facilities, devices and their relations.",
    update_cycle=UpdateCycle.DAILY,
    grade=DataGrade.GENERAL_3,
    sharing=SharingAttribute.CONDITIONAL,
    sharing_conditions="用于城市运行管理和应急处置。",
    open_attribute=OpenAttribute.NONE,
    tags=("城市码", "感知"),
    fields=(
        _f("city_code", "城市码", role="key"),
        _f("kind", "实体类型", role="category"),
        _f("name", "名称"),
        _f("area", "所在区域", role="area"),
        _f("lon", "经度", role="lon", **_LOCATION),
        _f("lat", "纬度", role="lat", **_LOCATION),
    ),
    checks=(
        _c("completeness", "city_code", "kind", "name", "area"),
        _c("uniqueness", "city_code", threshold=100),
        _c("consistency", "area", reference="CH-AREAS", reference_field="code", threshold=99),
    ),
    source_table="entities",
    select=_entity_rows,
    foreign=True,
    area=True,
)

TELEMETRY = BuiltinResource(
    code="CH-TELEMETRY",
    name="物联感知数据",
    description="Sensor readings over MQTT/HTTP (water, gas, electricity, environment, structures).",
    update_cycle=UpdateCycle.REALTIME,
    grade=DataGrade.GENERAL_3,
    sharing=SharingAttribute.CONDITIONAL,
    sharing_conditions="居民户表读数可推断行踪，按设备聚合使用。",
    open_attribute=OpenAttribute.NONE,
    tags=("感知", "物联网"),
    fields=(
        _f("device", "设备城市码", role="key"),
        _f("metric", "指标", role="category"),
        _f("ts", "采集时间（Unix 时间戳）", "integer"),
        _f("value", "读数", "number"),
    ),
    # No checks by default: a full scan of every reading each hour is not what a schedule is for.
    source_table="telemetry_readings",
    select=_reading_rows,
    foreign=True,
    area=True,
)

INDICATORS = BuiltinResource(
    code="CH-INDICATORS",
    name="城市体征指标",
    description="City vital-sign indicators per area and their warning levels.",
    update_cycle=UpdateCycle.HOURLY,
    grade=DataGrade.GENERAL_2,
    sharing=SharingAttribute.UNCONDITIONAL,
    sharing_conditions="",
    open_attribute=OpenAttribute.CONDITIONAL,
    tags=("城市体征", "运行监测"),
    fields=(
        _f("indicator", "指标", role="category"),
        _f("area", "区域", role="area"),
        _f("at", "时间", "datetime", role="time"),
        _f("value", "值", "number"),
        _f("level", "预警级别", role="category"),
    ),
    source_table="indicator_values",
    area=True,  # no reader yet: once it has one, its select carries AREA_ID like the others
)

VULNERABLE = BuiltinResource(
    code="CH-VULNERABLE",
    name="重点关爱人员（独居老人等）",
    description="People registered with consent so that alerts about them reach a grid worker.",
    update_cycle=UpdateCycle.DAILY,
    grade=DataGrade.IMPORTANT,  # whereabouts of vulnerable people: sensitive personal information
    sharing=SharingAttribute.CONDITIONAL,
    sharing_conditions="行踪、健康等敏感个人信息，仅可聚合统计，原始数据不出域。",
    open_attribute=OpenAttribute.NONE,
    tags=("民生", "重点人群", "敏感个人信息"),
    fields=(
        _f("kind", "类别", role="category"),
        _f("name", "姓名", mask="name", **_SENSITIVE),
        _f("phone", "电话", mask="phone", **_SENSITIVE),
        _f("address", "住址", mask="address", **_SENSITIVE),
        _f("community", "所属社区", role="area"),
        _f("consent_at", "授权时间", "datetime", role="time"),
    ),
    checks=(_c("completeness", "kind", "name", "community"), _c("conformity", "phone", format="phone")),
    source_table="alert_subjects",
    select=_subject_rows,
    foreign=True,
    area=True,
)

BUILTIN: tuple[BuiltinResource, ...] = (
    EVENTS,
    AREAS,
    DEPARTMENTS,
    AUDIT,
    ENTITIES,
    TELEMETRY,
    INDICATORS,
    VULNERABLE,
)
BUILTIN_BY_CODE = {b.code: b for b in BUILTIN}
