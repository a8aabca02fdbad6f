"""Grid squares: a coarse spatial key, so that "what is near this point" is an ordinary index lookup.

The earth is cut into squares of ``1 / PER_DEGREE`` degrees of latitude and longitude (about 1.1 km
north–south, 0.9 km east–west at Qingdao's latitude), numbered row by row from (-180, -90). A row keeps
the number of the square its point lies in; a box is covered exactly by the squares it touches (every
point of the box lies in one of them), so ``square IN (…)`` over an index on (square, created_at) finds
the rows of a box among any number of rows elsewhere, on SQLite and PostgreSQL alike.

The numbers are computed the same way in Python and in SQL (an addition, a multiplication and
``floor`` of IEEE doubles), so a migration fills them in with one UPDATE. Longitude 180 and -180 of the
next row share a number: a square holding more rows than it should only adds candidates, which the
caller's own distance test removes.
"""

from __future__ import annotations

import math

PER_DEGREE = 100
COLUMNS = 360 * PER_DEGREE  # squares in one row (longitude -180 … 180)
# A box touching more squares than this is not worth an IN list: the caller scans by time instead.
MAX_SQUARES = 64


def square(lon: float, lat: float) -> int:
    """The number of the square holding (lon, lat), WGS-84 degrees."""
    return _row(lat) * COLUMNS + _column(lon)


def of_point(lon: float | None, lat: float | None) -> int | None:
    """The square of a point, or None without one."""
    return square(lon, lat) if lon is not None and lat is not None else None


def squares(lon_min: float, lat_min: float, lon_max: float, lat_max: float) -> list[int] | None:
    """Every square a box touches, or None when they are more than ``MAX_SQUARES``."""
    rows = range(_row(lat_min), _row(lat_max) + 1)
    columns = range(_column(lon_min), _column(lon_max) + 1)
    if len(rows) * len(columns) > MAX_SQUARES:
        return None
    return [r * COLUMNS + c for r in rows for c in columns]


# Migration 0009 fills the column in with the same two formulas in SQL: keep them alike.
def _row(lat: float) -> int:
    return math.floor((lat + 90.0) * PER_DEGREE)


def _column(lon: float) -> int:
    return math.floor((lon + 180.0) * PER_DEGREE)
