"""Typed factories: a small synthetic city and its organisation, built through the services."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from shapely.geometry import box
from sqlalchemy.orm import Session

from cityhub.events import categories
from cityhub.geo import service as geo
from cityhub.geo.generate import AreaRecord
from cityhub.models.area import Area
from cityhub.models.event import Channel, DeadlineState, Event, EventStatus
from cityhub.models.org import Department, DepartmentKind, Role, User
from cityhub.org import service as org

PASSWORD = "correct-horse-42"


def square(
    code: str, name: str, level: str, parent: str | None, x: float, y: float, size: float
) -> AreaRecord:
    return AreaRecord(code, name, level, parent, box(x, y, x + size, y + size), (x + size / 2, y + size / 2))


def tiny_city() -> list[AreaRecord]:
    """A 2×2 km test city at Qingdao's longitude: two districts, two streets each, one grid per street."""
    s = 0.01
    records = [square("370200", "测试市", "city", None, 120.30, 36.00, 4 * s)]
    for d, (dx, dname) in enumerate([(0.0, "东区"), (2 * s, "西区")], start=1):
        dcode = f"37020{d}"
        records.append(
            AreaRecord(
                dcode,
                dname,
                "district",
                "370200",
                box(120.30 + dx, 36.00, 120.30 + dx + 2 * s, 36.04),
                (120.30 + dx + s, 36.02),
            )
        )
        for st in (1, 2):
            scode = f"{dcode}00{st}"
            y = 36.00 + (st - 1) * 2 * s
            records.append(square(scode, f"{dname}第{st}街道", "street", dcode, 120.30 + dx, y, 2 * s))
            ccode = f"{scode}001"
            records.append(square(ccode, f"{dname}{st}社区", "community", scode, 120.30 + dx, y, 2 * s))
            records.append(
                square(f"{ccode}001", f"{dname}{st}社区第1网格", "grid", ccode, 120.30 + dx, y, 2 * s)
            )
    return records


@dataclass
class City:
    areas: dict[str, Area]
    departments: dict[str, Department]
    users: dict[str, User] = field(default_factory=dict)


def build_city(session: Session) -> City:
    geo.import_records(session, tiny_city())
    areas = {a.code: a for a in session.query(Area)}
    depts = {
        "centre": org.create_department(
            session,
            code="ops",
            name="城市运行管理中心",
            kind=DepartmentKind.OPERATION_CENTRE,
            area_id=areas["370200"].id,
        ),
        "roads": org.create_department(session, code="roads", name="市政公用局", kind=DepartmentKind.BUREAU),
        "env": org.create_department(session, code="env", name="生态环境局", kind=DepartmentKind.BUREAU),
        "east_roads": org.create_department(
            session,
            code="east-roads",
            name="东区市政局",
            kind=DepartmentKind.DISTRICT_BUREAU,
            area_id=areas["370201"].id,
        ),
        "police": org.create_department(session, code="traffic", name="交警支队", kind=DepartmentKind.BUREAU),
    }
    categories.import_rows(
        session,
        [
            ["城乡建设", "市政设施", "道路破损"],
            ["城乡建设", "市政设施", "井盖缺失"],
            ["环境保护", "噪声污染", "施工噪声"],
        ],
    )
    city = City(areas, depts)
    add_user(session, city, "admin", Role.ADMIN)
    add_user(session, city, "dispatcher", Role.DISPATCHER, area="370200")
    add_user(session, city, "east_dispatcher", Role.DISPATCHER, area="370201")
    add_user(session, city, "roads_handler", Role.HANDLER, dept="roads")
    add_user(session, city, "east_handler", Role.HANDLER, dept="east_roads")
    add_user(session, city, "env_handler", Role.HANDLER, dept="env")
    add_user(session, city, "police_handler", Role.HANDLER, dept="police")
    add_user(session, city, "supervisor", Role.SUPERVISOR, area="370200")
    add_user(session, city, "grid_worker", Role.GRID_WORKER, area="370201001001001")
    add_user(session, city, "steward", Role.DATA_STEWARD)
    add_user(session, city, "citizen", Role.CITIZEN)
    add_user(session, city, "citizen2", Role.CITIZEN)
    session.flush()
    return city


def add_user(
    session: Session,
    city: City,
    username: str,
    role: Role,
    *,
    dept: str | None = None,
    area: str | None = None,
) -> User:
    user = org.create_user(
        session,
        username=username,
        password=PASSWORD,
        role=role,
        department_id=city.departments[dept].id if dept else None,
        area_id=city.areas[area].id if area else None,
    )
    city.users[username] = user
    return user


def login(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def bare_event(number: str, at: datetime | None = None, **columns: Any) -> Event:
    """An event row with only what its table requires (received at ``at``, default now) and ``columns``:
    for tests of what lies below the event service."""
    at = at or datetime.now(UTC)
    columns.setdefault("title", "路面破损")
    return Event(
        number=number,
        channel=Channel.APP,
        status=EventStatus.RECEIVED,
        created_at=at,
        updated_at=at,
        deadline_state=DeadlineState.NORMAL,
        **columns,
    )
