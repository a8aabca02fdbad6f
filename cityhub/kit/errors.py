"""Errors that carry their HTTP status; one handler renders them as RFC 7807 problem+json."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar


class CityHubError(Exception):
    """A business error a person can act on. Never rendered as 500."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class BadRequest(CityHubError):
    status = 400
    title = "Bad request"


class Unauthorized(CityHubError):
    status = 401
    title = "Authentication required"


class Forbidden(CityHubError):
    status = 403
    title = "Not allowed"


class NotFound(CityHubError):
    status = 404
    title = "Not found"


class Conflict(CityHubError):
    status = 409
    title = "Conflict"


class InvalidTransition(Conflict):
    title = "Invalid transition"

    def __init__(self, action: str, status: str, allowed: Sequence[str], *, final: bool = False) -> None:
        allowed_text = ", ".join(allowed) or ("none (the event is final)" if final else "none of yours")
        super().__init__(
            f"cannot {action} an event that is {status}; allowed actions now: {allowed_text}",
            action=action,
            current_status=status,
            allowed_actions=list(allowed),
        )


class Unprocessable(CityHubError):
    status = 422
    title = "Unprocessable content"


class PayloadTooLarge(CityHubError):
    status = 413
    title = "Payload too large"


class TooManyRequests(CityHubError):
    status = 429
    title = "Too many requests"
