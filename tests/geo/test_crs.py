"""Tests for cityhub.geo.crs: WGS-84 ↔ GCJ-02."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shapely.geometry import Polygon

from cityhub.geo.crs import (
    CRS,
    gcj02_to_wgs84,
    gcj02_to_wgs84_arrays,
    geometry_to_wgs84,
    to_wgs84,
    transform_geometry,
    wgs84_to_gcj02,
    wgs84_to_gcj02_arrays,
)

TIANANMEN_WGS84 = (116.397428, 39.90923)


def test_forward_offset_matches_the_published_value_for_beijing() -> None:
    lon, lat = wgs84_to_gcj02(*TIANANMEN_WGS84)
    assert lon - TIANANMEN_WGS84[0] == pytest.approx(0.0062, abs=2e-4)
    assert lat - TIANANMEN_WGS84[1] == pytest.approx(0.0014, abs=2e-4)


def test_inverse_recovers_the_wgs84_point_to_well_under_a_micro_degree() -> None:
    back = gcj02_to_wgs84(*wgs84_to_gcj02(*TIANANMEN_WGS84))
    assert back == pytest.approx(TIANANMEN_WGS84, abs=1e-9)


def test_round_trip_holds_across_mainland_china() -> None:
    rng = np.random.default_rng(7)
    lon = rng.uniform(74.0, 135.0, 5000)
    lat = rng.uniform(18.0, 53.0, 5000)
    glon, glat = wgs84_to_gcj02_arrays(lon, lat)
    wlon, wlat = gcj02_to_wgs84_arrays(glon, glat)
    assert np.max(np.abs(wlon - lon)) < 1e-8
    assert np.max(np.abs(wlat - lat)) < 1e-8


def test_inverse_is_better_than_the_one_step_approximation() -> None:
    glon, glat = wgs84_to_gcj02(120.38, 36.07)
    one_step = (2 * glon - wgs84_to_gcj02(glon, glat)[0], 2 * glat - wgs84_to_gcj02(glon, glat)[1])
    exact = gcj02_to_wgs84(glon, glat)
    assert math.dist(one_step, (120.38, 36.07)) > 1e-7  # the shortcut really is off …
    assert math.dist(exact, (120.38, 36.07)) < 1e-9  # … and the iteration is not


@pytest.mark.parametrize("point", [(2.3522, 48.8566), (-74.006, 40.7128), (151.2093, -33.8688)])
def test_no_offset_outside_china(point: tuple[float, float]) -> None:
    assert wgs84_to_gcj02(*point) == point
    assert gcj02_to_wgs84(*point) == point


def test_to_wgs84_dispatches_on_the_input_crs() -> None:
    gcj = wgs84_to_gcj02(120.38, 36.07)
    assert to_wgs84(*gcj, CRS.GCJ02) == pytest.approx((120.38, 36.07), abs=1e-9)
    assert to_wgs84(*gcj, "gcj02") == pytest.approx((120.38, 36.07), abs=1e-9)
    assert to_wgs84(120.38, 36.07, CRS.WGS84) == (120.38, 36.07)


def test_unknown_crs_is_rejected() -> None:
    with pytest.raises(ValueError, match="bd09"):
        to_wgs84(120.38, 36.07, "bd09")


@pytest.mark.parametrize(
    ("lon", "lat"), [(181.0, 36.0), (-180.5, 0.0), (120.0, 90.01), (120.0, -91.0), (math.nan, 36.0)]
)
def test_out_of_range_coordinates_raise(lon: float, lat: float) -> None:
    for convert in (wgs84_to_gcj02, gcj02_to_wgs84):
        with pytest.raises(ValueError, match="longitude must be within"):
            convert(lon, lat)
    with pytest.raises(ValueError, match="invalid coordinate"):
        to_wgs84(lon, lat, CRS.WGS84)


def test_swapped_coordinates_get_a_hint() -> None:
    with pytest.raises(ValueError, match="swapped"):
        to_wgs84(36.07, 120.38, CRS.WGS84)


def test_transform_geometry_moves_every_vertex_like_the_point_function() -> None:
    shell = [(120.30, 36.05), (120.40, 36.05), (120.40, 36.10), (120.30, 36.10)]
    hole = [(120.34, 36.06), (120.36, 36.06), (120.36, 36.08)]
    converted = transform_geometry(Polygon(shell, [hole]), wgs84_to_gcj02_arrays)
    assert len(converted.interiors) == 1
    expected = [wgs84_to_gcj02(x, y) for x, y in [*shell, shell[0]]]
    assert np.allclose(np.asarray(converted.exterior.coords), expected, atol=1e-12)


def test_geometry_to_wgs84_undoes_the_gcj02_shift() -> None:
    wgs = Polygon([(120.30, 36.05), (120.40, 36.05), (120.40, 36.10)])
    gcj = transform_geometry(wgs, wgs84_to_gcj02_arrays)
    assert gcj.centroid.x - wgs.centroid.x > 0.004  # ~450 m east in Qingdao
    back = geometry_to_wgs84(gcj, CRS.GCJ02)
    assert back.equals_exact(wgs, 1e-9)


def test_geometry_to_wgs84_validates_wgs84_input() -> None:
    with pytest.raises(ValueError, match="latitude"):
        geometry_to_wgs84(Polygon([(120.0, 36.0), (121.0, 36.0), (121.0, 95.0)]), CRS.WGS84)
