"""Short-lived access tokens (JWT), rotating refresh tokens and API tokens for machine clients."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cityhub.access.passwords import verify_password
from cityhub.kit.errors import Unauthorized, Unprocessable
from cityhub.kit.settings import Settings
from cityhub.kit.timeutil import clock
from cityhub.models.org import ApiToken, RefreshToken, User

API_TOKEN_PREFIX = "chk_"
_ALGORITHM = "HS256"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def token_digest(token: str) -> str:
    """What the hub stores instead of a token's secret (refresh, API and catalog grant tokens)."""
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(session: Session, username: str, password: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    # Verify even when the user is unknown, so timing does not reveal which user names exist.
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not ok or not user.active:
        raise Unauthorized("wrong user name or password")
    return user


def issue_tokens(session: Session, settings: Settings, user: User) -> TokenPair:
    now = clock.now()
    ttl = timedelta(minutes=settings.access_token_minutes)
    claims = {"sub": str(user.id), "role": str(user.role), "iat": now, "exp": now + ttl, "typ": "access"}
    access = jwt.encode(claims, settings.key, algorithm=_ALGORITHM)
    refresh = secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            user_id=user.id,
            token_hash=token_digest(refresh),
            expires_at=now + timedelta(days=settings.refresh_token_days),
        )
    )
    session.flush()
    return TokenPair(access, refresh, int(ttl.total_seconds()))


def refresh_tokens(session: Session, settings: Settings, refresh: str) -> TokenPair:
    """Exchange a refresh token for a new pair; the old refresh token is revoked (rotation)."""
    now = clock.now()
    row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == token_digest(refresh)))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise Unauthorized("refresh token is invalid, expired or already used; log in again")
    row.revoked_at = now
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise Unauthorized("the account is disabled")
    return issue_tokens(session, settings, user)


def revoke_refresh_tokens(session: Session, user_id: int) -> None:
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )


def decode_access_token(settings: Settings, token: str) -> int:
    try:
        claims = jwt.decode(token, settings.key, algorithms=[_ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the access token has expired; refresh it") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("the access token is not valid") from exc
    if claims.get("typ") != "access":
        raise Unauthorized("not an access token")
    try:
        return int(claims["sub"])
    except (TypeError, ValueError) as exc:
        raise Unauthorized("the access token is not valid") from exc


def create_api_token(
    session: Session, user: User, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token for a machine client; the secret is shown once and only its hash is kept."""
    now = clock.now()
    if expires_at is not None and expires_at <= now:
        raise Unprocessable(
            f"expires_at {expires_at.isoformat()} is already past: the token would never work"
        )
    secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name,
        prefix=secret[:12],
        token_hash=token_digest(secret),
        user_id=user.id,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row, secret


def user_for_api_token(session: Session, secret: str) -> User:
    now = clock.now()
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(secret)))
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        raise Unauthorized("the API token is invalid, expired or revoked")
    # Writing last_used_at on every call would serialise machine clients on one row; once a minute is enough.
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        row.last_used_at = now
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise Unauthorized("the account behind this API token is disabled")
    return user


_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$Xq7d0Tc7ByvJ7bJ5h1m3Kq5l6q0q4Kf3Hq0b6a2y7Ys"
)
