"""Errors that carry their HTTP status; one handler renders them as RFC 7807 problem+json."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar


class CityHubError(Exception):
    """A business error a person can act on. Never rendered as 500.

    ``code`` is a stable name of the error for programs (the dashboard says it in the user's language):
    the class's own, or a narrower one where the error is raised (``code="login_locked"``).
    """

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"
    default_code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.extra = extra


class BadRequest(CityHubError):
    status = 400
    title = "Bad request"


class Unauthorized(CityHubError):
    status = 401
    title = "Authentication required"
    default_code = "unauthorized"


class Forbidden(CityHubError):
    status = 403
    title = "Not allowed"
    default_code = "forbidden"


class NotFound(CityHubError):
    status = 404
    title = "Not found"
    default_code = "not_found"


class Conflict(CityHubError):
    status = 409
    title = "Conflict"
    default_code = "conflict"


class InvalidTransition(Conflict):
    title = "Invalid transition"
    default_code = "invalid_transition"

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
    default_code = "unprocessable"


class PayloadTooLarge(CityHubError):
    status = 413
    title = "Payload too large"
    default_code = "payload_too_large"


class TooManyRequests(CityHubError):
    status = 429
    title = "Too many requests"
    default_code = "too_many_requests"
