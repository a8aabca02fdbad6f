"""The area tree indicators and alerts name places with."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.indicators.areas import AreaTree
from cityhub.models.area import Area
from tests.factories import build_city


def test_a_full_name_says_each_place_once(session: Session) -> None:
    build_city(session)
    session.flush()
    grid = session.scalar(select(Area).where(Area.code == "370201001001001"))
    street = session.scalar(select(Area).where(Area.code == "370202002"))
    assert grid is not None and street is not None
    tree = AreaTree()
    # 东区1社区第1网格 lies in 东区1社区 and says so; 东区第1街道 lies in 东区.
    assert tree.full_name(session, grid.id) == "东区第1街道东区1社区第1网格"
    assert tree.full_name(session, street.id) == "西区第2街道"
