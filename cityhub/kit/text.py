"""Text the hub takes from its clients: no control characters (NUL and the like; tab, line feed and carriage
return are text). Stored, they break XML (Open311), CSV and screens, and PostgreSQL refuses NUL outright.

``Input`` is the base of every request body's model: each of its string values, in lists and dicts too, is
checked once, at the edge. Texts that come in another way (CSV uploads) use ``check``.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, field_validator

# Control characters, and the invisible marks that reverse the direction of text (U+202A-E, U+2066-9):
# they make a name or a number read as something else on screen (admin shown as nimda).
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def has_control(text: str) -> bool:
    return CONTROL.search(text) is not None


def check(text: str, what: str = "the text") -> str:
    """The text, or ValueError naming ``what`` if it holds a control character."""
    if has_control(text):
        raise ValueError(
            f"{what} contains control characters (NUL, text-direction marks and the like): remove them"
        )
    return text


def _checked(value: Any) -> Any:
    if isinstance(value, str):
        return check(value, "a text")
    if isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _checked(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _checked(key)
            _checked(item)
    return value


class Input(BaseModel):
    """A request body's model: no control characters in any of its texts (422)."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        return _checked(value)
