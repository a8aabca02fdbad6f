"""Showing a person's personal data on purpose (最小必要): views mask it by default, and whoever needs it asks
for it explicitly, saying why. The read and its stated purpose go into the audit log in the request's
transaction (PIPL Art. 6 and 28: a purpose for every processing, the minimum necessary).

Each domain answers the request with its own endpoint (``POST …/reporter``, ``POST …/subject``,
``POST …/personal``) that checks its own policy rule, then calls :func:`revealed`. The readings of a meter
that serves a registered person are asked for the same way (``POST /telemetry/series/personal``, a body that
is this one plus the series), and their audit row names the window read instead of fields.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field, field_validator
from sqlalchemy.orm import Session

from cityhub.access.principal import Principal
from cityhub.audit.hooks import record
from cityhub.kit.text import Input

READ_PERSONAL_DATA = "read_personal_data"


class RevealIn(Input):
    """Why the person's data is needed, in the user's own words; it is kept in the audit log."""

    purpose: str = Field(
        min_length=2,
        max_length=200,
        description="用途: why you need it, e.g. 回访报告人 / 核实现场情况 / 上门探视",
        examples=["回访报告人"],
    )

    @field_validator("purpose")
    @classmethod
    def _said_something(cls, value: str) -> str:
        stripped = value.strip()
        if len(stripped) < 2:
            raise ValueError("say why you need the person's data (at least two characters)")
        return stripped


def revealed(
    session: Session,
    principal: Principal,
    object_type: str,
    object_id: str,
    fields: Sequence[str],
    purpose: str,
) -> None:
    """Record that ``principal`` read ``fields`` of one object unmasked, and why."""
    record(
        session,
        principal,
        READ_PERSONAL_DATA,
        object_type,
        object_id,
        {"fields": list(fields)},
        purpose=purpose,
    )
