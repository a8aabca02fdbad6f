"""Coordinate systems: WGS-84 (what cityhub stores) and GCJ-02 (what Chinese base maps and most government GIS
data use).

GCJ-02 is WGS-84 plus a deliberate, smooth, non-linear offset of a few hundred metres inside mainland China.
The forward formula below is the widely published one (Krasovsky ellipsoid constants); there is no closed-form
inverse, so `gcj02_to_wgs84` inverts it by fixed-point iteration, which converges to well below 1e-9 degrees
in a handful of steps because the offset's derivative is tiny.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import StrEnum

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

FloatArray = NDArray[np.float64]
ArrayTransform = Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]
"""A coordinate transform working on arrays of longitudes and latitudes (same shape in and out)."""

_A = 6378245.0  # semi-major axis of the Krasovsky 1940 ellipsoid used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
# The offset is only applied inside this rough box around mainland China (the de-facto standard used by every
# open implementation); outside it GCJ-02 equals WGS-84.
_CHINA_LON = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)
_INVERSE_TOLERANCE_DEG = 1e-10
_INVERSE_MAX_ITERATIONS = 30


class CRS(StrEnum):
    """Coordinate reference systems cityhub accepts at its edges."""

    WGS84 = "wgs84"
    GCJ02 = "gcj02"


def validate_lon_lat(lon: float, lat: float) -> None:
    """Raise ValueError unless lon ∈ [-180, 180] and lat ∈ [-90, 90] (and both are finite numbers)."""
    _validate_arrays(np.asarray([lon], dtype=np.float64), np.asarray([lat], dtype=np.float64))


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """Convert one WGS-84 position to GCJ-02 (identity outside China)."""
    x, y = wgs84_to_gcj02_arrays(np.asarray([lon], dtype=np.float64), np.asarray([lat], dtype=np.float64))
    return float(x[0]), float(y[0])


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """Convert one GCJ-02 position to WGS-84 by iterative inversion (error < 1e-9 degrees)."""
    x, y = gcj02_to_wgs84_arrays(np.asarray([lon], dtype=np.float64), np.asarray([lat], dtype=np.float64))
    return float(x[0]), float(y[0])


def to_wgs84(lon: float, lat: float, crs: CRS | str) -> tuple[float, float]:
    """Convert a position given in `crs` to WGS-84."""
    if CRS(crs) is CRS.GCJ02:
        return gcj02_to_wgs84(lon, lat)
    validate_lon_lat(lon, lat)
    return float(lon), float(lat)


def wgs84_to_gcj02_arrays(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Vectorised `wgs84_to_gcj02`."""
    _validate_arrays(lon, lat)
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84_arrays(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Vectorised `gcj02_to_wgs84`: solve forward(w) = g by iterating w ← w − (forward(w) − g)."""
    _validate_arrays(lon, lat)
    wlon, wlat = lon.astype(np.float64, copy=True), lat.astype(np.float64, copy=True)
    for _ in range(_INVERSE_MAX_ITERATIONS):
        dlon, dlat = _gcj_offset(wlon, wlat)
        err_lon, err_lat = wlon + dlon - lon, wlat + dlat - lat
        wlon, wlat = wlon - err_lon, wlat - err_lat
        if max(_max_abs(err_lon), _max_abs(err_lat)) < _INVERSE_TOLERANCE_DEG:
            break
    return wlon, wlat


def to_wgs84_arrays(lon: FloatArray, lat: FloatArray, crs: CRS | str) -> tuple[FloatArray, FloatArray]:
    """Vectorised `to_wgs84`."""
    if CRS(crs) is CRS.GCJ02:
        return gcj02_to_wgs84_arrays(lon, lat)
    _validate_arrays(lon, lat)
    return lon, lat


def transform_geometry(geom: BaseGeometry, fn: ArrayTransform) -> BaseGeometry:
    """Apply an array transform (e.g. `gcj02_to_wgs84_arrays`) to every vertex of a shapely geometry.

    Uses `shapely.transform`, which hands all coordinates over as one (N, 2) array, so a whole district costs
    one vectorised call rather than one Python call per vertex. Z values are dropped.
    """

    def apply(coords: FloatArray) -> FloatArray:
        x, y = fn(coords[:, 0], coords[:, 1])
        return np.column_stack((x, y))

    result: BaseGeometry = shapely.transform(geom, apply)
    return result


def geometry_to_wgs84(geom: BaseGeometry, crs: CRS | str) -> BaseGeometry:
    """Return `geom` (given in `crs`) in WGS-84; WGS-84 input is validated and returned unchanged."""
    if CRS(crs) is CRS.GCJ02:
        return transform_geometry(geom, gcj02_to_wgs84_arrays)
    return transform_geometry(geom, _validated_identity)


def _validated_identity(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    _validate_arrays(lon, lat)
    return lon, lat


def _gcj_offset(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 minus WGS-84 at the given WGS-84 positions, zero outside the China box."""
    x, y = lon - 105.0, lat - 35.0
    dlat = _offset_lat(x, y)
    dlon = _offset_lon(x, y)
    rad_lat = np.radians(lat)
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * math.pi)
    inside = _in_china_box(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def _offset_lat(x: FloatArray, y: FloatArray) -> FloatArray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret = ret + (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret = ret + (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret = ret + (160.0 * np.sin(y / 12.0 * math.pi) + 320.0 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _offset_lon(x: FloatArray, y: FloatArray) -> FloatArray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret = ret + (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret = ret + (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret = ret + (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def _in_china_box(lon: FloatArray, lat: FloatArray) -> NDArray[np.bool_]:
    inside: NDArray[np.bool_] = (
        (lon >= _CHINA_LON[0]) & (lon <= _CHINA_LON[1]) & (lat >= _CHINA_LAT[0]) & (lat <= _CHINA_LAT[1])
    )
    return inside


def _max_abs(values: FloatArray) -> float:
    return float(np.max(np.abs(values))) if values.size else 0.0


def _validate_arrays(lon: FloatArray, lat: FloatArray) -> None:
    """Reject non-finite or out-of-range coordinates, naming the first offending pair."""
    if lon.shape != lat.shape:
        raise ValueError(f"longitude and latitude arrays differ in shape: {lon.shape} vs {lat.shape}")
    bad = ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180.0) & (np.abs(lat) <= 90.0))
    if not bad.any():
        return
    i = int(np.argmax(bad))
    raise ValueError(_coordinate_error(float(lon.flat[i]), float(lat.flat[i])))


def _coordinate_error(lon: float, lat: float) -> str:
    message = (
        f"invalid coordinate (lon={lon}, lat={lat}): longitude must be within [-180, 180] "
        "and latitude within [-90, 90]"
    )
    # The commonest mistake is latitude-first input, e.g. (36.07, 120.38) for Qingdao.
    if abs(lat) > 90.0 and abs(lon) <= 90.0:
        message += "; the values look swapped: pass longitude first, then latitude"
    return message
