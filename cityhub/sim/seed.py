"""The demo city of Qingdao 青岛 (370200): areas, categories, departments, routing, SLAs and demo users.

Everything is built through the services, acting as the system principal, so validation and the audit log
apply exactly as they do for an administrator. The organisation and the routing table are data (the
tables below); ``seed_demo`` only interprets them.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from cityhub.access.principal import SYSTEM
from cityhub.audit.hooks import bind_principal
from cityhub.catalog.demo import seed_catalog_demo
from cityhub.dispatch import gazetteer, routing
from cityhub.events import categories, deadlines
from cityhub.geo import service as geo
from cityhub.geo.generate import DEFAULT_COMMUNITIES_PER_STREET, DEFAULT_GRIDS_PER_COMMUNITY, AreaRecord
from cityhub.geo.sources import QINGDAO, qingdao_demo_areas
from cityhub.kit.errors import Conflict
from cityhub.models.area import Area, AreaLevel
from cityhub.models.category import Category
from cityhub.models.dispatch import PlaceKind
from cityhub.models.event import Urgency
from cityhub.models.org import Department, DepartmentKind, Role, User
from cityhub.models.routing import RoutingRule, SlaPolicy
from cityhub.org import service as org
from cityhub.scenarios.demo import seed_scenarios
from cityhub.sim import texts

# ---------------------------------------------------------------- the category taxonomy

# A 12345 / 一网统管 taxonomy: first level → second level → leaves (68 leaves).
TAXONOMY: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "城乡建设": {
        "市政设施": (
            "道路破损",
            "井盖缺失或破损",
            "路灯不亮",
            "排水管道堵塞",
            "燃气泄漏",
            "道路积水",
            "桥梁护栏损坏",
        ),
        "建筑管理": ("建筑施工安全", "工程质量问题", "拖欠工程款"),
        "国土规划": ("违法占地", "规划许可咨询"),
    },
    "环境保护": {
        "噪声污染": ("施工噪声", "社会生活噪声", "工业噪声"),
        "大气污染": ("餐饮油烟", "工地扬尘", "露天焚烧", "工业废气"),
        "水污染": ("河道污染", "污水直排"),
    },
    "交通运输": {
        "道路交通": ("交通信号灯故障", "违章停车", "交通拥堵"),
        "公共交通": ("公交线路及站点", "出租车服务", "网约车服务"),
    },
    "市场监管": {
        "食品安全": ("无证经营食品", "过期变质食品"),
        "价格监管": ("价格欺诈", "未明码标价"),
        "消费维权": ("预付卡退费", "产品质量问题"),
    },
    "城市管理": {
        "市容环境": ("占道经营", "违章搭建", "垃圾清运", "乱贴小广告", "户外广告设施"),
        "园林绿化": ("树木倒伏", "绿地毁坏", "树木修剪"),
    },
    "公共安全": {
        "安全隐患": ("消防通道堵塞", "电动车违规充电", "高空坠物隐患", "危化品安全"),
        "社会治安": ("治安隐患", "寻衅滋事"),
    },
    "供水供热": {
        "供水": ("停水", "水压不足", "水质异常", "供水管道漏水"),
        "供热": ("暖气不热", "供热管道漏水"),
    },
    "物业管理": {
        "物业服务": ("电梯故障", "小区环境卫生", "物业收费纠纷"),
        "公共设施": ("楼道照明损坏", "单元门禁损坏"),
    },
    "教育卫生": {
        "教育": ("校外培训", "校园周边安全"),
        "医疗卫生": ("医疗服务", "病媒生物防制"),
    },
    "劳动保障": {
        "劳动关系": ("拖欠工资", "未签劳动合同"),
        "社会保险": ("社保缴纳", "养老金发放"),
    },
    "社会事务": {
        "民政服务": ("养老服务", "困难救助"),
    },
}

# ---------------------------------------------------------------- areas

# Resident population of the districts at the 7th national census (2020-11-01), from 青岛市第七次全国人口
# 普查公报 as republished by third parties; they add up exactly to the published city total of 10 071 722.
POPULATION_2020: Mapping[str, int] = {
    "370202": 486_643,  # 市南区
    "370203": 1_096_879,  # 市北区
    "370211": 1_903_595,  # 黄岛区（西海岸新区）
    "370212": 502_370,  # 崂山区
    "370213": 737_281,  # 李沧区
    "370214": 1_109_606,  # 城阳区
    "370215": 1_336_077,  # 即墨区
    "370281": 987_820,  # 胶州市
    "370283": 1_191_348,  # 平度市
    "370285": 720_103,  # 莱西市
}

# Pinyin of each district, for user names (handler_shinan_chengguan, grid_worker_licang…).
DISTRICT_SLUGS: Mapping[str, str] = {
    "370202": "shinan",
    "370203": "shibei",
    "370211": "huangdao",
    "370212": "laoshan",
    "370213": "licang",
    "370214": "chengyang",
    "370215": "jimo",
    "370281": "jiaozhou",
    "370283": "pingdu",
    "370285": "laixi",
}

# ---------------------------------------------------------------- the organisation


@dataclass(frozen=True)
class DepartmentSpec:
    """A city-level department; its handler (if it gets one) is ``handler_<slug>``."""

    code: str
    name: str
    kind: DepartmentKind
    slug: str


_B, _E = DepartmentKind.BUREAU, DepartmentKind.ENTERPRISE
OPERATION_CENTRE = "qd-yxzx"
CITY_DEPARTMENTS: tuple[DepartmentSpec, ...] = (
    DepartmentSpec(OPERATION_CENTRE, "青岛市城市运行管理中心", DepartmentKind.OPERATION_CENTRE, "yunxing"),
    DepartmentSpec("qd-dsj", "青岛市大数据发展管理局", _B, "dashuju"),
    DepartmentSpec("qd-cgj", "青岛市城市管理局", _B, "chengguan"),
    DepartmentSpec("qd-zjj", "青岛市住房和城乡建设局", _B, "zhujian"),
    DepartmentSpec("qd-sthjj", "青岛市生态环境局", _B, "huanjing"),
    DepartmentSpec("qd-jtysj", "青岛市交通运输局", _B, "jiaotong"),
    DepartmentSpec("qd-jjzd", "青岛市公安局交通警察支队", _B, "jiaojing"),
    DepartmentSpec("qd-gaj", "青岛市公安局", _B, "gongan"),
    DepartmentSpec("qd-scjgj", "青岛市市场监督管理局", _B, "shichang"),
    DepartmentSpec("qd-swglj", "青岛市水务管理局", _B, "shuiwu"),
    DepartmentSpec("qd-yjglj", "青岛市应急管理局", _B, "yingji"),
    DepartmentSpec("qd-xfjy", "青岛市消防救援支队", _B, "xiaofang"),
    DepartmentSpec("qd-nyjt", "青岛能源集团有限公司", _E, "nengyuan"),  # 燃气、供热
    DepartmentSpec("qd-swjt", "青岛水务集团有限公司", _E, "gongshui"),  # 城市供水
    DepartmentSpec("qd-wjw", "青岛市卫生健康委员会", _B, "weijian"),
    DepartmentSpec("qd-jyj", "青岛市教育局", _B, "jiaoyu"),
    DepartmentSpec("qd-rsj", "青岛市人力资源和社会保障局", _B, "renshe"),
    DepartmentSpec("qd-ylj", "青岛市园林和林业局", _B, "yuanlin"),
    DepartmentSpec("qd-mzj", "青岛市民政局", _B, "minzheng"),
    DepartmentSpec("qd-zrzyj", "青岛市自然资源和规划局", _B, "ziranziyuan"),
)


def district_bureau_code(district_code: str) -> str:
    """The district's 城市管理局, which handles 市政设施 and 市容环境 in its own district."""
    return f"{district_code}-cgj"


def district_centre_code(district_code: str) -> str:
    return f"{district_code}-yxzx"


def street_office_code(street_code: str) -> str:
    return f"{street_code}-jdb"


# (district, street name, pinyin): street offices that handle 物业管理 and 占道经营 in their street.
STREET_OFFICES: tuple[tuple[str, str, str], ...] = (
    ("370202", "香港中路街道", "xianggangzhonglu"),
    ("370202", "八大关街道", "badaguan"),
    ("370203", "台东街道", "taidong"),
    ("370213", "九水街道", "jiushui"),
)

# ---------------------------------------------------------------- routing and SLAs

# Category → (lead department, co-handling departments…), city-wide; deeper categories override.
CITY_ROUTES: Mapping[str, tuple[str, ...]] = {
    "城乡建设": ("qd-zjj",),
    "城乡建设/市政设施": ("qd-cgj",),
    "城乡建设/市政设施/燃气泄漏": ("qd-nyjt", "qd-yjglj", "qd-xfjy"),
    "城乡建设/国土规划": ("qd-zrzyj",),
    "环境保护": ("qd-sthjj",),
    "环境保护/噪声污染/施工噪声": ("qd-sthjj", "qd-zjj"),
    "环境保护/噪声污染/社会生活噪声": ("qd-gaj",),
    "环境保护/大气污染/工地扬尘": ("qd-zjj", "qd-sthjj"),
    "环境保护/水污染/河道污染": ("qd-sthjj", "qd-swglj"),
    "交通运输": ("qd-jtysj",),
    "交通运输/道路交通": ("qd-jjzd",),
    "市场监管": ("qd-scjgj",),
    "城市管理": ("qd-cgj",),
    "城市管理/园林绿化": ("qd-ylj",),
    "公共安全": ("qd-yjglj",),
    "公共安全/安全隐患/消防通道堵塞": ("qd-xfjy",),
    "公共安全/安全隐患/电动车违规充电": ("qd-xfjy",),
    "公共安全/社会治安": ("qd-gaj",),
    "供水供热": ("qd-swjt",),
    "供水供热/供水/水质异常": ("qd-swjt", "qd-swglj"),
    "供水供热/供热": ("qd-nyjt",),
    "物业管理": ("qd-zjj",),
    "教育卫生": ("qd-wjw",),
    "教育卫生/教育": ("qd-jyj",),
    "劳动保障": ("qd-rsj",),
    "社会事务": ("qd-mzj",),
}
# In each district these go to the district's own 城市管理局 (属地管理).
DISTRICT_ROUTED = ("城乡建设/市政设施", "城市管理/市容环境")
# In the streets with a street office these go to the office.
STREET_ROUTED = ("物业管理", "城市管理/市容环境/占道经营")

# (category or None, urgency or None, sign within, resolve within). Deadline units: h natural hours,
# d natural days, wh working hours, wd working days; the shortest unit is an hour.
SLAS: tuple[tuple[str | None, Urgency | None, str, str], ...] = (
    (None, None, "2wh", "5wd"),
    (None, Urgency.URGENT, "1h", "1wd"),
    (None, Urgency.CRITICAL, "1h", "4h"),
    ("城乡建设/市政设施/燃气泄漏", None, "1h", "4h"),
    ("城乡建设/国土规划", None, "4wh", "15wd"),
    ("城市管理/市容环境/违章搭建", None, "2wh", "15wd"),
    ("供水供热/供水/停水", None, "1h", "1d"),
    ("供水供热/供热/暖气不热", None, "2h", "2d"),
    ("劳动保障/劳动关系/拖欠工资", None, "2wh", "10wd"),
    ("市场监管/消费维权", None, "2wh", "7wd"),
)

# ---------------------------------------------------------------- demo users


@dataclass(frozen=True)
class UserSpec:
    """A demo user who can log in with the demo password; ``area`` is an area code, and a grid worker
    works in the first grid of that district."""

    username: str
    role: Role
    display_name: str
    department: str | None = None
    area: str | None = None


DEMO_USERS: tuple[UserSpec, ...] = (
    UserSpec("admin", Role.ADMIN, "系统管理员"),
    UserSpec("dispatcher", Role.DISPATCHER, "市指挥中心调度员 王海燕", OPERATION_CENTRE, QINGDAO),
    UserSpec(
        "dispatcher_shinan",
        Role.DISPATCHER,
        "市南区指挥中心调度员 于晓东",
        district_centre_code("370202"),
        "370202",
    ),
    UserSpec("operator_12345", Role.DISPATCHER, "12345热线话务员 孙丽", OPERATION_CENTRE, QINGDAO),
    UserSpec("supervisor", Role.SUPERVISOR, "督办专员 姜国华", OPERATION_CENTRE, QINGDAO),
    UserSpec("steward", Role.DATA_STEWARD, "数据管理员 曲文博", "qd-dsj", QINGDAO),
    UserSpec("citizen", Role.CITIZEN, "市民 张建国"),
    UserSpec("grid_worker", Role.GRID_WORKER, "网格员 隋春燕", None, "370202"),
    UserSpec("handler_chengguan", Role.HANDLER, "市城市管理局 刘强", "qd-cgj"),
    UserSpec("handler_zhujian", Role.HANDLER, "市住房和城乡建设局 陈静", "qd-zjj"),
    UserSpec("handler_huanjing", Role.HANDLER, "市生态环境局 杨磊", "qd-sthjj"),
    UserSpec("handler_jiaojing", Role.HANDLER, "市公安局交警支队 赵勇", "qd-jjzd"),
    UserSpec("handler_nengyuan", Role.HANDLER, "青岛能源集团 徐涛", "qd-nyjt"),
    UserSpec(
        "handler_shinan_chengguan", Role.HANDLER, "市南区城市管理局 宋娟", district_bureau_code("370202")
    ),
)
DEMO_USERNAMES: tuple[str, ...] = tuple(u.username for u in DEMO_USERS)
# The demo users whose work the stream also does: each has a colleague without a password, whom the stream
# acts as, so that a person logged in as the demo user is never acted for (cityhub.sim.stream).
COLLEAGUE_ROLES = frozenset({Role.DISPATCHER, Role.SUPERVISOR, Role.CITIZEN, Role.HANDLER})


def colleague_of(username: str) -> str:
    """The user name of a demo user's colleague."""
    return f"{username}_2"


@dataclass(frozen=True)
class DemoUser:
    """A user of the demo city. Staff (``can_log_in`` false) have no password: the stream acts as them
    (an administrator can give them one)."""

    username: str
    role: Role
    display_name: str
    department: str | None
    area: str | None
    can_log_in: bool


@dataclass(frozen=True)
class DemoCity:
    """What ``seed_demo`` built, for the CLI to print."""

    city: str
    areas: int
    districts: int
    categories: int
    departments: int
    routing_rules: int
    sla_policies: int
    users: tuple[DemoUser, ...]

    @property
    def logins(self) -> tuple[DemoUser, ...]:
        return tuple(u for u in self.users if u.can_log_in)


class DemoAlreadySeeded(Conflict):
    """The demo city is built once, on an empty database."""


# ---------------------------------------------------------------- building it


def seed_demo(
    session: Session,
    password: str,
    *,
    seed: int = 0,
    communities_per_street: int = DEFAULT_COMMUNITIES_PER_STREET,
    grids_per_community: int = DEFAULT_GRIDS_PER_COMMUNITY,
) -> DemoCity:
    """Build the demo city on an empty, migrated database; flushes, the caller commits.

    ``seed`` makes the generated boundaries and staff names reproducible; fewer communities and grids
    make seeding faster (tests).
    """
    bind_principal(session, SYSTEM)
    _require_empty(session)
    records = qingdao_demo_areas(
        seed, communities_per_street=communities_per_street, grids_per_community=grids_per_community
    )
    areas = _seed_areas(session, records)
    _seed_gazetteer(session)
    category_ids = _seed_categories(session)
    departments = _seed_departments(session, areas)
    _seed_routing(session, category_ids, departments, areas)
    _seed_slas(session, category_ids)
    users = _seed_users(session, password, departments, areas, _first_grids(records), random.Random(seed))
    seed_catalog_demo(session, seed=seed)
    seed_scenarios(session)  # the sensing scenario packs: devices, residents, indicators, rules
    return DemoCity(
        city=f"{areas[QINGDAO].name} ({QINGDAO})",
        areas=len(records),
        districts=sum(1 for r in records if r.level == AreaLevel.DISTRICT),
        categories=_count(session, Category.id),
        departments=len(departments),
        routing_rules=_count(session, RoutingRule.id),
        sla_policies=_count(session, SlaPolicy.id),
        users=users,
    )


def _count(session: Session, column: InstrumentedAttribute[int]) -> int:
    return session.scalar(select(func.count(column))) or 0


def _require_empty(session: Session) -> None:
    held = {
        "areas": _count(session, Area.id),
        "departments": _count(session, Department.id),
        "categories": _count(session, Category.id),
        "users": _count(session, User.id),
    }
    if any(held.values()):
        found = ", ".join(f"{n} {what}" for what, n in held.items() if n)
        raise DemoAlreadySeeded(
            f"the database already holds {found}; the demo city is seeded once, on an empty database "
            "(start afresh with `cityhub demo --fresh`)"
        )


def _seed_areas(session: Session, records: list[AreaRecord]) -> dict[str, Area]:
    """Import the area tree; returns the city, districts and streets by code."""
    geo.import_records(session, records)
    upper = (AreaLevel.CITY, AreaLevel.DISTRICT, AreaLevel.STREET)
    areas = {a.code: a for a in session.scalars(select(Area).where(Area.level.in_(upper)))}
    # There is no service for area attributes beyond the boundary import; the audit hook records this.
    for code, population in POPULATION_2020.items():
        if code in areas:
            areas[code].population = population
    areas[QINGDAO].population = sum(POPULATION_2020.values())
    session.flush()
    return areas


def _seed_gazetteer(session: Session) -> None:
    gazetteer.add_places(session, demo_places(), source="demo")


def demo_places() -> list[gazetteer.PlaceIn]:
    """The roads and landmarks the demo's reports name, so addresses are read as the city writes them."""
    kinds = ((PlaceKind.ROAD, "roads"), (PlaceKind.LANDMARK, "landmarks"))
    return [
        gazetteer.PlaceIn(name, kind, code)
        for code, places in texts.PLACES.items()
        for kind, field in kinds
        for name in getattr(places, field)
    ]


def _first_grids(records: list[AreaRecord]) -> dict[str, str]:
    """District code → the code of its first grid (where the district's grid worker works)."""
    first: dict[str, str] = {}
    for record in records:
        if record.level == AreaLevel.GRID:
            district = record.code[:6]
            first[district] = min(first.get(district, record.code), record.code)
    return first


def _seed_categories(session: Session) -> dict[str, int]:
    rows = [
        [first, second, leaf]
        for first, seconds in TAXONOMY.items()
        for second, leaves in seconds.items()
        for leaf in leaves
    ]
    categories.import_rows(session, rows)
    return {c.path: c.id for c in session.scalars(select(Category))}


def _seed_departments(session: Session, areas: Mapping[str, Area]) -> dict[str, Department]:
    city = areas[QINGDAO]
    made = {
        spec.code: org.create_department(
            session, code=spec.code, name=spec.name, kind=spec.kind, area_id=city.id
        )
        for spec in CITY_DEPARTMENTS
    }
    for district in _districts(areas):
        for code, name, kind, parent in (
            (district_bureau_code(district.code), "城市管理局", DepartmentKind.DISTRICT_BUREAU, "qd-cgj"),
            (
                district_centre_code(district.code),
                "城市运行管理中心",
                DepartmentKind.OPERATION_CENTRE,
                OPERATION_CENTRE,
            ),
        ):
            made[code] = org.create_department(
                session,
                code=code,
                name=district.name + name,
                kind=kind,
                area_id=district.id,
                parent_id=made[parent].id,
            )
    for street, _slug in _street_offices(areas):
        code = street_office_code(street.code)
        made[code] = org.create_department(
            session,
            code=code,
            name=f"{street.name}办事处",
            kind=DepartmentKind.STREET_OFFICE,
            area_id=street.id,
        )
    return made


def _districts(areas: Mapping[str, Area]) -> list[Area]:
    return sorted((a for a in areas.values() if a.level == AreaLevel.DISTRICT), key=lambda a: a.code)


def _street_offices(areas: Mapping[str, Area]) -> list[tuple[Area, str]]:
    """The streets of ``STREET_OFFICES`` that exist in the imported tree, with their slugs."""
    by_name = {(a.code[:6], a.name): a for a in areas.values() if a.level == AreaLevel.STREET}
    return [(by_name[(d, name)], slug) for d, name, slug in STREET_OFFICES if (d, name) in by_name]


def _seed_routing(
    session: Session,
    category_ids: Mapping[str, int],
    departments: Mapping[str, Department],
    areas: Mapping[str, Area],
) -> None:
    def add(path: str, lead: str, *co: str, area: Area | None = None) -> None:
        routing.add_rule(
            session,
            lead_department_id=departments[lead].id,
            category_id=category_ids[path],
            area_id=area.id if area else None,
            co_department_ids=tuple(departments[c].id for c in co),
        )

    for path, (lead, *co) in CITY_ROUTES.items():
        add(path, lead, *co)
    for district in _districts(areas):
        for path in DISTRICT_ROUTED:
            add(path, district_bureau_code(district.code), area=district)
    for street, _slug in _street_offices(areas):
        for path in STREET_ROUTED:
            add(path, street_office_code(street.code), area=street)


def _seed_slas(session: Session, category_ids: Mapping[str, int]) -> None:
    for path, urgency, sign, resolve in SLAS:
        deadlines.set_sla(
            session,
            category_id=category_ids[path] if path else None,
            urgency=urgency,
            sign_within=sign,
            resolve_within=resolve,
        )


def _seed_users(
    session: Session,
    password: str,
    departments: Mapping[str, Department],
    areas: Mapping[str, Area],
    first_grids: Mapping[str, str],
    rng: random.Random,
) -> tuple[DemoUser, ...]:
    grid_areas = {d: geo.get_area(session, code) for d, code in first_grids.items()}
    made: list[DemoUser] = []
    for spec in DEMO_USERS:
        area = _user_area(spec.role, spec.area, areas, grid_areas)
        made.append(_create(session, spec, password, departments, area))
    made += _seed_staff(session, departments, areas, grid_areas, rng)
    return tuple(made)


def _user_area(
    role: Role, code: str | None, areas: Mapping[str, Area], grid_areas: Mapping[str, Area]
) -> Area | None:
    if code is None:
        return None
    return grid_areas[code] if role is Role.GRID_WORKER else areas[code]


def _create(
    session: Session,
    spec: UserSpec,
    password: str | None,
    departments: Mapping[str, Department],
    area: Area | None,
) -> DemoUser:
    department = departments[spec.department] if spec.department else None
    org.create_user(
        session,
        username=spec.username,
        password=password,
        role=spec.role,
        display_name=spec.display_name,
        department_id=department.id if department else None,
        area_id=area.id if area else None,
    )
    return DemoUser(
        spec.username,
        spec.role,
        spec.display_name,
        department.name if department else None,
        area.name if area else None,
        can_log_in=password is not None,
    )


def _seed_staff(
    session: Session,
    departments: Mapping[str, Department],
    areas: Mapping[str, Area],
    grid_areas: Mapping[str, Area],
    rng: random.Random,
) -> list[DemoUser]:
    """The people the stream acts as: a colleague of each demo user whose work it does, a handler for
    every other department events can reach, a grid worker in every district. They get no password: the
    stream never acts as someone who can log in, and seeding stays fast (argon2 costs ~0.1 s a hash)."""
    made = add_colleagues(session, rng)
    specs: list[UserSpec] = []
    staffed = {spec.department for spec in DEMO_USERS if spec.role is Role.HANDLER}
    slugs = _handler_slugs(areas)
    for code in sorted(_reachable(session, departments) - staffed):
        department = departments[code]
        name = f"{department.name} {texts.person_name(rng)}"
        specs.append(UserSpec(f"handler_{slugs[code]}", Role.HANDLER, name, code))
    for district, slug in DISTRICT_SLUGS.items():
        if district in grid_areas:
            specs.append(
                UserSpec(
                    f"grid_worker_{slug}",
                    Role.GRID_WORKER,
                    f"网格员 {texts.person_name(rng)}",
                    None,
                    district,
                )
            )
    return made + [
        _create(session, spec, None, departments, _user_area(spec.role, spec.area, areas, grid_areas))
        for spec in specs
    ]


def add_colleagues(session: Session, rng: random.Random) -> list[DemoUser]:
    """A colleague without a password for each demo user whose work the stream does, in the same
    department and area, where missing: a city seeded before colleagues existed gets them on its next
    start (``cityhub.sim.demo.prepare``)."""
    bind_principal(session, SYSTEM)
    users = {user.username: user for user in session.scalars(select(User))}
    made = []
    for spec in DEMO_USERS:
        user = users.get(spec.username)
        username = colleague_of(spec.username)
        if spec.role not in COLLEAGUE_ROLES or user is None or username in users:
            continue
        department = session.get(Department, user.department_id) if user.department_id else None
        area = session.get(Area, user.area_id) if user.area_id else None
        name = f"{spec.display_name.rsplit(' ', 1)[0]} {texts.person_name(rng)}"
        org.create_user(
            session,
            username=username,
            password=None,
            role=spec.role,
            display_name=name,
            department_id=user.department_id,
            area_id=user.area_id,
        )
        made.append(
            DemoUser(
                username,
                spec.role,
                name,
                department.name if department else None,
                area.name if area else None,
                can_log_in=False,
            )
        )
    return made


def _reachable(session: Session, departments: Mapping[str, Department]) -> set[str]:
    """Codes of the departments some routing rule or some return story can send an event to."""
    ids: set[int] = set()
    for rule in session.scalars(select(RoutingRule)):
        ids.add(rule.lead_department_id)
        ids.update(rule.co_department_ids or ())
    codes = {code for code, d in departments.items() if d.id in ids}
    codes.update(s.redirect for s in texts.RETURN_STORIES if s.redirect in departments)
    return codes


def _handler_slugs(areas: Mapping[str, Area]) -> dict[str, str]:
    """Department code → the slug of its handler's user name (handler_<slug>)."""
    slugs = {spec.code: spec.slug for spec in CITY_DEPARTMENTS}
    slugs.update({district_bureau_code(d): f"{slug}_chengguan" for d, slug in DISTRICT_SLUGS.items()})
    slugs.update(
        {street_office_code(street.code): f"{slug}_jiedao" for street, slug in _street_offices(areas)}
    )
    return slugs
