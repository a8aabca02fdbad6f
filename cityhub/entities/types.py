"""Entity types as data: ``types.yaml`` declares each type's attributes and the relations it may have, and
this one interpreter checks and normalises attribute values for all of them."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from cityhub.access import masking

TYPES_FILE = Path(__file__).with_name("types.yaml")
VALUE_TYPES = ("str", "int", "float", "bool", "date")
MAX_TEXT = 500
_TRUE = {"true", "1", "yes", "y", "是"}
_FALSE = {"false", "0", "no", "n", "否"}


class InvalidAttribute(ValueError):
    """An attribute value that does not fit its declaration; the message names the attribute."""


@dataclass(frozen=True)
class AttributeSpec:
    """One typed attribute of an entity type."""

    name: str
    type: str = "str"
    unit: str | None = None
    required: bool = False
    source: str | None = None  # the source system that is the source of truth (一数一源); None = the registry
    personal: bool = False
    mask: str | None = None

    def coerce(self, value: Any) -> Any:
        """The value in its declared type, or ``InvalidAttribute`` saying what was expected."""
        try:
            result = _COERCE[self.type](value)
        except (TypeError, ValueError) as exc:
            raise InvalidAttribute(f"attribute {self.name!r} must be {_EXPECTED[self.type]}: {exc}") from exc
        _check_identifier(self.name, result)
        return result

    def masked(self, value: Any) -> Any:
        if value is None or not (self.personal or self.mask):
            return value
        return _MASKS.get(self.mask or "", _mask_all)(str(value))


@dataclass(frozen=True)
class EntityType:
    """An entity type: its two-letter code, names and typed attributes."""

    code: str
    name: str
    en: str
    attributes: tuple[AttributeSpec, ...]
    personal: bool = False
    by_name: dict[str, AttributeSpec] = field(default_factory=dict, compare=False, repr=False)

    def validate(self, values: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
        """Coerce every given attribute; unknown names and (unless partial) missing required ones fail."""
        unknown = sorted(set(values) - set(self.by_name))
        if unknown:
            raise InvalidAttribute(
                f"{self.code} ({self.en}) has no attribute {', '.join(map(repr, unknown))}; "
                f"declared: {', '.join(self.by_name) or 'none'}"
            )
        out = {k: self.by_name[k].coerce(v) for k, v in values.items() if v is not None and v != ""}
        if not partial:
            missing = [a.name for a in self.attributes if a.required and a.name not in out]
            if missing:
                raise InvalidAttribute(f"{self.code} ({self.en}) requires {', '.join(missing)}")
        return out


@dataclass(frozen=True)
class RelationSpec:
    """A relation type and the entity types allowed at each end."""

    name: str
    sources: frozenset[str]
    targets: frozenset[str]


@dataclass(frozen=True)
class Catalogue:
    types: dict[str, EntityType]
    relations: dict[str, RelationSpec]

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(self.types)


_lock = threading.Lock()
_extra: dict[str, EntityType] = {}


@cache
def _builtin() -> Catalogue:
    raw = yaml.safe_load(TYPES_FILE.read_text(encoding="utf-8"))
    types = {code: _entity_type(code, spec) for code, spec in raw["types"].items()}
    relations = {
        name: RelationSpec(name, frozenset(spec["from"]), frozenset(spec["to"]))
        for name, spec in raw["relations"].items()
    }
    return Catalogue(types, relations)


def catalogue() -> Catalogue:
    """The built-in types plus those registered by scenario packs."""
    base = _builtin()
    with _lock:
        if not _extra:
            return base
        return Catalogue({**base.types, **_extra}, base.relations)


def register(code: str, spec: dict[str, Any]) -> EntityType:
    """Add (or extend) an entity type at run time, e.g. from a scenario pack's YAML."""
    entity_type = _entity_type(code, spec)
    with _lock:
        _extra[code] = entity_type
    return entity_type


def personal_types() -> list[str]:
    """The codes of the types whose entities are people (PIPL personal information), sorted."""
    return sorted(code for code, spec in catalogue().types.items() if spec.personal)


def get(code: str) -> EntityType | None:
    return catalogue().types.get(code)


def _entity_type(code: str, spec: dict[str, Any]) -> EntityType:
    attributes = tuple(AttributeSpec(**a) for a in spec.get("attributes", []))
    for a in attributes:
        if a.type not in VALUE_TYPES:
            raise ValueError(f"entity type {code}: attribute {a.name} has unknown type {a.type}")
    return EntityType(
        code=code,
        name=spec["name"],
        en=spec.get("en", spec["name"]),
        attributes=attributes,
        personal=bool(spec.get("personal", False)),
        by_name={a.name: a for a in attributes},
    )


def _to_str(value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise ValueError("a text value, not a list or object")
    text = str(value).strip()
    if len(text) > MAX_TEXT or "\x00" in text:
        raise ValueError(f"at most {MAX_TEXT} characters, no NUL")
    return text


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("a whole number, not true/false")
    number = int(value) if isinstance(value, int) else int(str(value).strip())
    if abs(number) > 2**53:
        raise ValueError("too large")
    return number


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("a number, not true/false")
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError("a finite number")
    return number


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{value!r} is not true or false")


def _to_date(value: Any) -> str:
    return date.fromisoformat(str(value).strip()).isoformat()


_COERCE = {"str": _to_str, "int": _to_int, "float": _to_float, "bool": _to_bool, "date": _to_date}
_EXPECTED = {
    "str": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "date": "a date YYYY-MM-DD",
}


def _check_identifier(name: str, value: Any) -> None:
    """Identifiers with a national check digit are checked like any other input (python-stdnum)."""
    checks = {"uscc": uscc, "id_number": ric}
    module = checks.get(name)
    if module is None:
        return
    try:
        module.validate(str(value))
    except ValidationError as exc:
        raise InvalidAttribute(f"attribute {name!r}: {value!r} is not a valid number ({exc})") from exc


def _mask_all(value: str) -> str:
    return "*" * min(len(value), 8)


def _mask_address(value: str) -> str:
    # Keep the district/street part a dispatcher needs; hide the house number.
    return value[: max(0, len(value) // 2)] + "***"


def _mask_name(value: str) -> str:
    return masking.mask_name(value) or ""


def _mask_phone(value: str) -> str:
    return masking.mask_phone(value) or ""


def _mask_id(value: str) -> str:
    return masking.mask_id_number(value) or ""


_MASKS = {"name": _mask_name, "phone": _mask_phone, "id_number": _mask_id, "address": _mask_address}
