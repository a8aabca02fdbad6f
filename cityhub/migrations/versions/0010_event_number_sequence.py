"""event number sequence: PostgreSQL numbers events from one sequence and keeps where each day started

The events (foundation) branch. Until this revision PostgreSQL bumped the day's row in ``event_counters``
in a short transaction of its own for every report; from now on the row holds the sequence's value before
the day's first number (see ``cityhub/events/numbering.py``). A day's row with last number N becomes -N:
the new sequence starts at 1, so the day's next number is N + 1. SQLite keeps bumping the day's row.

Revision ID: 0010_event_number_sequence
Revises: 0009_event_squares
Create Date: 2026-12-07 13:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010_event_number_sequence"
down_revision: str | None = "0009_event_squares"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEQUENCE = "event_numbers"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"CREATE SEQUENCE {SEQUENCE}")
    op.execute("UPDATE event_counters SET value = -value")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # Back to a last number per day: at most the sequence's last value minus the day's start, so the
    # counter continues above every number the day handed out.
    op.execute(f"UPDATE event_counters SET value = (SELECT last_value FROM {SEQUENCE}) - value")
    op.execute(f"DROP SEQUENCE {SEQUENCE}")
