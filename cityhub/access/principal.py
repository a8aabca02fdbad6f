"""The acting principal: who is asking, in which role, for which department and area."""

from __future__ import annotations

from dataclasses import dataclass, replace

from cityhub.models.area import AreaLevel
from cityhub.models.org import Role


@dataclass(frozen=True)
class Principal:
    """Everything the policy needs to decide, resolved once per request."""

    user_id: int | None
    username: str
    role: Role
    department_id: int | None = None
    area_id: int | None = None
    area_level: AreaLevel | None = None
    session_id: int | None = None  # the login session of an access token; None for API tokens and system
    # The client address of the request it acts in (behind a trusted proxy, the proxy's X-Forwarded-For as
    # uvicorn resolved it); None for the hub's own work. Every audit row written for it carries this.
    address: str | None = None

    @property
    def display(self) -> str:
        return self.username

    def at(self, address: str | None) -> Principal:
        """This principal acting from ``address``."""
        return replace(self, address=address)


SYSTEM = Principal(user_id=None, username="system", role=Role.ADMIN)
ANONYMOUS_CITIZEN = Principal(user_id=None, username="anonymous", role=Role.CITIZEN)
