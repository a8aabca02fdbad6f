"""FastAPI dependencies that resolve the acting principal from a bearer token or an API token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.access.principal import Principal
from cityhub.access.tokens import API_TOKEN_PREFIX, decode_access_token, user_for_api_token
from cityhub.kit.errors import Unauthorized
from cityhub.kit.http import get_session
from cityhub.kit.settings import Settings
from cityhub.models.area import Area, AreaLevel
from cityhub.models.org import User
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


def current_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("log in first: send 'Authorization: Bearer <token>'")
    token = credentials.credentials
    if token.startswith(API_TOKEN_PREFIX):
        return principal_for(session, user_for_api_token(session, token))
    user_id = decode_access_token(app_settings(request), token)
    # The user and the level of their area in one round trip: this runs on every request.
    found = session.execute(
        select(User, Area.level).outerjoin(Area, Area.id == User.area_id).where(User.id == user_id)
    ).first()
    if found is None or not found[0].active:
        raise Unauthorized("the account is disabled or no longer exists")
    user, level = found
    return principal_for(session, user, AreaLevel(level) if level is not None else None)


PrincipalDep = Annotated[Principal, Depends(current_principal)]
SettingsDep = Annotated[Settings, Depends(settings_of)]
