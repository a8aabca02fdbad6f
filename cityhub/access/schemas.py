"""What the API answers about logins: shared by one's own sessions and an administrator's view of a user's."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from cityhub.access.principal import Principal
from cityhub.models.org import LoginSession


class LoginSessionOut(BaseModel):
    id: int
    started_at: datetime
    refreshed_at: datetime | None
    client: str | None = Field(description="the browser or program it logged in with (User-Agent)")
    address: str | None = Field(description="the client address it logged in from")
    last_address: str | None = Field(
        description="the client address of its latest token refresh (a browser in use refreshes every "
        "15 minutes), or of its login"
    )
    current: bool = Field(description="the session of the token that asks")


def session_out(row: LoginSession, principal: Principal) -> LoginSessionOut:
    return LoginSessionOut(
        id=row.id,
        started_at=row.started_at,
        refreshed_at=row.refreshed_at,
        client=row.client,
        address=row.address,
        last_address=row.last_address,
        current=row.id == principal.session_id,
    )
