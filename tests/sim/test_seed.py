"""The seeded demo city: people who can log in, Qingdao's districts, a routing table that reaches staff."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import pytest
import shapely
from shapely.geometry import Point, shape
from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from cityhub.access.tokens import authenticate
from cityhub.dispatch.routing import find_route
from cityhub.events import categories, deadlines
from cityhub.geo import service as geo
from cityhub.geo.crs import CRS, wgs84_to_gcj02
from cityhub.kit.errors import Unauthorized
from cityhub.kit.settings import Mode, Settings
from cityhub.models.area import Area, AreaLevel
from cityhub.models.category import Category
from cityhub.models.event import Urgency
from cityhub.models.org import Department, Role, User
from cityhub.models.routing import RoutingRule
from cityhub.sim import seed
from cityhub.sim.seed import DemoAlreadySeeded, DemoCity
from tests.sim import PASSWORD, rolled_back, seeded_city

SHINAN = (120.38, 36.065)  # near 香港中路 / 五四广场, WGS-84


@pytest.fixture(scope="module")
def demo(engine: Engine) -> Iterator[tuple[Connection, DemoCity]]:
    with seeded_city(engine) as seeded:
        yield seeded


@pytest.fixture
def city(demo: tuple[Connection, DemoCity]) -> DemoCity:
    return demo[1]


@pytest.fixture
def db(demo: tuple[Connection, DemoCity]) -> Iterator[Session]:
    with rolled_back(demo[0]) as factory, factory() as session:
        yield session


def _department(session: Session, code: str) -> Department:
    department = session.scalar(select(Department).where(Department.code == code))
    assert department is not None, code
    return department


def _area(session: Session, code: str) -> Area:
    return geo.get_area(session, code)


def test_every_role_has_a_demo_user_who_logs_in(db: Session, city: DemoCity) -> None:
    assert {u.username for u in city.logins} == set(seed.DEMO_USERNAMES)
    # Gateways and monitors (Prometheus) are machine clients with API tokens, not people who log in.
    assert {u.role for u in city.logins} == set(Role) - {Role.GATEWAY, Role.MONITOR}
    for demo_user in city.logins:
        user = authenticate(db, Settings(mode=Mode.TEST), demo_user.username, PASSWORD)
        assert user.role == demo_user.role
    staff = next(u for u in city.users if not u.can_log_in)
    with pytest.raises(Unauthorized):
        authenticate(db, Settings(mode=Mode.TEST), staff.username, PASSWORD)


def test_demo_users_sit_where_their_work_is(db: Session) -> None:
    users = {u.username: u for u in db.scalars(select(User))}
    assert _area(db, "370202").id == users["dispatcher_shinan"].area_id
    grid = db.get(Area, users["grid_worker"].area_id)
    assert grid is not None and grid.level == AreaLevel.GRID and grid.code.startswith("370202")
    shinan_bureau = _department(db, seed.district_bureau_code("370202"))
    assert users["handler_shinan_chengguan"].department_id == shinan_bureau.id
    assert users["handler_nengyuan"].department_id == _department(db, "qd-nyjt").id


def test_each_demo_user_whose_work_the_stream_does_has_a_colleague_without_a_password(db: Session) -> None:
    users = {u.username: u for u in db.scalars(select(User))}
    for spec in seed.DEMO_USERS:
        colleague = users.get(seed.colleague_of(spec.username))
        if spec.role not in seed.COLLEAGUE_ROLES:
            assert colleague is None
            continue
        demo_user = users[spec.username]
        assert colleague is not None and colleague.password_hash is None
        assert (colleague.role, colleague.department_id, colleague.area_id) == (
            demo_user.role,
            demo_user.department_id,
            demo_user.area_id,
        )
    # A city seeded before colleagues existed gets them on its next start, once.
    for spec in seed.DEMO_USERS:
        if spec.role in seed.COLLEAGUE_ROLES:
            db.delete(users[seed.colleague_of(spec.username)])
    db.flush()
    added = seed.add_colleagues(db, random.Random(1))
    assert {u.username for u in added} == {
        seed.colleague_of(s.username) for s in seed.DEMO_USERS if s.role in seed.COLLEAGUE_ROLES
    }
    assert seed.add_colleagues(db, random.Random(1)) == []


def test_qingdao_has_its_ten_districts_with_census_population(db: Session, city: DemoCity) -> None:
    districts = {a.code: a for a in db.scalars(select(Area).where(Area.level == AreaLevel.DISTRICT))}
    assert city.districts == 10
    assert set(districts) == set(seed.POPULATION_2020)
    names = {a.name for a in districts.values()}
    assert {
        "市南区",
        "市北区",
        "黄岛区",
        "崂山区",
        "李沧区",
        "城阳区",
        "即墨区",
        "胶州市",
        "平度市",
        "莱西市",
    } == names
    assert all(a.population == seed.POPULATION_2020[code] for code, a in districts.items())
    assert _area(db, "370200").population == 10_071_722  # the published city total


def test_a_point_in_shinan_is_located_to_shinan(db: Session) -> None:
    shinan = _area(db, "370202")
    assert shinan.geometry is not None
    assert shape(json.loads(shinan.geometry)).contains(Point(*SHINAN))
    for lon, lat, crs in ((*SHINAN, CRS.WGS84), (*wgs84_to_gcj02(*SHINAN), CRS.GCJ02)):
        located = geo.locate(db, lon, lat, crs)
        assert located.get(AreaLevel.DISTRICT) == shinan.id
        assert located.get(AreaLevel.GRID) is not None


def test_every_routing_rule_points_to_existing_active_departments(db: Session, city: DemoCity) -> None:
    rules = list(db.scalars(select(RoutingRule)))
    assert len(rules) == city.routing_rules > 40
    for rule in rules:
        for department_id in (rule.lead_department_id, *rule.co_department_ids):
            department = db.get(Department, department_id)
            assert department is not None and department.active
        assert rule.category_id is None or db.get(Category, rule.category_id) is not None
        assert rule.area_id is None or db.get(Area, rule.area_id) is not None


def test_every_leaf_in_every_district_reaches_a_staffed_department(db: Session) -> None:
    staffed = {u.department_id for u in db.scalars(select(User).where(User.role == Role.HANDLER))}
    leaves = list(db.scalars(select(Category).where(Category.level == 3)))
    assert len(leaves) == sum(len(v) for second in seed.TAXONOMY.values() for v in second.values())
    districts = [[a.id] for a in db.scalars(select(Area).where(Area.level == AreaLevel.DISTRICT))]
    for leaf in leaves:
        for area_ids in [[], *districts]:
            route = find_route(db, leaf.id, area_ids)
            assert route is not None, leaf.path
            assert {route.lead_department_id, *route.co_department_ids} <= staffed, leaf.path


@pytest.mark.parametrize(
    ("category", "area", "lead", "co"),
    [
        ("城乡建设/市政设施/燃气泄漏", "370202", "qd-nyjt", {"qd-yjglj", "qd-xfjy"}),
        ("城乡建设/市政设施/道路破损", "370202", "370202-cgj", set()),
        ("城乡建设/市政设施/道路破损", None, "qd-cgj", set()),
        ("城市管理/市容环境/占道经营", "370202001", "370202001-jdb", set()),
        ("城市管理/市容环境/占道经营", "370203", "370203-cgj", set()),
        ("环境保护/噪声污染/施工噪声", "370212", "qd-sthjj", {"qd-zjj"}),
        ("物业管理/物业服务/电梯故障", "370213", "qd-zjj", set()),
    ],
)
def test_routing_table_examples(
    db: Session, category: str, area: str | None, lead: str, co: set[str]
) -> None:
    chain = geo.ancestors(db, _area(db, area)) if area else []
    route = find_route(db, categories.find(db, category).id, [a.id for a in chain])
    assert route is not None
    codes = {d.id: d.code for d in db.scalars(select(Department))}
    assert codes[route.lead_department_id] == lead
    assert {codes[d] for d in route.co_department_ids} == co


def test_slas_follow_category_and_urgency(db: Session) -> None:
    def sla(path: str, urgency: Urgency) -> tuple[str, str]:
        found = deadlines.find_sla(db, categories.find(db, path).id, urgency)
        return str(found.sign_within), str(found.resolve_within)

    assert sla("城乡建设/市政设施/道路破损", Urgency.NORMAL) == ("2wh", "5wd")
    assert sla("城乡建设/市政设施/道路破损", Urgency.URGENT) == ("1h", "1wd")
    assert sla("城乡建设/市政设施/道路破损", Urgency.CRITICAL) == ("1h", "4h")
    assert sla("城市管理/市容环境/违章搭建", Urgency.NORMAL) == ("2wh", "15wd")
    assert sla("城乡建设/市政设施/燃气泄漏", Urgency.NORMAL) == ("1h", "4h")


def test_street_offices_and_district_bureaus_serve_their_areas(db: Session) -> None:
    offices = list(db.scalars(select(Department).where(Department.code.endswith("-jdb"))))
    assert {d.name for d in offices} == {f"{name}办事处" for _d, name, _slug in seed.STREET_OFFICES}
    for district in db.scalars(select(Area).where(Area.level == AreaLevel.DISTRICT)):
        bureau = _department(db, seed.district_bureau_code(district.code))
        assert bureau.area_id == district.id and bureau.name == f"{district.name}城市管理局"


def test_seeding_twice_is_refused(db: Session) -> None:
    with pytest.raises(DemoAlreadySeeded, match="already holds"):
        seed.seed_demo(db, PASSWORD)


def test_city_boundary_covers_the_districts(db: Session) -> None:
    city = _area(db, "370200")
    assert city.geometry is not None and city.parent_id is None
    boundary = shape(json.loads(city.geometry))
    assert shapely.contains_xy(boundary, *SHINAN)
