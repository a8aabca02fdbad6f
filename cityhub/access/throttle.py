"""The per-address limit on failed logins (登录失败处理, GB/T 22239), beside the per-account lock.

From one client address, more than ``login_address_max_failures`` failed logins — wrong passwords and
unknown user names alike — within ``login_address_window_minutes`` make every further login from it a 429,
whatever the user name, until the oldest of them leaves the window. The failures are rows of
``login_failures`` (decision 0021): every API process counts the same ones and a restart forgets none. A
refused attempt is not a failure: it counts neither for the address nor against the account, and writes
nothing. A successful login clears nothing (one valid account must not reset the count).
"""

from __future__ import annotations

import ipaddress
import logging
import math
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cityhub.access.principal import SYSTEM
from cityhub.audit.hooks import record
from cityhub.kit.errors import TooManyRequests
from cityhub.kit.settings import Settings
from cityhub.kit.timeutil import SHANGHAI, clock
from cityhub.models.org import ADDRESS_LENGTH, LoginFailure

log = logging.getLogger(__name__)


def throttle_key(address: str | None) -> str | None:
    """What the limit counts by: an IPv4 address; an IPv6 address's /64 network (one subscriber's usual
    share, so stepping through it does not escape the limit); anything else (a name) as it is."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address[:ADDRESS_LENGTH]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _window(settings: Settings) -> timedelta:
    return timedelta(minutes=settings.login_address_window_minutes)


def throttled_until(session: Session, settings: Settings, address: str | None) -> datetime | None:
    """Until when logins from ``address`` are refused: when the oldest of its latest
    ``login_address_max_failures`` failures leaves the window; None if it has fewer within the window."""
    key = throttle_key(address)
    if key is None:
        return None
    window = _window(settings)
    oldest_counted = session.scalar(
        select(LoginFailure.at)
        .where(LoginFailure.address == key, LoginFailure.at > clock.now() - window)
        .order_by(LoginFailure.at.desc())
        .offset(settings.login_address_max_failures - 1)
        .limit(1)
    )
    return oldest_counted + window if oldest_counted is not None else None


def refuse_if_throttled(session: Session, settings: Settings, address: str | None) -> None:
    """429 while too many failed logins from ``address`` are within the window."""
    until = throttled_until(session, settings, address)
    if until is None:
        return
    local = until.astimezone(SHANGHAI)
    raise TooManyRequests(
        f"too many failed logins from your address ({address}): logins from it are refused, whatever the "
        f"user name, until {local:%H:%M} (Asia/Shanghai)",
        retry_after=max(1, math.ceil((until - clock.now()).total_seconds())),
        code="address_throttled",
        until=until.isoformat(),
    )


def count_failure(session: Session, settings: Settings, address: str | None) -> None:
    """One more failed login from ``address``. The one that reaches the limit starts a refusal and is
    audited as ``login_throttled`` (once per refusal, in the failure's own transaction: refused attempts
    write nothing). The caller commits."""
    key = throttle_key(address)
    if key is None:
        return
    now = clock.now()
    session.add(LoginFailure(address=key, at=now))
    session.flush()
    window = _window(settings)
    count, oldest = session.execute(
        select(func.count(), func.min(LoginFailure.at)).where(
            LoginFailure.address == key, LoginFailure.at > now - window
        )
    ).one()
    if count == settings.login_address_max_failures:
        until = oldest + window
        changes = {
            "failures": count,
            "minutes": settings.login_address_window_minutes,
            "until": until.isoformat(),
        }
        record(session, SYSTEM.at(address), "login_throttled", "addresses", key[:40], changes)
        log.warning("logins from %s refused until %s after %s failures", key, until.isoformat(), count)


def prune(session: Session, settings: Settings) -> int:
    """Delete failures that no longer count (older than the window); rows deleted."""
    gone = session.execute(delete(LoginFailure).where(LoginFailure.at <= clock.now() - _window(settings)))
    return int(getattr(gone, "rowcount", 0) or 0)
