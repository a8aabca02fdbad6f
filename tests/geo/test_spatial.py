"""Tests for cityhub.geo.spatial: point-in-area lookup and nearest area."""

from __future__ import annotations

import math
import time

import pytest
from shapely.geometry import LineString, box

from cityhub.geo.spatial import AreaIndex, AreaShape, Level, code_prefix, infer_level

# A toy city near Qingdao: two districts side by side (west 370202, east 370203) split at lon 120.1,
# each with two streets (south/north), and one community and grid in the first street.
CITY = AreaShape("370200", "city", box(120.0, 36.0, 120.2, 36.2))
WEST = AreaShape("370202", "district", box(120.0, 36.0, 120.1, 36.2))
EAST = AreaShape("370203", "district", box(120.1, 36.0, 120.2, 36.2))
STREETS = [
    AreaShape("370202001", "street", box(120.0, 36.0, 120.1, 36.1)),
    AreaShape("370202002", "street", box(120.0, 36.1, 120.1, 36.2)),
    AreaShape("370203001", "street", box(120.1, 36.0, 120.2, 36.1)),
    AreaShape("370203002", "street", box(120.1, 36.1, 120.2, 36.2)),
]
COMMUNITY = AreaShape("370202001001", "community", box(120.0, 36.0, 120.05, 36.05))
GRID = AreaShape("370202001001001", "grid", box(120.0, 36.0, 120.025, 36.025))
TOY = [CITY, WEST, EAST, *STREETS, COMMUNITY, GRID]

METRES_PER_DEGREE_LAT = 6_371_008.8 * math.pi / 180


def test_locate_returns_every_level_containing_the_point() -> None:
    index = AreaIndex(TOY)
    assert index.locate(120.01, 36.01) == {
        "city": "370200",
        "district": "370202",
        "street": "370202001",
        "community": "370202001001",
        "grid": "370202001001001",
    }
    assert index.locate(120.15, 36.15) == {"city": "370200", "district": "370203", "street": "370203002"}


def test_locate_outside_every_area_is_empty() -> None:
    assert AreaIndex(TOY).locate(121.0, 36.5) == {}


def test_point_on_a_shared_border_resolves_to_the_same_area_every_time() -> None:
    index = AreaIndex(TOY)
    # On the district border and the street border at once: both districts and four streets contain it.
    found = index.locate(120.1, 36.1)
    assert found == {"city": "370200", "district": "370202", "street": "370202001"}
    assert AreaIndex(reversed(TOY)).locate(120.1, 36.1) == found


def test_border_point_takes_the_street_of_the_chosen_district() -> None:
    # Street boundaries that stick out of their district (common with boundaries from different sources):
    # the point is only in district 370203 but on the border of a 370202 street and a 370203 street.
    streets = [
        AreaShape("370202001", "street", box(120.0, 36.0, 120.15, 36.2)),
        AreaShape("370203001", "street", box(120.15, 36.0, 120.2, 36.2)),
    ]
    index = AreaIndex([WEST, EAST, *streets])
    assert index.locate(120.15, 36.1) == {"district": "370203", "street": "370203001"}


def test_nearest_finds_an_area_just_outside_within_the_distance() -> None:
    index = AreaIndex(TOY)
    lon = 120.2 + 0.005  # 0.005° of longitude east of the city ≈ 450 m at 36.1° N
    expected_m = 0.005 * METRES_PER_DEGREE_LAT * math.cos(math.radians(36.1))
    found = index.nearest_area(lon, 36.15, "street", 1_000)
    assert found is not None
    assert found.code == "370203002"
    assert found.distance_m == pytest.approx(expected_m, rel=1e-3)
    assert index.nearest(lon, 36.15, "district", 1_000) == "370203"
    assert index.nearest(lon, 36.15, "street", 400) is None


def test_nearest_measures_metres_not_degrees() -> None:
    # North of A by 0.004° of latitude (≈ 445 m); east of B by 0.0045° of longitude (≈ 405 m at 36° N).
    # In degrees A looks nearer; on the ground B is.
    a = AreaShape("370202", "district", box(119.9, 35.9, 120.0, 35.996))
    b = AreaShape("370203", "district", box(119.9, 36.0, 119.9955, 36.1))
    found = AreaIndex([a, b]).nearest_area(120.0, 36.0, "district", 1_000)
    assert found is not None
    assert found.code == "370203"
    assert found.distance_m == pytest.approx(
        0.0045 * METRES_PER_DEGREE_LAT * math.cos(math.radians(36.0)), rel=1e-3
    )


def test_nearest_of_a_containing_area_is_zero_metres_away() -> None:
    found = AreaIndex(TOY).nearest_area(120.01, 36.01, "grid", 10)
    assert found is not None
    assert (found.code, found.distance_m) == ("370202001001001", 0.0)


def test_invalid_input_is_rejected() -> None:
    index = AreaIndex(TOY)
    with pytest.raises(ValueError, match="latitude"):
        index.locate(120.0, 95.0)
    with pytest.raises(ValueError, match="max_m"):
        index.nearest(120.0, 36.0, "grid", -1)
    with pytest.raises(ValueError, match="'block'"):
        index.nearest(120.0, 36.0, "block", 10)


def test_bad_areas_are_rejected() -> None:
    with pytest.raises(ValueError, match="more than once"):
        AreaIndex([WEST, WEST])
    with pytest.raises(ValueError, match="Polygon"):
        AreaIndex([AreaShape("370202", "district", LineString([(120, 36), (121, 36)]))])
    with pytest.raises(ValueError, match="'ward'"):
        AreaIndex([AreaShape("370202", "ward", box(120, 36, 121, 37))])


def test_levels_lists_the_levels_present_coarsest_first() -> None:
    assert AreaIndex(TOY).levels == [Level.CITY, Level.DISTRICT, Level.STREET, Level.COMMUNITY, Level.GRID]


def test_locate_is_well_under_a_millisecond_with_a_thousand_areas() -> None:
    # 10 districts x 10 streets x 9 communities = 1 000 areas plus the city, nested like a real tree.
    areas = [AreaShape("370200", "city", box(120.0, 36.0, 121.0, 37.0))]
    for d in range(10):
        dx = 120.0 + d * 0.1
        areas.append(AreaShape(f"3702{d + 10:02d}", "district", box(dx, 36.0, dx + 0.1, 37.0)))
        for s in range(10):
            sy = 36.0 + s * 0.1
            street = f"3702{d + 10:02d}{s + 1:03d}"
            areas.append(AreaShape(street, "street", box(dx, sy, dx + 0.1, sy + 0.1)))
            for c in range(9):
                cx, cy = dx + (c % 3) * 0.1 / 3, sy + (c // 3) * 0.1 / 3
                areas.append(
                    AreaShape(f"{street}{c + 1:03d}", "community", box(cx, cy, cx + 0.1 / 3, cy + 0.1 / 3))
                )
    index = AreaIndex(areas)
    points = [(120.0 + (i * 0.6180339) % 1.0, 36.0 + (i * 0.4142135) % 1.0) for i in range(2_000)]
    start = time.perf_counter()
    results = [index.locate(lon, lat) for lon, lat in points]
    per_call = (time.perf_counter() - start) / len(points)
    assert all(len(r) == 4 for r in results)
    assert per_call < 1e-3, f"locate took {per_call * 1e6:.0f} µs per call"


@pytest.mark.parametrize(
    ("code", "level"),
    [
        ("370000", Level.PROVINCE),
        ("370200", Level.CITY),
        ("370202", Level.DISTRICT),
        ("370202001", Level.STREET),
        ("370202001001", Level.COMMUNITY),
        ("370202001001001", Level.GRID),
    ],
)
def test_level_is_inferred_from_the_code(code: str, level: Level) -> None:
    assert infer_level(code) == level


@pytest.mark.parametrize("code", ["37020", "3702020011", "A70202"])
def test_codes_of_no_known_shape_have_no_inferred_level(code: str) -> None:
    with pytest.raises(ValueError, match=code):
        infer_level(code)


def test_code_prefix_strips_the_zero_pairs_of_city_and_province_codes() -> None:
    assert [code_prefix(c) for c in ("370000", "370200", "370202", "370202001")] == [
        "37",
        "3702",
        "370202",
        "370202001",
    ]
