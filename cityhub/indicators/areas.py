"""The area tree in memory: an area's ancestors by level, for rolling values up and placing alerts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.models.area import Area, AreaLevel


@dataclass(frozen=True)
class AreaInfo:
    id: int
    code: str
    name: str
    level: AreaLevel
    parent_id: int | None
    population: int | None
    center: tuple[float, float] | None


class AreaTree:
    """Areas by id with their chain up to the city; reloaded when an unknown id shows up."""

    def __init__(self) -> None:
        self._areas: dict[int, AreaInfo] = {}
        self._by_code: dict[str, int] = {}
        self._chains: dict[int, dict[AreaLevel, int]] = {}

    def load(self, session: Session) -> None:
        rows = session.execute(
            select(
                Area.id,
                Area.code,
                Area.name,
                Area.level,
                Area.parent_id,
                Area.population,
                Area.center_lon,
                Area.center_lat,
            )
        ).all()
        self._areas = {
            r.id: AreaInfo(
                r.id,
                r.code,
                r.name,
                r.level,
                r.parent_id,
                r.population,
                (r.center_lon, r.center_lat)
                if r.center_lon is not None and r.center_lat is not None
                else None,
            )
            for r in rows
        }
        self._by_code = {a.code: a.id for a in self._areas.values()}
        self._chains = {}

    def get(self, session: Session, area_id: int | None) -> AreaInfo | None:
        if area_id is None:
            return None
        if area_id not in self._areas:
            self.load(session)
        return self._areas.get(area_id)

    def by_code(self, session: Session, code: str) -> AreaInfo | None:
        if code not in self._by_code:
            self.load(session)
        area_id = self._by_code.get(code)
        return self._areas.get(area_id) if area_id is not None else None

    def chain(self, session: Session, area_id: int | None) -> dict[AreaLevel, int]:
        """Level → area id for the area and every ancestor (empty when unknown)."""
        if area_id is None:
            return {}
        cached = self._chains.get(area_id)
        if cached is not None:
            return cached
        chain: dict[AreaLevel, int] = {}
        current = self.get(session, area_id)
        while current is not None and current.level not in chain:
            chain[current.level] = current.id
            current = self._areas.get(current.parent_id) if current.parent_id is not None else None
        self._chains[area_id] = chain
        return chain

    def chain_cached(self, area_id: int | None) -> dict[AreaLevel, int]:
        """The chain if already known (no database access: for the hot path after ``chain``)."""
        return self._chains.get(area_id, {}) if area_id is not None else {}

    def of_level(self, session: Session, level: AreaLevel) -> list[AreaInfo]:
        if not self._areas:
            self.load(session)
        return [a for a in self._areas.values() if a.level is level]

    def full_name(self, session: Session, area_id: int | None) -> str:
        """城市 区 街道 … as one string, for titles and addresses. A name that begins with its parent's
        (阳光苑社区第一网格 under 阳光苑社区) stands for both."""
        chain = self.chain(session, area_id)
        names = [
            self._areas[chain[level]].name
            for level in (AreaLevel.DISTRICT, AreaLevel.STREET, AreaLevel.COMMUNITY, AreaLevel.GRID)
            if level in chain
        ]
        below = [*names[1:], ""]
        return "".join(name for name, child in zip(names, below, strict=True) if not child.startswith(name))
