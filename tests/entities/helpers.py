"""Typed helpers to register entities through the service (tests of entities and telemetry)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cityhub.access.principal import SYSTEM
from cityhub.entities import service
from cityhub.entities.schemas import EntityIn, PointIn
from cityhub.models.entity import Entity

EAST = (120.305, 36.005)  # in 370201, street 370201001, grid 370201001001001
WEST = (120.325, 36.005)  # in 370202


def add_entity(
    session: Session,
    type_code: str,
    name: str,
    *,
    at: tuple[float, float] = EAST,
    **attributes: Any,
) -> Entity:
    return service.create(
        session,
        SYSTEM,
        EntityIn(type=type_code, name=name, location=PointIn(lon=at[0], lat=at[1]), attributes=attributes),
    )


def add_device(
    session: Session, device_type: str, *, at: tuple[float, float] = EAST, name: str = ""
) -> Entity:
    return add_entity(session, "DV", name or f"{device_type} sensor", at=at, device_type=device_type)


def add_person_living_alone(session: Session, *, at: tuple[float, float] = EAST, **attributes: Any) -> Entity:
    """A registered elderly person living alone (独居老人), with consent: a person's data in the tests."""
    return add_entity(
        session,
        "VR",
        "独居老人登记",
        at=at,
        category="living_alone_elderly",
        consent_date="2026-10-01",
        person_name="王秀兰",
        **attributes,
    )
