"""Shared by the sensing tests: the tiny city with the demo's department codes, readings on the bus."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from cityhub.access.principal import SYSTEM
from cityhub.events import categories
from cityhub.indicators import service as indicators
from cityhub.indicators.spec import IndicatorSpec, WatchSpec
from cityhub.kit.bus import bus
from cityhub.models.org import DepartmentKind
from cityhub.org import service as org
from cityhub.rules import service as rules
from cityhub.rules.runtime import Pipeline
from cityhub.rules.spec import RuleSpec
from tests.factories import City, build_city

T0 = datetime(2026, 7, 20, 2, 0, tzinfo=UTC)  # 10:00 in Qingdao, a Monday
GRID_EAST_1 = "370201001001001"
GRID_EAST_2 = "370201002001001"
GRID_WEST_1 = "370202001001001"

# The demo's departments that the scenario packs name (cityhub/sim/seed.py).
DEMO_DEPARTMENTS = {
    "qd-swglj": "青岛市水务管理局",
    "qd-cgj": "青岛市城市管理局",
    "qd-yjglj": "青岛市应急管理局",
    "qd-jjzd": "青岛市公安局交通警察支队",
    "qd-nyjt": "青岛能源集团有限公司",
    "qd-xfjy": "青岛市消防救援支队",
    "qd-zjj": "青岛市住房和城乡建设局",
    "qd-mzj": "青岛市民政局",
}
SCENARIO_CATEGORIES = [
    ["城乡建设", "市政设施", "道路积水"],
    ["城乡建设", "市政设施", "燃气泄漏"],
    ["公共安全", "安全隐患", "消防通道堵塞"],
]


def sensing_city(session: Session) -> City:
    """The tiny test city plus the departments and categories the scenario packs use."""
    city = build_city(session)
    for code, name in DEMO_DEPARTMENTS.items():
        kind = DepartmentKind.ENTERPRISE if code == "qd-nyjt" else DepartmentKind.BUREAU
        city.departments[code] = org.create_department(session, code=code, name=name, kind=kind)
    categories.import_rows(session, SCENARIO_CATEGORIES)
    session.flush()
    return city


def reading(
    device: str, metric: str, at: datetime, value: float, area_id: int | None = None
) -> dict[str, Any]:
    return {
        "device": device,
        "metric": metric,
        "ts": at.isoformat(),
        "value": value,
        "entity_id": None,
        "area_id": area_id,
    }


def publish(readings: list[dict[str, Any]]) -> None:
    """What telemetry does once readings are durable."""
    bus.publish("telemetry.readings", readings)


def series(
    device: str, metric: str, start: datetime, step: timedelta, values: list[float], area_id: int | None
) -> list[dict[str, Any]]:
    return [reading(device, metric, start + i * step, v, area_id) for i, v in enumerate(values)]


def define(
    session: Session,
    *,
    indicators_: list[dict[str, Any]] = (),  # type: ignore[assignment]
    watches: list[dict[str, Any]] = (),  # type: ignore[assignment]
    rules_: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> None:
    for data in indicators_:
        indicators.upsert(session, SYSTEM, IndicatorSpec.model_validate(data))
    for data in watches:
        indicators.upsert_watch(session, SYSTEM, WatchSpec.model_validate(data))
    for data in rules_:
        rules.upsert(session, SYSTEM, RuleSpec.model_validate(data))
    session.flush()


@contextmanager
def running(factory: sessionmaker[Session]) -> Iterator[Pipeline]:
    """The sensing pipeline, inline (in the publisher's thread), for the length of the block."""
    pipeline = Pipeline(factory, inline=True, flush_s=0.0)
    with pipeline:
        yield pipeline
