"""Tests for cityhub.geo.service.locate: a point to every area holding it, from the kept area tree."""

from __future__ import annotations

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from cityhub.geo import service as geo
from cityhub.models.area import Area, AreaLevel
from tests.factories import tiny_city


def _grid_and_up(session: Session, grid: str) -> dict[AreaLevel, int]:
    """A grid's id and its ancestors' by level, from the GB/T 2260-style codes (city 370200)."""
    ids = {code: area_id for code, area_id in session.execute(select(Area.code, Area.id))}
    levels = (AreaLevel.DISTRICT, AreaLevel.STREET, AreaLevel.COMMUNITY, AreaLevel.GRID)
    return {AreaLevel.CITY: ids["370200"]} | {
        level: ids[grid[:length]] for level, length in zip(levels, (6, 9, 12, 15), strict=True)
    }


def test_a_point_inside_gets_every_level(session: Session) -> None:
    geo.import_records(session, tiny_city())
    located = geo.locate(session, 120.325, 36.005)  # 西区, its first street
    assert located.areas == _grid_and_up(session, "370202001001001")


def test_a_point_just_off_the_boundary_takes_the_nearest_grid_and_its_ancestors_from_memory(
    session: Session,
) -> None:
    """Simplified boundaries leave slivers: a point 180 m west of the city is in the nearest grid, its
    community, street, district and city, and finding them asks the database nothing once the tree is kept."""
    geo.import_records(session, tiny_city())
    geo.locate(session, 120.325, 36.005)  # the tree is kept from here on
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(session.get_bind(), "before_cursor_execute", listener)
    try:
        located = geo.locate(session, 120.298, 36.005)
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", listener)
    assert located.areas == _grid_and_up(session, "370201001001001")
    assert not [s for s in statements if "areas" in s]
