"""Tables, one module per table or small family, so domains can relate without import cycles."""

from cityhub.models.alert import Alert, AlertSubject, LinkageRule, RuleFiring
from cityhub.models.area import Area
from cityhub.models.audit import AuditLog
from cityhub.models.catalog import (
    AccessLog,
    CatalogResource,
    CatalogSampleRow,
    Grant,
    GrantToken,
    QualityAlert,
    QualityRun,
    ShareRequest,
)
from cityhub.models.category import Category
from cityhub.models.dispatch import DispatchModel, DuplicateCandidate, HotspotEscalation, Place
from cityhub.models.entity import Entity, EntityRelation, SourceRecord
from cityhub.models.event import (
    Attachment,
    Event,
    EventAction,
    EventAssignment,
    EventCounter,
)
from cityhub.models.indicator import Indicator, IndicatorState, IndicatorValue, MetricWatch
from cityhub.models.org import ApiToken, Department, LoginFailure, LoginSession, RefreshToken, User
from cityhub.models.revision import ReferenceRevision
from cityhub.models.routing import RoutingRule, SlaPolicy
from cityhub.models.telemetry import DeadLetter, DirtyMinute, Reading, Rollup

__all__ = [
    "AccessLog",
    "Alert",
    "AlertSubject",
    "ApiToken",
    "Area",
    "Attachment",
    "AuditLog",
    "CatalogResource",
    "CatalogSampleRow",
    "Category",
    "DeadLetter",
    "Department",
    "DirtyMinute",
    "DispatchModel",
    "DuplicateCandidate",
    "Entity",
    "EntityRelation",
    "Event",
    "EventAction",
    "EventAssignment",
    "EventCounter",
    "Grant",
    "GrantToken",
    "HotspotEscalation",
    "Indicator",
    "IndicatorState",
    "IndicatorValue",
    "LinkageRule",
    "LoginFailure",
    "LoginSession",
    "MetricWatch",
    "Place",
    "QualityAlert",
    "QualityRun",
    "Reading",
    "ReferenceRevision",
    "RefreshToken",
    "Rollup",
    "RoutingRule",
    "RuleFiring",
    "ShareRequest",
    "SlaPolicy",
    "SourceRecord",
    "User",
]
