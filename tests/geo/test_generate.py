"""Tests for cityhub.geo.generate: generated streets, communities and grids."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from cityhub.geo.generate import (
    AreaRecord,
    chinese_numeral,
    community_children,
    generate_tree,
    grid_children,
    label_point,
    partition,
    polygonal,
    split_area,
)

# An L-shaped (concave) district with an island, about 10 km across, near Qingdao.
L_SHAPE = Polygon(
    [(120.0, 36.0), (120.1, 36.0), (120.1, 36.04), (120.04, 36.04), (120.04, 36.09), (120.0, 36.09)]
)
ISLAND = box(120.12, 36.07, 120.13, 36.08)
DISTRICT_GEOM = MultiPolygon([L_SHAPE, ISLAND])


def _district(code: str = "370299", geom: BaseGeometry = DISTRICT_GEOM) -> AreaRecord:
    return AreaRecord(code, "测试区", "district", "370200", geom, label_point(geom))


def assert_partition(parent: BaseGeometry, cells: list[BaseGeometry]) -> None:
    """Every cell valid and areal; together they cover the parent to 0.1 % without overlapping."""
    assert all(c.is_valid and not c.is_empty and c.geom_type in ("Polygon", "MultiPolygon") for c in cells)
    assert sum(c.area for c in cells) == pytest.approx(parent.area, rel=1e-3)
    assert shapely.union_all(cells).symmetric_difference(parent).area < 1e-3 * parent.area
    overlap = sum(a.intersection(b).area for a, b in itertools.combinations(cells, 2))
    assert overlap < 1e-9 * parent.area


@pytest.mark.parametrize("n", [2, 5, 12])
def test_partition_covers_the_parent_exactly_without_overlap(n: int) -> None:
    cells = partition(DISTRICT_GEOM, n, np.random.default_rng(0))
    assert len(cells) == n
    assert_partition(DISTRICT_GEOM, cells)


def test_partition_cells_are_roughly_equal_in_area() -> None:
    areas = np.array([c.area for c in partition(L_SHAPE, 8, np.random.default_rng(0))])
    assert areas.min() > 0.4 * areas.max()


def test_partition_is_deterministic_for_a_seed() -> None:
    first = partition(L_SHAPE, 6, np.random.default_rng(42))
    again = partition(L_SHAPE, 6, np.random.default_rng(42))
    other = partition(L_SHAPE, 6, np.random.default_rng(43))
    assert all(a.equals_exact(b, 0.0) for a, b in zip(first, again, strict=True))
    assert not all(a.equals_exact(b, 1e-9) for a, b in zip(first, other, strict=True))


def test_partition_into_one_cell_is_the_parent_and_into_none_is_an_error() -> None:
    assert partition(L_SHAPE, 1, np.random.default_rng(0)) == [L_SHAPE]
    with pytest.raises(ValueError, match="0 cells"):
        partition(L_SHAPE, 0, np.random.default_rng(0))


def test_split_area_gives_each_child_a_cell_with_its_centre_inside() -> None:
    district = _district()
    streets = split_area(
        district, [("370299001", "甲街道"), ("370299002", "乙街道"), ("370299101", "丙镇")], "street"
    )
    assert [(s.code, s.name, s.level, s.parent_code) for s in streets] == [
        ("370299001", "甲街道", "street", "370299"),
        ("370299002", "乙街道", "street", "370299"),
        ("370299101", "丙镇", "street", "370299"),
    ]
    assert all(s.geometry.contains(shapely.Point(s.center)) for s in streets)
    assert_partition(district.geometry, [s.geometry for s in streets])


def test_first_codes_get_the_cells_nearest_the_parent_centre() -> None:
    district = _district()
    streets = split_area(district, [(f"370299{i:03d}", f"{i}街道") for i in range(1, 6)], "street")
    distances = [shapely.Point(s.center).distance(shapely.Point(district.center)) for s in streets]
    assert distances == sorted(distances)


def test_community_codes_are_twelve_digits_from_001_with_distinct_realistic_names() -> None:
    street = AreaRecord("370202001", "香港中路街道", "street", "370202", L_SHAPE, (120.01, 36.01))
    children = community_children(street, 5)
    assert [code for code, _ in children] == [f"370202001{i:03d}" for i in range(1, 6)]
    names = [name for _, name in children]
    assert len(set(names)) == 5
    assert all(name.endswith("社区") and "第" not in name for name in names)
    assert community_children(street, 5) == children


def test_town_communities_get_village_style_names() -> None:
    town = AreaRecord("370283101", "古岘镇", "street", "370283", L_SHAPE, (120.01, 36.01))
    assert all("家" in name for _, name in community_children(town, 3))


def test_more_communities_than_name_patterns_are_numbered() -> None:
    town = AreaRecord("370283101", "古岘镇", "street", "370283", L_SHAPE, (120.01, 36.01))
    names = [name for _, name in community_children(town, 150)]
    assert len(set(names)) == 150
    assert names[-1] == "古岘第150社区"


def test_grid_codes_and_names() -> None:
    community = AreaRecord("370202001003", "太平路社区", "community", "370202001", L_SHAPE, (120.01, 36.01))
    assert grid_children(community, 3) == [
        ("370202001003001", "太平路社区第一网格"),
        ("370202001003002", "太平路社区第二网格"),
        ("370202001003003", "太平路社区第三网格"),
    ]


def test_generate_tree_builds_nested_covering_levels() -> None:
    district = _district()
    streets = [
        ("370299001", "甲街道", "370299"),
        ("370299002", "乙街道", "370299"),
        ("370299100", "丙镇", "370299"),
    ]
    records = generate_tree([district], streets, seed=3, communities_per_street=2, grids_per_community=4)
    by_level = {level: [r for r in records if r.level == level] for level in ("street", "community", "grid")}
    assert [len(v) for v in by_level.values()] == [3, 6, 24]
    known = {district.code: district}
    for record in records:  # parents come first, and every code extends its parent's
        parent = known[record.parent_code or ""]
        assert record.code.startswith(parent.code) and len(record.code) == len(parent.code) + 3
        known[record.code] = record
    for parent in [district, *by_level["street"], *by_level["community"]]:
        assert_partition(parent.geometry, [r.geometry for r in records if r.parent_code == parent.code])


def test_generate_tree_is_deterministic_and_independent_of_other_districts() -> None:
    a = _district("370298", L_SHAPE)
    b = _district("370299", box(120.2, 36.0, 120.3, 36.1))
    streets = [
        ("370298001", "甲街道", "370298"),
        ("370298002", "乙街道", "370298"),
        ("370299001", "丙街道", "370299"),
    ]
    alone = generate_tree([a], streets[:2], seed=1)
    together = generate_tree([a, b], streets, seed=1)
    shared = {r.code: r for r in together}
    assert all(
        r.geometry.equals_exact(shared[r.code].geometry, 0.0) and r.name == shared[r.code].name for r in alone
    )


def test_generate_tree_rejects_counts_that_do_not_fit_three_digit_serials() -> None:
    with pytest.raises(ValueError, match="grids_per_community"):
        generate_tree([_district()], [], grids_per_community=1000)


def test_polygonal_repairs_a_bow_tie_and_drops_lines() -> None:
    bow_tie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    fixed = polygonal(bow_tie)
    assert fixed.is_valid and fixed.area == pytest.approx(0.5)
    mixed = shapely.GeometryCollection([box(0, 0, 1, 1), shapely.LineString([(2, 2), (3, 3)])])
    assert polygonal(mixed).equals(box(0, 0, 1, 1))
    with pytest.raises(ValueError, match="no area"):
        polygonal(shapely.LineString([(0, 0), (1, 1)]))


@pytest.mark.parametrize(
    ("n", "text"), [(1, "一"), (3, "三"), (10, "十"), (12, "十二"), (20, "二十"), (99, "九十九")]
)
def test_chinese_numerals(n: int, text: str) -> None:
    assert chinese_numeral(n) == text


def test_label_point_is_inside_a_concave_shape_whose_centroid_is_not() -> None:
    l_shape = box(0, 0, 3, 3).difference(box(1, 0, 3, 2))
    assert not l_shape.contains(l_shape.centroid)
    assert l_shape.contains(shapely.Point(label_point(l_shape)))


def test_streets_of_a_district_that_was_not_given_are_an_error() -> None:
    with pytest.raises(ValueError, match="370298"):
        generate_tree([_district()], [("370298001", "甲街道", "370298")])
