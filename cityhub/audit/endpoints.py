"""Reading the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from cityhub.access import policy
from cityhub.access.deps import PrincipalDep, SessionDep
from cityhub.models.audit import AuditLog

router = APIRouter(tags=["audit"])


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    actor_id: int | None
    action: str
    object_type: str
    object_id: str
    changes: dict[str, Any]
    purpose: str | None
    address: str | None = Field(
        description="the client address of the request that wrote the row (as uvicorn resolved it behind "
        "a trusted proxy); none for the hub's own work (scheduler, command line) and rows from before it "
        "was recorded"
    )


@router.get("/audit", response_model=list[AuditOut])
def list_audit(
    principal: PrincipalDep,
    session: SessionDep,
    object_type: Annotated[str | None, Query(max_length=40)] = None,
    object_id: Annotated[str | None, Query(max_length=40)] = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=40)] = None,
    address: Annotated[str | None, Query(max_length=64, description="rows from this client address")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[AuditOut]:
    """Who did what, newest first."""
    policy.authorize(principal, "audit.read")
    stmt = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit).offset(offset)
    for column, value in (
        (AuditLog.object_type, object_type),
        (AuditLog.object_id, object_id),
        (AuditLog.actor, actor),
        (AuditLog.action, action),
        (AuditLog.address, address),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return [AuditOut.model_validate(a, from_attributes=True) for a in session.scalars(stmt)]
