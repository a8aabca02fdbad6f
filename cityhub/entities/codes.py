"""City codes (城市码): one identity per city object, checked on every input.

Structure (17 characters, upper case, no separators)::

    370202  MH  00000042  9
    │       │   │         └ check character: ISO 7064 MOD 37,36 over the first 16 characters (0-9, A-Z)
    │       │   └ serial: 8 digits, allocated per (area, type) by the registry
    │       └ type code: 2 letters from the entity type catalogue (``types.yaml``: BD, HR, MH, PS, …)
    └ area code: the 6-digit GB/T 2260 code of the city or district that registered the object

ISO 7064 MOD 37,36 is the hybrid system for alphanumeric strings (the family of GB 11643's MOD 11-2 and of the
unified social credit code's check): it catches every single-character error and every transposition of
adjacent characters. ``python-stdnum`` computes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum.iso7064 import mod_37_36

LENGTH = 17
SERIAL_DIGITS = 8
MAX_SERIAL = 10**SERIAL_DIGITS - 1
_TYPE = re.compile(r"[A-Z]{2}")


class InvalidCode(ValueError):
    """A city code that is malformed; the message says which part is wrong and how."""


@dataclass(frozen=True)
class CityCode:
    """A parsed, valid city code."""

    area: str
    type: str
    serial: int

    @property
    def code(self) -> str:
        return compose(self.area, self.type, self.serial)

    def __str__(self) -> str:
        return self.code


def check_character(body: str) -> str:
    """The ISO 7064 MOD 37,36 check character of the first 16 characters."""
    return str(mod_37_36.calc_check_digit(body))


def compose(area: str, type_code: str, serial: int) -> str:
    """Build a code from its parts (validated), check character included."""
    _check_area(area)
    _check_type(type_code)
    if not 1 <= serial <= MAX_SERIAL:
        raise InvalidCode(f"serial {serial} is outside 1…{MAX_SERIAL}")
    body = f"{area}{type_code}{serial:0{SERIAL_DIGITS}d}"
    return body + check_character(body)


def parse(code: object, known_types: frozenset[str] | None = None) -> CityCode:
    """Validate a city code and split it; raise ``InvalidCode`` naming what is wrong."""
    if not isinstance(code, str):
        raise InvalidCode(f"a city code is a string of {LENGTH} characters, got {type(code).__name__}")
    text = code.strip().upper()
    if len(text) != LENGTH:
        raise InvalidCode(
            f"city code {code!r} has {len(text)} characters; expected {LENGTH}: 6-digit area code, "
            "2-letter type code, 8-digit serial and a check character (e.g. 370202MH000000429)"
        )
    area, type_code, serial, check = text[:6], text[6:8], text[8:16], text[16]
    _check_area(area)
    _check_type(type_code)
    if known_types is not None and type_code not in known_types:
        raise InvalidCode(
            f"type code {type_code!r} of city code {text} is not a known entity type "
            f"(known: {', '.join(sorted(known_types))})"
        )
    if not serial.isdigit() or not serial.isascii():
        raise InvalidCode(f"serial {serial!r} of city code {text} must be {SERIAL_DIGITS} digits")
    expected = check_character(text[:16])
    if check != expected:
        raise InvalidCode(
            f"check character of city code {text} is {check!r} but should be {expected!r} "
            "(ISO 7064 MOD 37,36): a character is mistyped or two are swapped"
        )
    return CityCode(area, type_code, int(serial))


def is_valid(code: object) -> bool:
    try:
        parse(code)
    except InvalidCode:
        return False
    return True


def _check_area(area: str) -> None:
    if len(area) != 6 or not area.isdigit() or not area.isascii():
        raise InvalidCode(f"area code {area!r} must be the 6-digit GB/T 2260 code of a city or district")


def _check_type(type_code: str) -> None:
    if not _TYPE.fullmatch(type_code):
        raise InvalidCode(f"type code {type_code!r} must be two letters A-Z (e.g. BD, MH, DV)")
