"""Masking of personal information: 张*, 138****5678, 370202********1234."""

from __future__ import annotations


def mask_name(name: str | None) -> str | None:
    if not name:
        return name
    return name[0] + "*" * max(1, len(name) - 1)


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    digits = phone.strip()
    if len(digits) >= 7:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * len(digits)


def mask_id_number(value: str | None) -> str | None:
    if not value:
        return value
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


# Administrative units an address keeps when masked: everything after the last of these is detail.
_ADDRESS_UNITS = ("街道", "社区", "区", "县", "镇", "乡", "市")


def mask_address(address: str | None) -> str | None:
    """Keep the address down to its street or district (市南区香港中路街道***), hide house and room."""
    if not address:
        return address
    cut = max((address.rfind(unit) + len(unit) for unit in _ADDRESS_UNITS if unit in address), default=0)
    if cut == 0 or cut >= len(address):
        return address[: min(3, len(address))] + "***"
    return address[:cut] + "***"


def mask_redact(value: str | None) -> str | None:
    """Nothing of the value survives but the fact that there was one."""
    return value if not value else "***"


def coarsen_coordinate(value: float | None, places: int = 2) -> float | None:
    """Round a coordinate to about a kilometre (two decimals) when no grid can stand in for it."""
    return None if value is None else round(value, places)


# Masking rule → function over the text value. Locations are masked to the grid that contains them,
# which needs the area tree; the catalog does that (``cityhub.catalog.sharing``) and falls back to
# ``coarsen_coordinate``.
TEXT_MASKS = {
    "name": mask_name,
    "phone": mask_phone,
    "id_number": mask_id_number,
    "address": mask_address,
    "redact": mask_redact,
}
