"""Request and response models of the catalog, and the declarations stored as data on a resource:
its fields (``FieldSpec``) and its quality checks (``CheckSpec``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cityhub.kit.text import Input
from cityhub.kit.timeutil import LocalInstant
from cityhub.models.catalog import (
    AccessMode,
    DataGrade,
    GrantScope,
    OpenAttribute,
    RequestStatus,
    SharingAttribute,
    UpdateCycle,
)

FIELD_NAME = r"^[a-z][a-z0-9_]{0,39}$"
RESOURCE_CODE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,59}$"
MAX_FIELDS_PER_REQUEST = 30


class FieldType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    BOOLEAN = "boolean"


class Sensitivity(StrEnum):
    """Field sensitivity; a personal field marked ``sensitive`` is sensitive personal information."""

    PUBLIC = "public"
    INTERNAL = "internal"
    SENSITIVE = "sensitive"


class MaskKind(StrEnum):
    """How a delivered value is masked: 张*, 138****5678, 370202********1234, a grid code, 香港中路街道***."""

    NONE = "none"
    NAME = "name"
    PHONE = "phone"
    ID_NUMBER = "id_number"
    ADDRESS = "address"
    LOCATION = "location"
    REDACT = "redact"


class FieldRole(StrEnum):
    """What a field is for: the aggregate engine groups by area and time, masks locations by lon/lat."""

    NONE = "none"
    KEY = "key"
    AREA = "area"
    TIME = "time"
    CATEGORY = "category"
    LON = "lon"
    LAT = "lat"


class FieldSpec(Input):
    """One field (信息项) of a resource."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=FIELD_NAME, description="machine name (lower case, digits, _)")
    title: str = Field("", max_length=100, description="信息项名称")
    type: FieldType = FieldType.STRING
    description: str = Field("", max_length=500)
    personal: bool = Field(False, description="personal information (个人信息)")
    sensitivity: Sensitivity = Sensitivity.INTERNAL
    mask: MaskKind = Field(MaskKind.NONE, description="masking rule when delivered")
    role: FieldRole = FieldRole.NONE
    min: float | None = Field(None, description="lowest plausible value (numbers)")
    max: float | None = Field(None, description="highest plausible value (numbers)")

    @property
    def sensitive_personal(self) -> bool:
        return self.personal and self.sensitivity is Sensitivity.SENSITIVE

    @model_validator(mode="after")
    def _personal_fields_are_masked(self) -> FieldSpec:
        # Mask by default: a personal field without a rule is redacted rather than delivered as is.
        if (self.personal or self.sensitivity is Sensitivity.SENSITIVE) and self.mask is MaskKind.NONE:
            self.mask = MaskKind.REDACT
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"field {self.name}: min is above max")
        return self


class Dimension(StrEnum):
    """GB/T 36344-2018 data quality dimensions."""

    COMPLETENESS = "completeness"  # 完整性
    CONFORMITY = "conformity"  # 规范性
    ACCURACY = "accuracy"  # 准确性
    UNIQUENESS = "uniqueness"  # 唯一性 (part of 准确性 in the standard; scored apart here)
    CONSISTENCY = "consistency"  # 一致性
    TIMELINESS = "timeliness"  # 时效性


class ConformityFormat(StrEnum):
    CITIZEN_ID = "citizen_id"  # GB 11643, ISO 7064 MOD 11-2
    USCC = "uscc"  # GB 32100 unified social credit code
    PHONE = "phone"  # mainland mobile or fixed line
    AREA_CODE = "area_code"  # GB/T 2260 and below
    DATE = "date"  # ISO 8601 date or date-time
    REGEX = "regex"
    CODE_LIST = "code_list"


class CheckSpec(Input):
    """One executable quality check, declared as data on the resource."""

    model_config = ConfigDict(extra="forbid")

    dimension: Dimension
    fields: list[str] = Field(min_length=1, max_length=10)
    name: str = Field("", max_length=200)
    format: ConformityFormat | None = None
    pattern: str | None = Field(None, max_length=200)
    values: list[str] | None = Field(None, max_length=500)
    min: float | None = None
    max: float | None = None
    reference: str | None = Field(None, max_length=60, description="code of the other resource")
    reference_field: str | None = Field(None, max_length=40)
    key: str | None = Field(None, max_length=40, description="join key (consistency of values)")
    reference_key: str | None = Field(None, max_length=40)
    threshold: float = Field(95.0, ge=0, le=100, description="lowest passing score")

    @model_validator(mode="after")
    def _complete_for_dimension(self) -> CheckSpec:
        missing = {
            Dimension.CONFORMITY: self.format is None,
            Dimension.ACCURACY: self.min is None and self.max is None,
            Dimension.CONSISTENCY: self.reference is None,
        }.get(self.dimension, False)
        if missing:
            raise ValueError(f"a {self.dimension} check needs {_NEEDS[self.dimension]}")
        if self.format is ConformityFormat.REGEX and not self.pattern:
            raise ValueError("a regex conformity check needs a pattern")
        if self.format is ConformityFormat.CODE_LIST and not self.values:
            raise ValueError("a code_list conformity check needs values")
        return self

    @property
    def label(self) -> str:
        return self.name or f"{self.dimension}: {', '.join(self.fields)}"


_NEEDS = {
    Dimension.CONFORMITY: "a format",
    Dimension.ACCURACY: "min and/or max",
    Dimension.CONSISTENCY: "a reference resource",
}

Tags = list[str]


class ResourceIn(Input):
    """A resource to register (外部资源 registered by a department's data steward)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=RESOURCE_CODE, description="资源代码")
    name: str = Field(min_length=1, max_length=200, description="资源名称")
    department: str | None = Field(
        None, max_length=40, description="owning department code (default: your own department)"
    )
    description: str = Field("", max_length=2000)
    source_system: str = Field("", max_length=200)
    update_cycle: UpdateCycle = UpdateCycle.DAILY
    format: str = Field("table", max_length=40)
    grade: DataGrade
    sharing: SharingAttribute
    sharing_conditions: str = Field("", max_length=2000)
    open_attribute: OpenAttribute = OpenAttribute.NONE
    open_conditions: str = Field("", max_length=2000)
    tags: list[str] = Field(default_factory=list, max_length=20)
    area_field: str | None = Field(
        None,
        pattern=FIELD_NAME,
        description="the area-role string field holding each row's area code (GB/T 2260 and below): "
        "grants to a district or street department then deliver only the rows of its area",
    )
    fields: list[FieldSpec] = Field(min_length=1, max_length=200)
    quality_checks: list[CheckSpec] = Field(default_factory=list, max_length=50)


class ResourceUpdate(Input):
    """Changes to a resource's metadata, grade, attributes or checks (absent = unchanged)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    source_system: str | None = Field(None, max_length=200)
    update_cycle: UpdateCycle | None = None
    grade: DataGrade | None = None
    sharing: SharingAttribute | None = None
    sharing_conditions: str | None = Field(None, max_length=2000)
    open_attribute: OpenAttribute | None = None
    open_conditions: str | None = Field(None, max_length=2000)
    tags: list[str] | None = Field(None, max_length=20)
    area_field: str | None = Field(None, pattern=FIELD_NAME)
    quality_checks: list[CheckSpec] | None = Field(None, max_length=50)


class ResourceSummary(BaseModel):
    id: int
    code: str
    name: str
    department_id: int
    department: str
    grade: DataGrade
    grade_label: str
    sharing: SharingAttribute
    sharing_label: str
    open_attribute: OpenAttribute
    open_label: str
    update_cycle: UpdateCycle
    tags: list[str]
    restricting_tags: list[str] = Field(
        description="tags that are policy inputs (owner approval, a higher k for aggregates)"
    )
    builtin: bool
    holds_sensitive_personal_information: bool
    quality_score: float | None


class ResourceOut(ResourceSummary):
    description: str
    source_system: str
    format: str
    sharing_conditions: str
    open_conditions: str
    area_bound: bool = Field(
        description="its rows carry an area: grants to area-bound departments are confined"
    )
    area_field: str | None
    fields: list[FieldSpec]
    quality_checks: list[CheckSpec]
    source_table: str | None
    has_data: bool
    sample_rows: int
    created_at: datetime
    updated_at: datetime


class SampleLoaded(BaseModel):
    resource: str
    rows: int
    rejected: list[str]


class CheckResult(BaseModel):
    dimension: Dimension
    check: str
    checked: int
    failed: int
    score: float | None
    passed: bool
    message: str
    examples: list[str] = Field(default_factory=list)


class QualityRunOut(BaseModel):
    id: int
    resource: str
    started_at: datetime
    finished_at: datetime
    trigger: str
    rows: int
    scores: dict[str, float]
    overall: float | None
    passed: bool
    results: list[CheckResult]


class QualityDashboardRow(BaseModel):
    resource: str
    name: str
    department: str
    grade: DataGrade
    last_run_at: datetime | None
    rows: int | None
    overall: float | None
    scores: dict[str, float]
    passed: bool | None
    failed_checks: int
    open_alert: bool


class QualityAlertOut(BaseModel):
    id: int
    resource: str
    department_id: int
    run_id: int
    raised_at: datetime
    last_seen_at: datetime
    occurrences: int
    message: str
    failed_checks: list[dict[str, Any]]
    resolved_at: datetime | None


class ShareRequestIn(Input):
    """Ask for a resource: only the fields needed, why, on what legal basis, for how long."""

    model_config = ConfigDict(extra="forbid")

    resource: str = Field(pattern=RESOURCE_CODE, description="resource code")
    fields: list[str] = Field(min_length=1, max_length=200, description="field names, no wildcards")
    purpose: str = Field(min_length=4, max_length=500, description="用途")
    legal_basis: str = Field(min_length=2, max_length=500, description="共享依据 (law, regulation, mandate)")
    period_days: int = Field(90, ge=1, le=365, description="how long the grant should last")
    mode: AccessMode = Field(AccessMode.ROWS, description="rows (masked) or aggregate only")


class ApproveIn(Input):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", max_length=500)
    unmasked_fields: list[str] = Field(default_factory=list, max_length=50)
    dp_epsilon: float | None = Field(
        None, gt=0, le=10, description="Laplace noise on aggregates (smaller = more private)"
    )
    period_days: int | None = Field(None, ge=1, le=365, description="shorter than asked, if you wish")
    rate_per_minute: int = Field(60, ge=1, le=6000)
    scope: GrantScope = Field(
        GrantScope.AREA,
        description="area: a district or street department receives only its own area's rows (default); "
        "city: every row (city-wide, recorded on the grant)",
    )


class RejectIn(Input):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=2, max_length=500)


class RevokeIn(Input):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=2, max_length=500)


class ShareRequestOut(BaseModel):
    id: int
    resource: str
    resource_name: str
    owner_department_id: int
    department_id: int
    department: str
    requested_by_id: int | None
    mode: AccessMode
    fields: list[str]
    purpose: str
    legal_basis: str
    period_days: int
    status: RequestStatus
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    grant_id: int | None


class GrantOut(BaseModel):
    id: int
    request_id: int
    resource: str
    department_id: int
    department: str
    mode: AccessMode
    fields: list[str]
    unmasked_fields: list[str]
    purpose: str
    legal_basis: str
    dp_epsilon: float | None
    rate_per_minute: int
    scope: GrantScope
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None
    active: bool


class TokenIn(Input):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("grant client", min_length=1, max_length=100)


class TokenOut(BaseModel):
    grant_id: int
    token: str = Field(description="shown once; send it as 'Authorization: Bearer <token>'")
    prefix: str
    expires_at: datetime


class AccessLogOut(BaseModel):
    id: int
    at: datetime
    grant_id: int
    resource: str
    department_id: int
    actor: str
    mode: AccessMode
    fields: list[str]
    row_count: int
    purpose: str
    query: dict[str, Any]
    outcome: str
    detail: str | None


class AccessReportRow(BaseModel):
    resource: str
    department_id: int
    department: str
    accesses: int
    refused: int
    rows: int
    fields: list[str]
    purposes: list[str]
    first_at: datetime
    last_at: datetime


class SharedRows(BaseModel):
    grant_id: int
    resource: str
    fields: list[str]
    masked_fields: list[str]
    offset: int
    limit: int
    count: int
    rows: list[dict[str, Any]]
    area: str | None = Field(None, description="the rows are confined to this area and below (None: all)")


class Measure(StrEnum):
    COUNT = "count"
    SUM = "sum"
    MEAN = "mean"


class TimeBucket(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


class GroupKey(Input):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(pattern=FIELD_NAME)
    bucket: TimeBucket | None = Field(None, description="for time fields")


class AggregateQuery(Input):
    """A count, sum or mean grouped by area, time or category — computed inside the hub."""

    model_config = ConfigDict(extra="forbid")

    measure: Measure = Measure.COUNT
    field: str | None = Field(None, pattern=FIELD_NAME, description="numeric field for sum and mean")
    group_by: list[GroupKey] = Field(default_factory=list, max_length=3)
    filters: dict[str, str] = Field(
        default_factory=dict, max_length=5, description="equality on area or category fields"
    )
    since: LocalInstant | None = None
    until: LocalInstant | None = None

    @model_validator(mode="after")
    def _field_for_measure(self) -> AggregateQuery:
        if self.measure is not Measure.COUNT and self.field is None:
            raise ValueError(f"{self.measure} needs a numeric field")
        return self


class AggregateGroup(BaseModel):
    key: dict[str, str | None]
    value: float | None = Field(description="the count, sum or mean (a mean of no values is null)")


class AggregateOut(BaseModel):
    grant_id: int
    resource: str
    measure: Measure
    field: str | None
    k: int
    groups: list[AggregateGroup]
    suppressed_groups: int
    dp_epsilon: float | None
    area: str | None = Field(None, description="computed over this area's rows only (None: all)")
