"""Catalog test data: departments' data stewards, a few resources with synthetic rows."""

from __future__ import annotations

import csv
import io
import random
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from cityhub.access.principal import SYSTEM
from cityhub.catalog import service
from cityhub.catalog.demo import citizen_id, credit_code, person_name
from cityhub.catalog.schemas import ResourceIn
from cityhub.models.catalog import CatalogResource
from cityhub.models.org import Role
from tests.factories import City, add_user

TODAY = date(2026, 11, 20)


def add_stewards(session: Session, city: City) -> None:
    """A data steward in the roads bureau, the environment bureau and the operation centre."""
    add_user(session, city, "roads_steward", Role.DATA_STEWARD, dept="roads")
    add_user(session, city, "env_steward", Role.DATA_STEWARD, dept="env")
    add_user(session, city, "ops_steward", Role.DATA_STEWARD, dept="centre")
    session.flush()


def csv_text(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def register(
    session: Session, spec: dict[str, Any], rows: list[dict[str, Any]] | None = None
) -> CatalogResource:
    resource = service.register(session, SYSTEM, ResourceIn.model_validate(spec))
    if rows:
        service.load_sample(session, SYSTEM, resource.code, csv_text(rows))
    return resource


def field(name: str, title: str = "", type: str = "string", **extra: Any) -> dict[str, Any]:
    return {"name": name, "title": title or name, "type": type, **extra}


# Road permits of the roads bureau: personal fields (masked), a location, 一般3级, 有条件共享.
PERMITS: dict[str, Any] = {
    "code": "ROADS-PERMITS",
    "name": "道路挖掘许可",
    "department": "roads",
    "update_cycle": "daily",
    "grade": "general_3",
    "sharing": "conditional",
    "sharing_conditions": "申请人信息脱敏",
    "tags": ["城市建设", "许可"],
    "fields": [
        field("permit_no", "许可编号", role="key"),
        field("company_code", "统一社会信用代码"),
        field("applicant", "申请人", personal=True, mask="name"),
        field("applicant_id", "申请人身份证号", personal=True, mask="id_number"),
        field("phone", "电话", personal=True, mask="phone"),
        field("district", "区", role="area"),
        field("lon", "经度", "number", role="lon", sensitivity="sensitive", mask="location"),
        field("lat", "纬度", "number", role="lat", sensitivity="sensitive", mask="location"),
        field("issued", "发证日期", "date", role="time"),
        field("length_m", "挖掘长度（米）", "number", min=0, max=5000),
    ],
    "quality_checks": [
        {"dimension": "completeness", "fields": ["permit_no", "applicant", "district"]},
        {"dimension": "conformity", "fields": ["applicant_id"], "format": "citizen_id"},
        {"dimension": "conformity", "fields": ["company_code"], "format": "uscc"},
        {"dimension": "uniqueness", "fields": ["permit_no"], "threshold": 100},
        {"dimension": "accuracy", "fields": ["length_m"], "min": 0, "max": 5000},
        {
            "dimension": "consistency",
            "fields": ["district"],
            "reference": "CH-AREAS",
            "reference_field": "code",
        },
        {"dimension": "timeliness", "fields": ["issued"]},
    ],
}


def permit_rows(n: int = 40, *, today: date = TODAY, seed: int = 1) -> list[dict[str, Any]]:
    """Clean synthetic permits in the tiny city's districts (370201 west half, 370202 east half)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        district = "370201" if i % 2 == 0 else "370202"
        x0 = 120.30 if district == "370201" else 120.32
        born = date(1970, 1, 1) + timedelta(days=rng.randrange(9000))
        rows.append(
            {
                "permit_no": f"P{i:04d}",
                "company_code": credit_code(rng, "370202"),
                "applicant": person_name(rng),
                "applicant_id": citizen_id(rng, "370202", born),
                "phone": f"139{rng.randrange(10**8):08d}",
                "district": district,
                "lon": round(x0 + rng.uniform(0.001, 0.019), 6),
                "lat": round(36.0 + rng.uniform(0.001, 0.039), 6),
                "issued": (today - timedelta(days=i % 30)).isoformat(),
                "length_m": rng.randint(5, 400),
            }
        )
    return rows


# Home-care records of the environment bureau (for the sake of a test): sensitive personal information.
CARE: dict[str, Any] = {
    "code": "ENV-CARE",
    "name": "独居老人关爱记录",
    "department": "env",
    "update_cycle": "monthly",
    "grade": "general_2",  # declared low on purpose: 就高从严 lifts it to 重要
    "sharing": "conditional",
    "sharing_conditions": "聚合使用",
    "tags": ["民生"],
    "fields": [
        field("name", "姓名", personal=True, sensitivity="sensitive", mask="name"),
        field("id_number", "身份证号", personal=True, sensitivity="sensitive", mask="id_number"),
        field("age", "年龄", "integer", min=60, max=120),
        field("district", "区", role="area"),
        field("street", "街道", role="area"),
        field("visited", "探访日期", "date", role="time"),
    ],
    "quality_checks": [{"dimension": "accuracy", "fields": ["age"], "min": 60, "max": 120}],
}


def care_rows(per_street: dict[str, int], *, seed: int = 2) -> list[dict[str, Any]]:
    """``per_street`` = street code → number of people; visits in November 2026."""
    rng = random.Random(seed)
    rows = []
    for street, n in per_street.items():
        for i in range(n):
            born = date(1940, 1, 1) + timedelta(days=rng.randrange(6000))
            rows.append(
                {
                    "name": person_name(rng),
                    "id_number": citizen_id(rng, street[:6], born),
                    "age": 70 + (i % 20),
                    "district": street[:6],
                    "street": street,
                    "visited": f"2026-11-{1 + i % 28:02d}",
                }
            )
    return rows
