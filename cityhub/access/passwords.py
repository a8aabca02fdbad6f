"""Password hashing with argon2id, and the rule every password a person sets must meet."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from cityhub.kit.errors import Unprocessable

_hasher = PasswordHasher()

# Passwords with complexity (GB/T 22239-2019, 身份鉴别: 身份鉴别信息具有复杂度要求): at least this long, with
# characters of at least CLASSES_NEEDED of the four kinds, and not holding the user's name.
MIN_LENGTH = 8
CLASSES_NEEDED = 3
RULE = (
    f"at least {MIN_LENGTH} characters, of at least {CLASSES_NEEDED} kinds out of lower-case letters, "
    "upper-case letters, digits and other characters, and not containing the user name"
)


def weakness(password: str, username: str | None = None) -> str | None:
    """What keeps ``password`` from meeting the rule, or None when it does."""
    if len(password) < MIN_LENGTH:
        return f"it has fewer than {MIN_LENGTH} characters"
    if not password.strip():
        return "it is only spaces"
    kinds = (str.islower, str.isupper, str.isdigit)
    classes = sum(any(kind(c) for c in password) for kind in kinds)
    classes += any(not (c.islower() or c.isupper() or c.isdigit()) for c in password)
    if classes < CLASSES_NEEDED:
        return f"it has characters of {classes} kind{'s' if classes != 1 else ''} only"
    if username and len(username) >= 3 and username.casefold() in password.casefold():
        return "it contains the user name"
    return None


def check_rule(password: str, username: str | None = None) -> None:
    """422 (``weak_password``) unless ``password`` meets the rule."""
    reason = weakness(password, username)
    if reason is not None:
        raise Unprocessable(
            f"the password is too weak: {reason}; use {RULE}", code="weak_password", rule=RULE
        )


def generate() -> str:
    """A random password that meets the rule (the demo's, when none is given)."""
    while True:
        candidate = secrets.token_urlsafe(12)
        if weakness(candidate) is None:
            return candidate


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if password_hash is None:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
