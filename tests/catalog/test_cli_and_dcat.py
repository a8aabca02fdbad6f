"""``cityhub catalog …`` on a real embedded database, and the DCAT-AP JSON-LD export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cityhub.catalog.cli import app
from cityhub.cli import system_session
from cityhub.kit.settings import get_settings
from cityhub.models.org import DepartmentKind
from cityhub.org import service as org
from tests.catalog.helpers import PERMITS, csv_text, permit_rows, register
from tests.factories import build_city, login

runner = CliRunner()

HEADER = (
    "resource_code,resource_name,department,update_cycle,grade,sharing,sharing_conditions,open_attribute,tags,"
    "field_name,field_title,field_type,personal,sensitivity,mask,role,min,max,required,unique,check_format,references"
)
SHEET = "\n".join(
    [
        HEADER,
        "QY-1,企业登记信息,scjg,daily,general_3,conditional,法定代表人脱敏,none,市场监管;法人,"
        "uscc,统一社会信用代码,string,no,,,key,,,yes,yes,uscc,",
        "QY-1,,,,,,,,,legal_rep,法定代表人,string,yes,internal,name,,,,yes,,,",
        "QY-1,,,,,,,,,capital,注册资本,number,no,,,,0,100000,,,,",
        "QY-1,,,,,,,,,established,成立日期,date,no,,,time,,,,,date,",
    ]
)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CITYHUB_MODE", "development")
    monkeypatch.setenv("CITYHUB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CITYHUB_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    with system_session() as session:
        org.create_department(session, code="scjg", name="市场监督管理局", kind=DepartmentKind.BUREAU)
    yield tmp_path
    get_settings.cache_clear()


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_register_load_check_list_and_export(data_dir: Path) -> None:
    sheet = data_dir / "catalog.csv"
    sheet.write_text(SHEET, encoding="utf-8")
    assert "registered QY-1 企业登记信息 (general_3, conditional)" in _ok("register", str(sheet))
    rows = [
        {"uscc": "91110000600037341L", "legal_rep": "张三", "capital": 500, "established": "2026-11-01"},
        {"uscc": "91110000600037341X", "legal_rep": "", "capital": -1, "established": "2026-11-02"},
    ]
    data = data_dir / "qy.csv"
    data.write_text(csv_text(rows), encoding="utf-8")
    assert "2 rows loaded into QY-1" in _ok("load-sample", "QY-1", str(data))
    checked = _ok("quality", "QY-1")
    assert "QY-1" in checked and "FAIL" in checked and "accuracy 50.0" in checked
    listed = json.loads(_ok("list", "--output", "json"))
    by_code = {r["code"]: r for r in listed}
    assert by_code["QY-1"]["quality_score"] is not None
    assert by_code["CH-EVENTS"]["grade"] == "important"  # the hub's own data, registered on first use
    assert "QY-1" in _ok("list", "--department", "scjg")
    out = data_dir / "dcat.jsonld"
    assert "datasets written" in _ok("export-dcat", "--output", str(out))
    document = json.loads(out.read_text(encoding="utf-8"))
    dataset = next(d for d in document["dcat:dataset"] if d["dct:identifier"] == "QY-1")
    assert dataset["dct:accrualPeriodicity"].endswith("/frequency/DAILY")
    assert dataset["dct:accessRights"].endswith("/access-right/NON_PUBLIC")
    assert dataset["dct:publisher"]["foaf:name"]["@value"] == "市场监督管理局"


def test_bad_sheets_and_grades_say_why(data_dir: Path) -> None:
    sheet = data_dir / "bad.csv"
    sheet.write_text("resource_code,resource_name\nX,Y\n", encoding="utf-8")
    result = runner.invoke(app, ["register", str(sheet)])
    assert result.exit_code == 2 and "lacks the column(s) grade, sharing, field_name" in result.output
    result = runner.invoke(app, ["list", "--grade", "secret"])
    assert result.exit_code == 2 and "--grade must be one of" in result.output
    result = runner.invoke(app, ["register", str(data_dir / "missing.csv")])
    assert result.exit_code == 2


def test_dcat_over_the_api(client: TestClient, session: Session) -> None:
    build_city(session)
    register(session, PERMITS, permit_rows(3))
    response = client.get("/api/v1/catalog/dcat", headers=login(client, "steward"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/ld+json")
    document = response.json()
    assert document["@type"] == "dcat:Catalog" and "dcat" in document["@context"]
    ids = {d["dct:identifier"]: d for d in document["dcat:dataset"]}
    assert {"ROADS-PERMITS", "CH-EVENTS", "CH-AREAS"} <= set(ids)
    assert ids["CH-AREAS"]["dct:accessRights"].endswith("PUBLIC")
    assert ids["CH-EVENTS"]["cityhub:grade"] == "important"
    assert ids["ROADS-PERMITS"]["dcat:distribution"][0]["dcat:accessURL"].endswith(
        "/api/v1/catalog/resources/ROADS-PERMITS"
    )
