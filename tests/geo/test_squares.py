"""Tests for cityhub.geo.squares and the events' squares: the key that finds "open reports around here"."""

from __future__ import annotations

import importlib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from cityhub.dispatch import duplicates
from cityhub.geo import squares
from cityhub.models.event import Event
from tests.factories import bare_event

LON = st.floats(-179.9, 179.9, allow_nan=False)
LAT = st.floats(-89.9, 89.9, allow_nan=False)
SPAN = st.floats(0.0, 0.05, allow_nan=False)
SHARE = st.floats(0.0, 1.0, allow_nan=False)


@given(LON, LAT, SPAN, SPAN, SHARE, SHARE)
def test_a_box_s_squares_hold_every_point_of_the_box(
    lon: float, lat: float, width: float, height: float, x: float, y: float
) -> None:
    box = (lon, lat, lon + width, lat + height)
    around = squares.squares(*box)
    point = (min(lon + x * width, box[2]), min(lat + y * height, box[3]))  # corners and edges included
    if around is None:
        assert width * height * squares.PER_DEGREE**2 > squares.MAX_SQUARES / 4
        return
    assert squares.square(*point) in around
    assert len(around) == len(set(around))


def test_squares_are_numbered_apart_and_a_wide_box_gets_none() -> None:
    step = 1 / squares.PER_DEGREE
    here = squares.square(120.305, 36.005)
    assert squares.square(120.305 + step, 36.005) == here + 1
    assert squares.square(120.305, 36.005 + step) == here + squares.COLUMNS
    assert squares.square(-70.9, -53.2) != squares.square(70.9, 53.2)
    assert squares.squares(120.3, 36.0, 120.3, 36.0) == [squares.square(120.3, 36.0)]
    assert squares.squares(120.0, 36.0, 120.5, 36.5) is None  # 50 × 50 squares


def _event(number: str, lon: float | None, lat: float | None) -> Event:
    return bare_event(number, lon=lon, lat=lat)


def test_an_event_keeps_the_square_of_its_point(session: Session) -> None:
    event = _event("SQ-1", 120.305, 36.005)
    session.add(event)
    session.flush()
    assert event.square == squares.square(120.305, 36.005)
    event.lon, event.lat = -70.9, -53.2  # relocated
    session.flush()
    assert session.scalar(select(Event.square).where(Event.id == event.id)) == squares.square(-70.9, -53.2)
    event.lon = event.lat = None
    session.flush()
    assert session.scalar(select(Event.square).where(Event.id == event.id)) is None


def test_the_migration_gives_existing_events_the_squares_the_hub_computes(session: Session) -> None:
    """Migration 0009 fills the column in SQL; its numbers are those of ``squares.square``, on both
    databases, points on square edges and in every quarter of the globe included."""
    rng = random.Random(9)
    points = [(120.3, 36.0), (-180.0, -90.0), (0.0, 0.0), (-0.005, -0.005), (179.99, 89.99)]
    points += [(round(rng.uniform(-180, 180), rng.choice([2, 6])), rng.uniform(-90, 90)) for _ in range(300)]
    events = [_event(f"SQ-{i}", lon, lat) for i, (lon, lat) in enumerate(points)]
    session.add_all([*events, _event("SQ-none", None, None)])
    session.flush()
    ids = [e.id for e in events]
    session.execute(update(Event).where(Event.id.in_(ids)).values(square=None))
    migration = importlib.import_module("cityhub.migrations.versions.0009_event_squares")
    session.execute(text(migration.fill_squares(session.get_bind().dialect.name)))
    filled = {i: sq for i, sq in session.execute(select(Event.id, Event.square).where(Event.id.in_(ids)))}
    assert [filled[e.id] for e in events] == [squares.square(lon, lat) for lon, lat in points]
    assert session.scalar(select(Event.square).where(Event.number == "SQ-none")) is None


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)  # PostgreSQL plans by its statistics
def test_sqlite_finds_the_reports_around_a_point_by_square(session: Session) -> None:
    """Without statistics, SQLite must still take the (square, created_at) index for the reports around
    a point, not walk every open report of the window by (status, created_at)."""
    compiled = duplicates._NEAR_POINT.compile(session.get_bind())
    values = {name: 0 for name in compiled.binds}  # EXPLAIN plans; the values do not matter
    expanded = compiled.construct_expanded_state(values | {"squares": [1, 2, 3, 4]})
    sql, positional = expanded.statement, tuple(expanded.positional_parameters or ())
    plan = session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", positional).all()
    assert any("ix_events_square_created" in row[-1] for row in plan), plan
