"""Short-lived access tokens (JWT), rotating refresh tokens and API tokens for machine clients."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from cityhub.access import throttle
from cityhub.access.passwords import verify_password
from cityhub.access.principal import SYSTEM, Principal
from cityhub.audit.hooks import record
from cityhub.kit.errors import TooManyRequests, Unauthorized, Unprocessable
from cityhub.kit.settings import Settings
from cityhub.kit.timeutil import SHANGHAI, clock
from cityhub.models.org import ApiToken, LoginSession, RefreshToken, User

log = logging.getLogger(__name__)

API_TOKEN_PREFIX = "chk_"
_ALGORITHM = "HS256"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    session_id: int


class RefreshReused(Unauthorized):
    """A refresh token presented again after it was exchanged: someone else holds a copy (OAuth 2.0
    Security BCP, refresh token rotation). Its session has been ended and that must be committed."""


def token_digest(token: str) -> str:
    """What the hub stores instead of a token's secret (refresh, API and catalog grant tokens)."""
    return hashlib.sha256(token.encode()).hexdigest()


class LoginFailed(Unauthorized):
    """Wrong or unknown user name or password: a failure was counted (for the address, and for the account
    if it exists) and must be committed although the answer is a 401."""


def log_in(
    session: Session,
    settings: Settings,
    username: str,
    password: str,
    *,
    client: str | None = None,
    address: str | None = None,
) -> tuple[User, TokenPair]:
    """Log in with a password from ``address``: the user, and a new session with its first pair of tokens.

    Refused with a 429 while the address has too many recent failures (``throttle``) — before the user name
    is even looked at, so no spelling of it gets through and the account's count is left alone — or while
    the account is locked. A failure raises :class:`LoginFailed`; the caller commits it.
    """
    throttle.refuse_if_throttled(session, settings, address)
    user = authenticate(session, settings, username, password, address)
    user.last_login_at, user.last_login_address = clock.now(), address
    return user, issue_tokens(session, settings, user, client=client, address=address)


def authenticate(
    session: Session, settings: Settings, username: str, password: str, address: str | None = None
) -> User:
    """The user these credentials are for. Wrong passwords in a row lock the account for a while (登录失败
    处理, GB/T 22239): :class:`LoginFailed` counts one, and at ``login_max_failures`` the lock begins. Every
    failure, for unknown user names too, counts for ``address`` (``throttle``)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is not None:
        refuse_if_locked(user)  # a guess during the lock is not even checked: it tells nothing
    # Verify even when the user is unknown or has no password, so timing does not reveal which do.
    known = user.password_hash if user is not None else None
    ok = verify_password(known or _DUMMY_HASH, password) and known is not None
    if user is None or not ok:
        throttle.count_failure(session, settings, address)
        if user is None:  # the name is not kept: people type passwords into it
            record(session, SYSTEM.at(address), "login_failed", "users", "?", {"unknown_user": True})
        elif user.password_hash is None:  # a user who cannot log in with a password (demo staff, gateways)
            record(session, SYSTEM.at(address), "login_failed", "users", str(user.id), {"no_password": True})
        else:
            count_failure(session, settings, user, address)
        raise LoginFailed("wrong user name or password", code="login_failed")
    if not user.active:
        raise Unauthorized("this account is disabled: ask an administrator", code="account_disabled")
    clear_lock(user)
    return user


def refuse_if_locked(user: User) -> None:
    """429 while wrong passwords keep the user's login locked."""
    now = clock.now()
    if user.locked_until is not None and user.locked_until > now:
        until = user.locked_until.astimezone(SHANGHAI)
        raise TooManyRequests(
            f"too many wrong passwords: this account can log in again at {until:%H:%M} (Asia/Shanghai), "
            "or after an administrator unlocks it or resets its password",
            code="login_locked",
            until=until.isoformat(),
            retry_after=max(1, int((user.locked_until - now).total_seconds())),
        )


def count_failure(session: Session, settings: Settings, user: User, address: str | None = None) -> None:
    """One more wrong password for ``user`` (at login or when changing it, from ``address``), counted in the
    database so that guesses at once all count; at ``login_max_failures`` the login is locked. Audited; the
    caller commits."""
    source = SYSTEM.at(address)
    failures = session.execute(
        update(User)
        .where(User.id == user.id)
        .values(failed_logins=User.failed_logins + 1)
        .returning(User.failed_logins)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    record(session, source, "login_failed", "users", str(user.id), {"failures": failures})
    if failures >= settings.login_max_failures:
        until = clock.now() + timedelta(minutes=settings.login_lock_minutes)
        session.execute(
            update(User)
            .where(User.id == user.id)
            .values(failed_logins=0, locked_until=until)
            .execution_options(synchronize_session=False)
        )
        record(session, source, "login_locked", "users", str(user.id), {"until": until.isoformat()})
        minutes = settings.login_lock_minutes
        log.warning("user %s locked for %s min after wrong passwords", user.username, minutes)


def clear_lock(user: User) -> None:
    """Forget the user's failed logins (a good password, a new one, an administrator's unlock)."""
    if user.failed_logins:
        user.failed_logins = 0
    if user.locked_until is not None:
        user.locked_until = None


def issue_tokens(
    session: Session, settings: Settings, user: User, client: str | None = None, address: str | None = None
) -> TokenPair:
    """Log in: a new session, its first refresh token and an access token that names the session."""
    return _pair(session, settings, user, _start_session(session, user, client, address))


def _start_session(session: Session, user: User, client: str | None, address: str | None) -> LoginSession:
    login = LoginSession(
        user_id=user.id,
        started_at=clock.now(),
        client=client[:200] if client else None,
        address=address,
        last_address=address,
    )
    session.add(login)
    session.flush()
    return login


def _pair(session: Session, settings: Settings, user: User, login: LoginSession) -> TokenPair:
    now = clock.now()
    ttl = timedelta(minutes=settings.access_token_minutes)
    claims = {
        "sub": str(user.id),
        "sid": login.id,
        "role": str(user.role),
        "iat": now,
        "exp": now + ttl,
        "typ": "access",
    }
    access = jwt.encode(claims, settings.key, algorithm=_ALGORITHM)
    refresh = secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            user_id=user.id,
            session_id=login.id,
            token_hash=token_digest(refresh),
            expires_at=now + timedelta(days=settings.refresh_token_days),
        )
    )
    session.flush()
    return TokenPair(access, refresh, int(ttl.total_seconds()))


def refresh_tokens(
    session: Session, settings: Settings, refresh: str, client: str | None = None, address: str | None = None
) -> TokenPair:
    """Exchange a refresh token for a new pair in the same session; the old one is used up (rotation).

    Presented again, a used-up token ends its session — the thief's copy and the owner's tokens alike —
    and raises :class:`RefreshReused`; the caller commits the ending before answering 401.
    """
    now = clock.now()
    row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == token_digest(refresh)))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise Unauthorized("refresh token is invalid, expired or its session has ended; log in again")
    login = session.get(LoginSession, row.session_id) if row.session_id is not None else None
    if row.used_at is not None:
        raise _reused(
            session,
            login,
            "this refresh token was already used, so a copy of it may be in other hands: "
            "its session has been ended; log in again",
        )
    if login is not None and login.ended_at is not None:
        raise Unauthorized("the session has ended; log in again")
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise Unauthorized("the account is disabled")
    # Use it up only if no one else has meanwhile: of two refreshes with one token at once, one wins and
    # the other is a reuse (a copy in other hands, or a client that lost track).
    won = session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None), RefreshToken.revoked_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(won, "rowcount", 0):
        if login is not None:
            session.refresh(login)  # the other request may have ended it already
        raise _reused(
            session,
            login,
            "this refresh token was used by another request at the same moment: its session has been ended "
            "for safety; log in again",
        )
    if login is None:  # issued before sessions existed
        login = _start_session(session, user, client, address)
    login.refreshed_at, login.last_address = now, address
    return _pair(session, settings, user, login)


def _reused(session: Session, login: LoginSession | None, detail: str) -> RefreshReused:
    """End the session of a refresh token presented twice (if it is still open), for the caller to raise."""
    if login is not None and login.ended_at is None:
        end_session(session, login, REUSED)
        log.warning("refresh token of session %s used twice: session ended", login.id)
    return RefreshReused(detail)


# Why a session ended (``LoginSession.end_reason``).
LOGOUT = "logout"
REUSED = "refresh token reused"
ENDED_BY_USER = "ended by its user"
PASSWORD_CHANGED = "password changed"
ACCOUNT_DISABLED = "account disabled"
ENDED_BY_ADMIN = "ended by an administrator"


def end_session(session: Session, login: LoginSession, reason: str) -> None:
    """End a session: its refresh tokens are revoked and its access tokens refused from now on."""
    now = clock.now()
    login.ended_at = now
    login.end_reason = reason
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.session_id == login.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def end_one(session: Session, user_id: int, session_id: int, reason: str) -> int | None:
    """End login session ``session_id`` of ``user_id`` if it is still open: 1 if it ended now, 0 if it had
    ended before, None if the user has no such session (someone else's included)."""
    login = session.get(LoginSession, session_id)
    if login is None or login.user_id != user_id:
        return None
    if login.ended_at is not None:
        return 0
    end_session(session, login, reason)
    return 1


def end_sessions(session: Session, user_id: int, reason: str, *, keep: int | None = None) -> int:
    """End every open session of a user but ``keep`` (and revoke refresh tokens issued before sessions
    existed); how many ended."""
    now = clock.now()
    sessions = [LoginSession.user_id == user_id, LoginSession.ended_at.is_(None)]
    refresh = [RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)]
    if keep is not None:
        sessions.append(LoginSession.id != keep)
        refresh.append(or_(RefreshToken.session_id.is_(None), RefreshToken.session_id != keep))
    ended = session.execute(update(LoginSession).where(*sessions).values(ended_at=now, end_reason=reason))
    session.execute(update(RefreshToken).where(*refresh).values(revoked_at=now))
    return int(getattr(ended, "rowcount", 0) or 0)


def still_open(session: Session, principal: Principal) -> bool:
    """Whether a principal resolved earlier may still act as it is: its user is active with the same role,
    department and area and, for an access token, its login session has not ended (a long-lived
    connection asks this now and then)."""
    if principal.user_id is None:
        return True
    query = select(User.active, User.role, User.department_id, User.area_id).where(
        User.id == principal.user_id
    )
    if principal.session_id is not None:
        query = query.join(LoginSession, LoginSession.user_id == User.id).where(
            LoginSession.id == principal.session_id, LoginSession.ended_at.is_(None)
        )
    found = session.execute(query).first()
    if found is None or not found.active:
        return False
    return (found.role, found.department_id, found.area_id) == (
        principal.role,
        principal.department_id,
        principal.area_id,
    )


# How long an ended (or long dead) login session is kept; logins and logouts stay in the audit log.
SESSION_RETENTION = timedelta(days=30)


def prune(session: Session, settings: Settings) -> int:
    """Delete what no longer counts: refresh tokens past their expiry or revoked a day ago, sessions that
    ended, or could no longer be refreshed, more than ``SESSION_RETENTION`` ago, and failed logins outside
    the per-address window. A used token of an open session is kept until it expires, so presenting it
    again still ends the session. Rows deleted."""
    now = clock.now()
    tokens = session.execute(
        delete(RefreshToken).where(
            or_(RefreshToken.expires_at < now, RefreshToken.revoked_at < now - timedelta(days=1))
        )
    )
    dead_since = now - SESSION_RETENTION
    idle_since = dead_since - timedelta(days=settings.refresh_token_days)
    last = func.coalesce(LoginSession.refreshed_at, LoginSession.started_at)
    gone = or_(LoginSession.ended_at < dead_since, and_(LoginSession.ended_at.is_(None), last < idle_since))
    still_referenced = select(RefreshToken.id).where(RefreshToken.session_id == LoginSession.id).exists()
    sessions = session.execute(delete(LoginSession).where(gone, ~still_referenced))
    deleted = sum(int(getattr(r, "rowcount", 0) or 0) for r in (tokens, sessions))
    return deleted + throttle.prune(session, settings)


def open_sessions(session: Session, settings: Settings, user_id: int) -> list[LoginSession]:
    """The user's sessions that can still be used: not ended, refreshed (or started) within the
    refresh tokens' lifetime; the most recent first."""
    since = clock.now() - timedelta(days=settings.refresh_token_days)
    last = func.coalesce(LoginSession.refreshed_at, LoginSession.started_at)
    return list(
        session.scalars(
            select(LoginSession)
            .where(LoginSession.user_id == user_id, LoginSession.ended_at.is_(None), last > since)
            .order_by(last.desc(), LoginSession.id.desc())
            .limit(100)
        )
    )


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    return _decode(settings, token, "access", "the access token")


# A stream ticket lets a browser open the live stream (EventSource cannot send headers) without putting its
# access token in a URL, where server and proxy logs would keep it: good for one minute and only there.
STREAM_TICKET_SECONDS = 60


def issue_stream_ticket(settings: Settings, user_id: int, session_id: int) -> str:
    now = clock.now()
    claims = {
        "sub": str(user_id),
        "sid": session_id,
        "typ": "stream",
        "iat": now,
        "exp": now + timedelta(seconds=STREAM_TICKET_SECONDS),
    }
    return jwt.encode(claims, settings.key, algorithm=_ALGORITHM)


def decode_stream_ticket(settings: Settings, ticket: str) -> AccessClaims:
    return _decode(settings, ticket, "stream", "the stream ticket")


def _decode(settings: Settings, token: str, kind: str, what: str) -> AccessClaims:
    try:
        claims = jwt.decode(
            token, settings.key, algorithms=[_ALGORITHM], options={"require": ["exp", "sub", "sid"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized(f"{what} has expired; refresh it") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"{what} is not valid; log in again") from exc
    if claims.get("typ") != kind:
        raise Unauthorized(f"not {what}")
    try:
        return AccessClaims(int(claims["sub"]), int(claims["sid"]))
    except (TypeError, ValueError) as exc:
        raise Unauthorized(f"{what} is not valid") from exc


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
