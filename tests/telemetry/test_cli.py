"""The command line on a real embedded database: import devices, replay recorded data, fix and replay."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cityhub.cli import app
from cityhub.entities import codes
from cityhub.entities.cli import app as entities
from cityhub.kit.db import make_engine, make_session_factory
from cityhub.kit.settings import get_settings
from cityhub.models.telemetry import Reading
from cityhub.telemetry.cli import app as telemetry

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CITYHUB_MODE", "development")
    monkeypatch.setenv("CITYHUB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CITYHUB_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _district(path: Path) -> None:
    ring = [[120.0, 36.0], [120.02, 36.0], [120.02, 36.02], [120.0, 36.02], [120.0, 36.0]]
    feature = {"type": "Feature", "properties": {"adcode": "370202", "name": "甲区"}}
    feature["geometry"] = {"type": "Polygon", "coordinates": [ring]}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}), encoding="utf-8")


def _count(data_dir: Path) -> int:
    engine = make_engine(f"sqlite:///{data_dir.resolve() / 'cityhub.db'}")
    with make_session_factory(engine)() as session:
        count = session.scalar(select(func.count()).select_from(Reading)) or 0
    engine.dispose()
    return int(count)


def test_import_devices_replay_a_recording_and_fix_a_dead_letter(data_dir: Path) -> None:
    _district(data_dir / "district.geojson")
    assert (
        runner.invoke(
            app, ["geo", "import", str(data_dir / "district.geojson"), "--level", "district"]
        ).exit_code
        == 0
    )
    devices = data_dir / "devices.csv"
    devices.write_text(
        "type,name,lon,lat,device_type\nDV,水位计 1,120.01,36.01,water_level\nDV,坏行,120.01,36.01,teapot\n",
        encoding="utf-8",
    )
    result = runner.invoke(entities, ["import", str(devices)])
    assert result.exit_code == 0, result.output
    assert "1 created, 0 updated, 1 rejected" in result.output and "row 3" in result.output
    code = codes.compose("370202", "DV", 1)
    assert "valid" in runner.invoke(entities, ["check", code]).output
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    assert runner.invoke(entities, ["check", wrong]).exit_code == 1
    start = datetime.now(UTC) - timedelta(minutes=10)
    recording = data_dir / "recording.csv"
    lines = ["device,metric,ts,value"]
    lines += [
        f"{code},water_level,{(start + timedelta(seconds=i)).isoformat()},{1 + i / 10}" for i in range(5)
    ]
    lines.append(f"{code},water_level,{(start + timedelta(seconds=9)).isoformat()},999")  # impossible
    recording.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(telemetry, ["replay", str(recording), "--speed", "1000"])
    assert result.exit_code == 0, result.output
    assert "5 accepted, 1 rejected" in result.output
    listed = runner.invoke(telemetry, ["dead-letters"])
    assert "impossible_value" in listed.output and "1 pending" in listed.output
    assert "0 replayed, 1 still rejected" in runner.invoke(telemetry, ["replay-dead-letters"]).output
    maintained = runner.invoke(telemetry, ["maintain"])
    assert "rolled up 1 minutes" in maintained.output or "rolled up 2 minutes" in maintained.output
    assert _count(data_dir) == 5
