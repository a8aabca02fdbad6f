"""The command line on a real embedded database: import boundaries and categories, route, report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cityhub.cli import app
from cityhub.kit.settings import get_settings

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CITYHUB_MODE", "development")
    monkeypatch.setenv("CITYHUB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CITYHUB_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _square(code: str, name: str, x: float) -> dict[str, object]:
    ring = [[x, 36.0], [x + 0.01, 36.0], [x + 0.01, 36.01], [x, 36.01], [x, 36.0]]
    return {
        "type": "Feature",
        "properties": {"adcode": code, "name": name},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def test_import_route_and_report(data_dir: Path) -> None:
    city = data_dir / "city.geojson"
    city.write_text(
        json.dumps({"type": "FeatureCollection", "features": [_square("370200", "测试市", 120.0)]})
    )
    districts = data_dir / "districts.geojson"
    districts.write_text(
        json.dumps({"type": "FeatureCollection", "features": [_square("370202", "甲区", 120.0)]}),
        encoding="utf-8",
    )
    taxonomy = data_dir / "taxonomy.csv"
    taxonomy.write_text(
        "一级分类,二级分类,三级分类\n城乡建设,市政设施,道路破损\n城乡建设,市政设施,井盖缺失\n",
        encoding="utf-8",
    )

    result = runner.invoke(app, ["geo", "import", str(city), "--level", "city"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, ["geo", "import", str(districts), "--level", "district", "--parent", "370200", "--crs", "gcj02"]
    )
    assert result.exit_code == 0, result.output
    assert "imported 1 areas" in result.output
    result = runner.invoke(app, ["categories", "import", str(taxonomy)])
    assert result.exit_code == 0 and "4 new categories" in result.output

    missing = runner.invoke(app, ["routing", "add", "--lead", "nobody", "--category", "道路破损"])
    assert missing.exit_code == 2 and "unknown department" in missing.output

    report = runner.invoke(app, ["report", "evaluation", "--output", "json"])
    assert report.exit_code == 0 and json.loads(report.output) == []
    bad = runner.invoke(app, ["report", "evaluation", "--group-by", "planet"])
    assert bad.exit_code == 2 and "--group-by must be one of" in bad.output


def test_bad_geojson_is_a_clear_error(data_dir: Path) -> None:
    broken = data_dir / "broken.geojson"
    broken.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": null}]}'
    )
    result = runner.invoke(app, ["geo", "import", str(broken)])
    assert result.exit_code == 2
    assert "error:" in result.output
    assert runner.invoke(app, ["geo", "import", str(data_dir / "nope.json")]).exit_code == 2
