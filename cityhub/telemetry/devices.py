"""Device lookups for the ingest hot path: city code → (entity id, device type, area), cached per process.

Entries are dropped when the registry changes an entity (immediately in this process, and on the
``entities.changed`` bus topic after commit) and expire after a TTL, so other processes' changes show
within a minute. Unknown codes are never cached: registering a device makes it known at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.kit.bus import bus
from cityhub.models.entity import Entity, EntityStatus

TTL_S = 60.0
_LOOKUP_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Device:
    """What ingest needs to know about a reporting entity."""

    entity_id: int
    code: str
    kind: str  # the device type of the metric catalogue: ``device_type`` attribute or the entity type code
    area_id: int | None  # the most specific area it lies in (grid … district), else the code's area
    active: bool


def device_of(entity: Entity) -> Device:
    kind = (entity.attributes or {}).get("device_type") or entity.type
    area = entity.grid_id or entity.community_id or entity.street_id or entity.district_id or entity.area_id
    return Device(entity.id, entity.code, str(kind), area, entity.status == EntityStatus.ACTIVE)


class DeviceCache:
    """A per-process map of code → Device per database, with invalidation and a TTL."""

    def __init__(self, ttl_s: float = TTL_S) -> None:
        self._ttl = ttl_s
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[float, Device]] = {}

    def resolve(self, session: Session, codes: Collection[str]) -> dict[str, Device]:
        """The known devices among ``codes`` (one query for the ones not cached)."""
        db = _db_key(session)
        now = time.monotonic()
        found: dict[str, Device] = {}
        missing: list[str] = []
        with self._lock:
            for code in codes:
                entry = self._entries.get((db, code))
                if entry is not None and entry[0] > now:
                    found[code] = entry[1]
                else:
                    missing.append(code)
        if missing:
            fetched = _load(session, missing)
            found.update(fetched)
            with self._lock:
                for code, device in fetched.items():
                    self._entries[(db, code)] = (now + self._ttl, device)
        return found

    def invalidate(self, codes: Iterable[str] | None = None) -> None:
        with self._lock:
            if codes is None:
                self._entries.clear()
                return
            wanted = set(codes)
            for key in [k for k in self._entries if k[1] in wanted]:
                del self._entries[key]


def _db_key(session: Session) -> str:
    return str(session.get_bind().engine.url)


def _load(session: Session, codes: list[str]) -> dict[str, Device]:
    out: dict[str, Device] = {}
    for i in range(0, len(codes), _LOOKUP_CHUNK):
        chunk = codes[i : i + _LOOKUP_CHUNK]
        for entity in session.scalars(select(Entity).where(Entity.code.in_(chunk))):
            out[entity.code] = device_of(entity)
    return out


cache = DeviceCache()


def _on_entities_changed(_topic: str, payload: Any) -> None:
    cache.invalidate(payload if isinstance(payload, list) else None)


bus.subscribe("entities.changed", _on_entities_changed)
