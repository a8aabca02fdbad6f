"""Gateways and readings for the telemetry tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from cityhub.access.tokens import create_api_token
from cityhub.models.org import Role
from cityhub.org import service as org


def gateway_headers(session: Session, username: str = "gateway") -> dict[str, str]:
    user = org.create_user(session, username=username, password=None, role=Role.GATEWAY)
    _row, secret = create_api_token(session, user, "sensor gateway")
    session.flush()
    return {"Authorization": f"Bearer {secret}"}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def reading(device: str, metric: str, value: Any, at: datetime | str, **extra: Any) -> dict[str, Any]:
    return {
        "device": device,
        "metric": metric,
        "ts": at if isinstance(at, str) else iso(at),
        "value": value,
        **extra,
    }
