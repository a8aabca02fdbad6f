"""FastAPI dependencies that resolve the acting principal from a bearer token or an API token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from cityhub.access.principal import Principal
from cityhub.access.tokens import API_TOKEN_PREFIX, AccessClaims, decode_access_token, user_for_api_token
from cityhub.kit import cache
from cityhub.kit.errors import Unauthorized
from cityhub.kit.http import get_session
from cityhub.kit.settings import Settings
from cityhub.models.area import Area, AreaLevel
from cityhub.models.org import ADDRESS_LENGTH, LoginSession, User
from cityhub.org.service import principal_for

_bearer = HTTPBearer(auto_error=False, description="an access token from /api/v1/auth/login, or an API token")

# scope="function": the transaction commits before the response is sent, so a 2xx means it is durable.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def settings_of(request: Request) -> Settings:
    """A dependency that needs no worker thread (FastAPI runs plain ``def`` dependencies in one)."""
    return app_settings(request)


def client_address(request: Request) -> str | None:
    """The client's address as the server saw it: the connecting peer or, behind a reverse proxy that
    uvicorn trusts (``FORWARDED_ALLOW_IPS``), the client the proxy named in X-Forwarded-For. The hub reads
    no forwarding header itself: an address a client could write is worth nothing in an audit trail."""
    client = request.client
    return client.host[:ADDRESS_LENGTH] if client is not None and client.host else None


def current_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("log in first: send 'Authorization: Bearer <token>'")
    token = credentials.credentials
    address = client_address(request)
    if token.startswith(API_TOKEN_PREFIX):
        return principal_for(session, user_for_api_token(session, token), address=address)
    return principal_of(session, decode_access_token(app_settings(request), token), address)


def principal_of(session: Session, claims: AccessClaims, address: str | None = None) -> Principal:
    """The principal a verified token names, if its user is active and its login session open, acting from
    ``address``."""
    found = (
        session.connection()
        .execute(_PRINCIPAL, {"user_id": claims.user_id, "sid": claims.session_id})
        .first()
    )
    if found is None or not found.active:
        raise Unauthorized("the account is disabled or no longer exists", code="account_disabled")
    if found.sid is None or found.ended_at is not None:
        raise Unauthorized("this login session has ended (logged out); log in again", code="session_ended")
    cache.remember(session, found.revision)
    level = AreaLevel(found.level) if found.level is not None else None
    return principal_for(session, found, level, session_id=found.sid, address=address)


# The user's columns the principal needs, the level of their area, whether the token's login session is
# still open and the reference revision the request's transaction starts at (kit/cache.py), in one round
# trip, as plain columns (no ORM object to load) and built once: this runs on every request.
# Of the tables, not the mapped classes, and run on the session's connection: no ORM statement handling.
_USERS, _AREAS, _LOGINS = User.__table__, Area.__table__, LoginSession.__table__
_PRINCIPAL = (
    select(
        _USERS.c.id,
        _USERS.c.username,
        _USERS.c.role,
        _USERS.c.department_id,
        _USERS.c.area_id,
        _USERS.c.active,
        _AREAS.c.level,
        _LOGINS.c.id.label("sid"),
        _LOGINS.c.ended_at,
        cache.revision_column().label("revision"),
    )
    .select_from(_USERS)
    .outerjoin(_AREAS, _AREAS.c.id == _USERS.c.area_id)
    .outerjoin(_LOGINS, and_(_LOGINS.c.id == bindparam("sid"), _LOGINS.c.user_id == _USERS.c.id))
    .where(_USERS.c.id == bindparam("user_id"))
)


PrincipalDep = Annotated[Principal, Depends(current_principal)]
SettingsDep = Annotated[Settings, Depends(settings_of)]
