"""The catalog of the demo city: the hub's own resources graded, three departments' resources with
synthetic data (unified social credit codes and ID numbers with valid check characters, a few planted
defects so the quality scores mean something), a request waiting for the data steward, an automatic
grant and an aggregate-only grant.

Everything goes through the services; the synthetic people and companies are generated, never real.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.cn import ric, uscc

from cityhub.access.principal import SYSTEM, Principal
from cityhub.audit.hooks import bind_principal
from cityhub.catalog import quality, service, sharing
from cityhub.catalog.schemas import ApproveIn, ResourceIn, ShareRequestIn
from cityhub.kit.timeutil import SHANGHAI, clock
from cityhub.models.area import Area, AreaLevel
from cityhub.models.catalog import AccessMode, CatalogResource, ShareRequest
from cityhub.models.org import Department, Role, User
from cityhub.org.service import principal_for

MARKET, DATA_BUREAU, HEALTH = "qd-scjgj", "qd-dsj", "qd-wjw"
HOUSING, CIVIL_AFFAIRS, URBAN = "qd-zjj", "qd-mzj", "qd-cgj"
REGISTRY, LEGAL_PERSONS, ELDERLY = "SCJG-QYDJ", "DSJ-FRK", "WJW-DJLR"

SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢"
    "蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
)
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚华玉萍红建国志海燕春梅文博晓东德胜淑珍凤"
TRADES = ("海洋科技", "机械制造", "食品", "建筑工程", "商贸", "物流", "信息技术", "餐饮管理", "建材", "医药")
INDUSTRIES = (
    "制造业",
    "建筑业",
    "批发和零售业",
    "交通运输、仓储和邮政业",
    "信息传输、软件和信息技术服务业",
    "住宿和餐饮业",
)
ROADS = ("香港中路", "东海西路", "延安三路", "辽阳西路", "长江中路", "重庆南路")
DISEASES = ("高血压", "糖尿病", "冠心病", "慢阻肺", "无")
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# District → weight of the elderly living alone there (older urban districts weigh more).
ELDERLY_WEIGHTS = {"370202": 5, "370203": 6, "370211": 3, "370212": 2, "370213": 3, "370214": 2}


def _f(name: str, title: str, type: str = "string", **extra: Any) -> dict[str, Any]:
    return {"name": name, "title": title, "type": type, **extra}


def _c(dimension: str, *fields: str, **extra: Any) -> dict[str, Any]:
    return {"dimension": dimension, "fields": list(fields), **extra}


REGISTRY_SPEC: dict[str, Any] = {
    "code": REGISTRY,
    "name": "企业登记信息",
    "department": MARKET,
    "description": "市场主体登记：统一社会信用代码、名称、法定代表人、住所、注册资本、成立日期、登记状态。",
    "source_system": "山东省市场主体登记系统（青岛）",
    "update_cycle": "daily",
    "grade": "general_3",
    "sharing": "conditional",
    "sharing_conditions": "用于市场主体监管与行政审批；法定代表人姓名、身份证号脱敏提供。",
    "open_attribute": "conditional",
    "open_conditions": "企业名称、统一社会信用代码、登记状态依法公示。",
    "tags": ["市场监管", "法人", "营商环境"],
    "area_field": "district",  # district and street departments receive their own area's rows
    "fields": [
        _f("uscc", "统一社会信用代码", role="key"),
        _f("name", "企业名称"),
        _f("legal_rep", "法定代表人", personal=True, mask="name"),
        # Personal, masked when shared; not classed sensitive: the registry publishes representatives.
        _f("legal_rep_id", "法定代表人身份证号", personal=True, mask="id_number"),
        _f("district", "所属区（市）", role="area"),
        _f("address", "住所"),
        _f("registered_capital", "注册资本（万元）", "number", min=0, max=10_000_000),
        _f("established", "成立日期", "date", role="time"),
        _f("status", "登记状态", role="category"),
    ],
    "quality_checks": [
        _c("completeness", "uscc", "name", "legal_rep", "district"),
        _c("conformity", "uscc", format="uscc"),
        _c("conformity", "legal_rep_id", format="citizen_id"),
        _c("conformity", "status", format="code_list", values=["存续", "在业", "注销", "吊销"]),
        _c("uniqueness", "uscc", threshold=100),
        _c("accuracy", "registered_capital", min=0, max=10_000_000),
        _c("consistency", "district", reference="CH-AREAS", reference_field="code", threshold=100),
        _c("timeliness", "established"),
    ],
}

LEGAL_PERSONS_SPEC: dict[str, Any] = {
    "code": LEGAL_PERSONS,
    "name": "法人基础信息库",
    "department": DATA_BUREAU,
    "description": "全市法人单位基础信息（汇聚市场监管、民政、编办登记），一数一源以企业登记为准。",
    "source_system": "青岛市公共数据平台·法人库",
    "update_cycle": "weekly",
    "grade": "general_3",
    "sharing": "conditional",
    "sharing_conditions": "按最小必要原则申请；法定代表人姓名、身份证号脱敏提供，确需明文的由提供部门审核。",
    "open_attribute": "none",
    "tags": ["基础库", "法人", "公共数据"],
    "area_field": "district",  # district and street departments receive their own area's rows
    "fields": [
        _f("uscc", "统一社会信用代码", role="key"),
        _f("name", "单位名称"),
        _f("legal_rep", "法定代表人", personal=True, mask="name"),
        _f("legal_rep_id", "法定代表人身份证号", personal=True, mask="id_number"),
        _f("district", "所属区（市）", role="area"),
        _f("industry", "行业门类", role="category"),
        _f("employees", "从业人数", "integer", min=0, max=100_000),
        _f("updated", "更新日期", "date", role="time"),
    ],
    "quality_checks": [
        _c("completeness", "uscc", "name", "district", "industry"),
        _c("conformity", "uscc", format="uscc"),
        _c("uniqueness", "uscc", threshold=100),
        _c("accuracy", "employees", min=0, max=100_000),
        _c(
            "consistency",
            "uscc",
            reference=REGISTRY,
            reference_field="uscc",
            name="统一社会信用代码见于企业登记",
        ),
        _c(
            "consistency",
            "name",
            reference=REGISTRY,
            reference_field="name",
            key="uscc",
            reference_key="uscc",
            name="单位名称与企业登记一致",
        ),
        _c("timeliness", "updated"),
    ],
}

ELDERLY_SPEC: dict[str, Any] = {
    "code": ELDERLY,
    "name": "独居老人健康档案",
    "department": HEALTH,
    "description": "65岁以上独居老人的基本健康档案：慢性病、建档日期、居住地（用于家庭医生签约与探访关爱）。",
    "source_system": "青岛市全民健康信息平台",
    "update_cycle": "monthly",
    "grade": "important",
    "sharing": "conditional",
    "sharing_conditions": "健康、行踪属敏感个人信息：仅以聚合统计方式共享（可用不可见），原始数据不出域。",
    "open_attribute": "none",
    "tags": ["卫生健康", "养老", "敏感个人信息"],
    "area_field": "street",  # district and street departments receive their own area's rows
    "fields": [
        _f("name", "姓名", personal=True, sensitivity="sensitive", mask="name"),
        _f("id_number", "身份证号", personal=True, sensitivity="sensitive", mask="id_number"),
        _f("age", "年龄", "integer", min=60, max=120),
        _f("gender", "性别", role="category"),
        _f("district", "所属区（市）", role="area"),
        _f("street", "所属街道", role="area"),
        _f("chronic_disease", "主要慢性病", role="category", personal=True, sensitivity="sensitive"),
        _f("lon", "居住地经度", "number", role="lon", sensitivity="sensitive", mask="location"),
        _f("lat", "居住地纬度", "number", role="lat", sensitivity="sensitive", mask="location"),
        _f("registered", "建档日期", "date", role="time"),
    ],
    "quality_checks": [
        _c("completeness", "name", "id_number", "age", "district", "street"),
        _c("conformity", "id_number", format="citizen_id"),
        _c("uniqueness", "id_number", threshold=100),
        _c("accuracy", "age", min=60, max=120),
        _c("consistency", "street", reference="CH-AREAS", reference_field="code", threshold=100),
        _c("timeliness", "registered"),
    ],
}


# ---------------------------------------------------------------- synthetic identities


def citizen_id(rng: random.Random, area: str, born: date, *, valid: bool = True) -> str:
    """A synthetic ID number (GB 11643) with a correct MOD 11-2 check character (or a wrong one)."""
    body = f"{area}{born:%Y%m%d}{rng.randrange(1000):03d}"
    check = ric.calc_check_digit(body + "0")
    if not valid:
        check = "0123456789X"[("0123456789X".index(check) + 1) % 11]
    return body + check


def credit_code(rng: random.Random, area: str, *, valid: bool = True) -> str:
    """A synthetic unified social credit code (GB 32100): 91 + area + organisation code + check."""
    body = "91" + area + "".join(rng.choice(USCC_CHARS) for _ in range(9))
    check = uscc.calc_check_digit(body)
    if not valid:
        check = USCC_CHARS[(USCC_CHARS.index(check) + 1) % len(USCC_CHARS)]
    return body + check


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def company_name(rng: random.Random) -> str:
    return f"青岛{rng.choice('海华瑞泰恒昌盛鑫')}{rng.choice('德诚信达通远宏安')}{rng.choice(TRADES)}有限公司"


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def registry_rows(
    rng: random.Random, districts: list[str], today: date, n: int = 400
) -> list[dict[str, Any]]:
    """Companies; about 2 % wrong credit-code check characters, 1 % wrong ID numbers, a few duplicates."""
    rows = []
    for i in range(n):
        district = rng.choice(districts)
        rep_born = date(1960, 1, 1) + timedelta(days=rng.randrange(365 * 40))
        rows.append(
            {
                "uscc": credit_code(rng, district, valid=rng.random() > 0.02),
                "name": company_name(rng),
                "legal_rep": "" if rng.random() < 0.02 else person_name(rng),
                "legal_rep_id": citizen_id(rng, district, rep_born, valid=rng.random() > 0.01),
                "district": district,
                "address": f"{rng.choice(ROADS)}{rng.randint(1, 300)}号",
                "registered_capital": -5 if i == 7 else round(rng.lognormvariate(5, 1.2), 1),
                "established": (today - timedelta(days=int(rng.expovariate(1 / 900)))).isoformat(),
                "status": rng.choices(("存续", "在业", "注销", "吊销"), weights=(70, 20, 8, 2))[0],
            }
        )
    for i in (11, 12, 13):  # the same company registered twice
        rows[i + 100]["uscc"] = rows[i]["uscc"]
    return rows


def legal_person_rows(
    rng: random.Random, registry: list[dict[str, Any]], today: date
) -> list[dict[str, Any]]:
    """The base library built from the registry; about 2 % names drifted, 1 % codes unknown to it."""
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for company in registry[:350]:
        if company["uscc"] in seen:
            continue
        seen.add(company["uscc"])
        name = company["name"]
        if rng.random() < 0.02:
            name = name.replace("有限公司", "有限责任公司")
        code = company["uscc"] if rng.random() > 0.01 else credit_code(rng, company["district"])
        rows.append(
            {
                "uscc": code,
                "name": name,
                "legal_rep": company["legal_rep"],
                "legal_rep_id": company["legal_rep_id"],
                "district": company["district"],
                "industry": rng.choice(INDUSTRIES),
                "employees": int(rng.lognormvariate(3, 1.1)),
                "updated": (today - timedelta(days=rng.randrange(6))).isoformat(),
            }
        )
    return rows


def elderly_rows(
    rng: random.Random, streets: list[tuple[str, float, float]], today: date, n: int = 600
) -> list[dict[str, Any]]:
    """Elderly people living alone, weighted to the older urban districts; ages follow the ID numbers."""
    weights = [ELDERLY_WEIGHTS.get(code[:6], 1) for code, _lon, _lat in streets]
    rows = []
    for i in range(n):
        street, lon, lat = rng.choices(streets, weights=weights)[0]
        born = today - timedelta(days=int(365.25 * min(65 + rng.expovariate(1 / 9), 104)))
        age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        if i in (17, 301):
            age //= 10  # a typing slip (76 → 7) for the accuracy check to find
        rows.append(
            {
                "name": person_name(rng),
                "id_number": citizen_id(rng, street[:6], born, valid=rng.random() > 0.005),
                "age": age,
                "gender": rng.choice(("男", "女", "女")),
                "district": street[:6],
                "street": street,
                "chronic_disease": rng.choices(DISEASES, weights=(40, 20, 12, 8, 20))[0],
                "lon": round(lon + rng.uniform(-0.004, 0.004), 6),
                "lat": round(lat + rng.uniform(-0.004, 0.004), 6),
                "registered": (today - timedelta(days=rng.randrange(720))).isoformat(),
            }
        )
    return rows


# ---------------------------------------------------------------- seeding


@dataclass(frozen=True)
class CatalogDemo:
    resources: int
    pending_request_id: int | None
    auto_grant_request_id: int | None
    aggregate_grant_request_id: int | None


def seed_catalog_demo(session: Session, *, seed: int = 0) -> CatalogDemo:
    """Seed the demo catalog on the seeded demo city; flushes, the caller commits."""
    bind_principal(session, SYSTEM)
    service.ensure_builtin(session)
    departments = {d.code: d for d in session.scalars(select(Department))}
    rng = random.Random(seed)
    today = clock.now().astimezone(SHANGHAI).date()
    if {MARKET, DATA_BUREAU, HEALTH} <= departments.keys():
        _seed_external(session, rng, today)
    for resource in session.scalars(select(CatalogResource).order_by(CatalogResource.id)):
        quality.run_resource(session, resource, trigger="seed")
    requests = _seed_requests(session, departments)
    bind_principal(session, SYSTEM)
    count = len(session.scalars(select(CatalogResource.id)).all())
    return CatalogDemo(count, *requests)


def _seed_external(session: Session, rng: random.Random, today: date) -> None:
    districts = sorted(session.scalars(select(Area.code).where(Area.level == AreaLevel.DISTRICT)).all())
    streets = [
        (a.code, a.center_lon or 120.38, a.center_lat or 36.07)
        for a in session.scalars(select(Area).where(Area.level == AreaLevel.STREET).order_by(Area.code))
    ]
    for spec in (REGISTRY_SPEC, LEGAL_PERSONS_SPEC, ELDERLY_SPEC):
        service.register(session, SYSTEM, ResourceIn.model_validate(spec))
    registry = registry_rows(rng, districts, today)
    service.load_sample(session, SYSTEM, REGISTRY, _csv(registry))
    service.load_sample(session, SYSTEM, LEGAL_PERSONS, _csv(legal_person_rows(rng, registry, today)))
    if streets:
        service.load_sample(session, SYSTEM, ELDERLY, _csv(elderly_rows(rng, streets, today)))


def _acting_for(session: Session, departments: dict[str, Department], code: str, username: str) -> Principal:
    """The demo user of the department if there is one, else a data steward acting for it."""
    user = session.scalar(select(User).where(User.username == username))
    if user is not None and user.department_id == departments[code].id:
        return principal_for(session, user)
    return Principal(None, f"数据专员@{code}", Role.DATA_STEWARD, department_id=departments[code].id)


def _seed_requests(
    session: Session, departments: dict[str, Department]
) -> tuple[int | None, int | None, int | None]:
    needed = {HOUSING, CIVIL_AFFAIRS, URBAN, DATA_BUREAU, HEALTH}
    if not needed <= departments.keys():
        return None, None, None
    housing = _acting_for(session, departments, HOUSING, "handler_zhujian")
    pending = _request(
        session,
        housing,
        LEGAL_PERSONS,
        ["uscc", "name", "legal_rep", "legal_rep_id", "district"],
        "建筑业企业资质审批：核验申请企业及其法定代表人信息",
        "《建筑业企业资质管理规定》；《山东省公共数据共享工作细则》",
        AccessMode.ROWS,
    )
    urban = _acting_for(session, departments, URBAN, "handler_chengguan")
    automatic = _request(
        session,
        urban,
        "CH-AREAS",
        ["code", "name", "level", "parent"],
        "网格化管理：对齐城管网格与行政区划",
        "《城市管理执法办法》",
        AccessMode.ROWS,
    )
    civil = _acting_for(session, departments, CIVIL_AFFAIRS, "handler_minzheng")
    aggregate_req = _request(
        session,
        civil,
        ELDERLY,
        ["district", "street", "age", "chronic_disease", "registered"],
        "特殊困难老年人探访关爱：按区、街道统计独居老人数量与年龄结构，配置服务资源",
        "《山东省养老服务条例》；民政部等《关于加强特殊困难老年人探访关爱服务的指导意见》",
        AccessMode.AGGREGATE,
    )
    if aggregate_req is not None:
        decision = ApproveIn(reason="同意：仅限聚合统计，小于10人的分组不予返回", period_days=180)
        sharing.approve(session, SYSTEM, aggregate_req.id, decision)
    return (
        pending.id if pending else None,
        automatic.id if automatic else None,
        aggregate_req.id if aggregate_req else None,
    )


def _request(
    session: Session,
    principal: Principal,
    resource: str,
    fields: list[str],
    purpose: str,
    legal_basis: str,
    mode: AccessMode,
) -> ShareRequest | None:
    if session.scalar(select(CatalogResource.id).where(CatalogResource.code == resource)) is None:
        return None
    bind_principal(session, principal)
    data = ShareRequestIn(
        resource=resource, fields=fields, purpose=purpose, legal_basis=legal_basis, period_days=180, mode=mode
    )
    return sharing.create_request(session, principal, data)
