"""Login, token refresh, login sessions, logout and API tokens for machine clients."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from cityhub.access import passwords, policy, tokens
from cityhub.access.deps import PrincipalDep, SessionDep, SettingsDep, client_address
from cityhub.access.passwords import verify_password
from cityhub.access.schemas import LoginSessionOut, session_out
from cityhub.audit.hooks import bind_principal, record
from cityhub.kit.errors import NotFound, Unprocessable
from cityhub.kit.text import Input
from cityhub.kit.timeutil import Instant, clock
from cityhub.models.org import ApiToken, User
from cityhub.org.service import lock_user, principal_for, set_password

router = APIRouter(tags=["auth"])


class LoginIn(Input):
    username: str = Field(min_length=1, max_length=60)
    password: str = Field(min_length=1, max_length=200)


class RefreshIn(Input):
    refresh_token: str = Field(min_length=10, max_length=200)


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class MeOut(BaseModel):
    id: int | None
    username: str
    role: str
    role_label: str
    department_id: int | None
    area_id: int | None
    may: dict[str, list[str]] = Field(
        description="what the role may do beyond single events: action → relations (any, owner, requester, "
        "member) under which it may; the API decides every request"
    )


class ApiTokenIn(Input):
    name: str = Field(min_length=1, max_length=100)
    username: str = Field(min_length=1, max_length=60, description="the (service) user the token acts as")
    expires_at: Instant | None = Field(None, description="when the token stops working (default: never)")


class ApiTokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    user_id: int
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    token: str | None = Field(None, description="the secret, shown only once at creation")


@router.post(
    "/auth/login",
    response_model=TokenOut,
    responses={
        401: {"description": "wrong user name or password (counted)"},
        429: {
            "description": "too many failed logins: for this account (code `login_locked`) or from this "
            "client address, whatever the user name (code `address_throttled`); see Retry-After",
        },
    },
)
def login(
    request: Request,
    body: LoginIn,
    session: SessionDep,
    settings: SettingsDep,
    user_agent: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> TokenOut:
    """Exchange a user name and password for a short-lived access token and a refresh token: a new login
    session (listed under ``/auth/sessions``). Failed logins are limited per account and per client
    address."""
    address = client_address(request)
    try:
        user, pair = tokens.log_in(
            session, settings, body.username, body.password, client=user_agent, address=address
        )
    except tokens.LoginFailed:
        session.commit()  # the failure counts although the answer is a 401
        raise
    record(
        session,
        principal_for(session, user, address=address),
        "login",
        "users",
        str(user.id),
        {"client": user_agent},
    )
    return _pair_out(pair)


@router.post("/auth/refresh", response_model=TokenOut)
def refresh(
    request: Request,
    body: RefreshIn,
    session: SessionDep,
    settings: SettingsDep,
    user_agent: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> TokenOut:
    """Rotate: the refresh token is used up and a new pair of the same session is issued. A refresh token
    presented a second time ends its session (someone else may hold a copy): log in again."""
    try:
        pair = tokens.refresh_tokens(
            session, settings, body.refresh_token, client=user_agent, address=client_address(request)
        )
    except tokens.RefreshReused:
        session.commit()  # the ending of the session stands although the answer is a 401
        raise
    return _pair_out(pair)


def _pair_out(pair: tokens.TokenPair) -> TokenOut:
    return TokenOut(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(
    principal: PrincipalDep,
    session: SessionDep,
    everywhere: Annotated[bool, Query(description="end all the user's sessions, not only this")] = False,
) -> None:
    """End this login session: its access and refresh tokens stop working at once. ``everywhere=true``
    ends all of the user's sessions (a lost phone, a shared computer)."""
    if principal.user_id is None:
        return
    if everywhere:
        ended = tokens.end_sessions(session, principal.user_id, tokens.LOGOUT)
        record(session, principal, "logout", "users", str(principal.user_id), {"sessions": ended})
        return
    if principal.session_id is None:
        raise Unprocessable(
            "an API token has no login session to end: revoke the token (DELETE /api/v1/api-tokens/{id}) "
            "or pass everywhere=true"
        )
    if principal.user_id is not None and tokens.end_one(
        session, principal.user_id, principal.session_id, tokens.LOGOUT
    ):
        record(session, principal, "logout", "users", str(principal.user_id), {"sessions": 1})


class PasswordChangeIn(Input):
    current_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=passwords.MIN_LENGTH, max_length=200)


@router.post("/auth/password", status_code=status.HTTP_204_NO_CONTENT)
def change_password(
    body: PasswordChangeIn, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> None:
    """Change your password. Your other login sessions end; this one goes on. Wrong current passwords
    count towards the login's lock, as at login."""
    user = session.get(User, principal.user_id) if principal.user_id is not None else None
    if user is None or principal.session_id is None:
        raise Unprocessable("only a person logged in with a password can change it (not an API token)")
    lock_user(session, user)
    tokens.refuse_if_locked(user)
    if not verify_password(user.password_hash, body.current_password):
        tokens.count_failure(session, settings, user, principal.address)
        session.commit()  # the failure counts although the answer is an error
        raise Unprocessable("the current password is wrong", code="wrong_password", field="current_password")
    if body.new_password == body.current_password:
        raise Unprocessable("the new password is the current one", code="same_password", field="new_password")
    bind_principal(session, principal)
    set_password(session, user, body.new_password, keep_session=principal.session_id)


@router.get("/auth/sessions", response_model=list[LoginSessionOut])
def list_sessions(
    principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> list[LoginSessionOut]:
    """Your open login sessions, the most recently used first: end one you do not recognise."""
    if principal.user_id is None:
        return []
    return [session_out(row, principal) for row in tokens.open_sessions(session, settings, principal.user_id)]


@router.delete("/auth/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
def end_session(
    session_id: Annotated[int, Path(ge=1, le=2**63 - 1)], principal: PrincipalDep, session: SessionDep
) -> None:
    """End one of your login sessions (its tokens stop working at once)."""
    ended = None
    if principal.user_id is not None:
        ended = tokens.end_one(session, principal.user_id, session_id, tokens.ENDED_BY_USER)
    if ended is None:
        raise NotFound(f"you have no login session {session_id}")
    if ended:
        record(session, principal, "logout", "users", str(principal.user_id), {"sessions": 1})


@router.get("/auth/me", response_model=MeOut)
def me(principal: PrincipalDep) -> MeOut:
    """Who the token belongs to."""
    return MeOut(
        id=principal.user_id,
        username=principal.username,
        role=principal.role,
        role_label=principal.role.label,
        department_id=principal.department_id,
        area_id=principal.area_id,
        may=policy.abilities(principal),
    )


def _token_out(row: ApiToken, secret: str | None = None) -> ApiTokenOut:
    return ApiTokenOut(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        user_id=row.user_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        token=secret,
    )


@router.post("/api-tokens", response_model=ApiTokenOut, status_code=status.HTTP_201_CREATED)
def create_api_token(body: ApiTokenIn, principal: PrincipalDep, session: SessionDep) -> ApiTokenOut:
    """Create an API token for a machine client (the secret is returned once)."""
    policy.authorize(principal, "tokens.manage")
    bind_principal(session, principal)
    user = session.scalar(select(User).where(User.username == body.username))
    if user is None:
        raise Unprocessable(f"no user {body.username}: create it first (POST /api/v1/users)")
    row, secret = tokens.create_api_token(session, user, body.name, body.expires_at)
    return _token_out(row, secret)


@router.get("/api-tokens", response_model=list[ApiTokenOut])
def list_api_tokens(principal: PrincipalDep, session: SessionDep) -> list[ApiTokenOut]:
    """All API tokens, without their secrets."""
    policy.authorize(principal, "tokens.manage")
    return [_token_out(row) for row in session.scalars(select(ApiToken).order_by(ApiToken.id))]


@router.delete("/api-tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_api_token(token_id: int, principal: PrincipalDep, session: SessionDep) -> None:
    """Revoke an API token at once."""
    policy.authorize(principal, "tokens.manage")
    bind_principal(session, principal)
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no API token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = clock.now()
