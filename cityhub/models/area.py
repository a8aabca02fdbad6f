"""The administrative area tree: city → district → street → community → grid."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.kit.db import Base, BigId, str_enum


class AreaLevel(StrEnum):
    CITY = "city"
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"

    @property
    def label(self) -> str:
        return {"city": "市", "district": "区县", "street": "街道/乡镇", "community": "社区", "grid": "网格"}[
            self.value
        ]

    @property
    def depth(self) -> int:
        return list(AreaLevel).index(self)


class Area(Base):
    """One administrative area with its GB/T 2260 code (grids: the city's own code) and WGS-84 boundary."""

    __tablename__ = "areas"
    __audited__ = True
    __audit_ignored__ = frozenset({"geometry"})

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[AreaLevel] = mapped_column(str_enum(AreaLevel, 12), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    # GeoJSON geometry in WGS-84; the spatial index is built in memory from it. Deferred: a district's
    # boundary is tens of kilobytes, and most reads of an area want its code and name only.
    geometry: Mapped[str | None] = mapped_column(Text, deferred=True)
    center_lon: Mapped[float | None]
    center_lat: Mapped[float | None]
    population: Mapped[int | None]
