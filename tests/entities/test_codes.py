"""City codes: structure, check character, and messages that say what is wrong."""

from __future__ import annotations

import pytest

from cityhub.entities import codes

KNOWN = frozenset({"MH", "DV", "BD"})


def test_composed_codes_parse_back() -> None:
    code = codes.compose("370202", "MH", 42)
    assert len(code) == 17 and code.startswith("370202MH00000042")
    assert codes.parse(code, KNOWN) == codes.CityCode("370202", "MH", 42)
    assert codes.parse(code.lower(), KNOWN).code == code  # typed in lower case, still the same object


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda c: c[:-1], "has 16 characters"),
        (lambda c: "37O202" + c[6:], "area code '37O202'"),
        (lambda c: c[:6] + "M1" + c[8:], "type code 'M1'"),
        (lambda c: c[:6] + "ZZ" + c[8:], "not a known entity type"),
        (lambda c: c[:10] + "X" + c[11:], "serial"),
        (lambda c: c[:-1] + ("0" if c[-1] != "0" else "1"), "check character"),
        (lambda c: c[:12] + c[13] + c[12] + c[14:], "check character"),
    ],
    ids=["short", "area", "type-format", "type-unknown", "serial", "check", "transposed"],
)
def test_every_malformed_code_is_refused_with_its_reason(mangle: object, message: str) -> None:
    code = codes.compose("370202", "MH", 1234567)
    assert callable(mangle)
    with pytest.raises(codes.InvalidCode, match=message):
        codes.parse(mangle(code), KNOWN)


def test_single_substitutions_are_always_caught() -> None:
    code = codes.compose("370211", "DV", 98765432)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for i in range(len(code)):
        for ch in alphabet:
            if ch != code[i]:
                assert not codes.is_valid(code[:i] + ch + code[i + 1 :])
