"""event squares: each located event's grid square, indexed with its time, for "open reports around here"

The events (foundation) branch. Duplicate detection asks at every intake for the open events of the last
days in a box around the new report. With only (status, created_at) to go by, the database read every open
event of those days, across the whole city, to test its point. Existing events get their square here, by
the formulas of ``cityhub/geo/squares.py`` as of this revision (100 squares per degree).

Revision ID: 0009_event_squares
Revises: 0006_evaluation
Create Date: 2026-12-07 13:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_event_squares"
down_revision: str | None = "0006_evaluation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PER_DEGREE = 100
COLUMNS = 360 * PER_DEGREE


def upgrade() -> None:
    op.add_column("events", sa.Column("square", sa.Integer(), nullable=True))
    op.execute(fill_squares(op.get_bind().dialect.name))
    op.create_index(
        "ix_events_square_created", "events", ["square", "created_at", "lat", "lon"], unique=False
    )


def fill_squares(dialect: str) -> str:
    """The UPDATE that gives every located event its square (tests hold it to ``geo.squares.square``)."""
    # lat + 90 and lon + 180 are never negative: SQLite's cast (which truncates) is their floor;
    # PostgreSQL's cast rounds, so it takes floor() first.
    if dialect == "postgresql":
        row = f"CAST(floor((lat + 90) * {PER_DEGREE}) AS INTEGER)"
        column = f"CAST(floor((lon + 180) * {PER_DEGREE}) AS INTEGER)"
    else:
        row = f"CAST((lat + 90) * {PER_DEGREE} AS INTEGER)"
        column = f"CAST((lon + 180) * {PER_DEGREE} AS INTEGER)"
    return (
        f"UPDATE events SET square = {row} * {COLUMNS} + {column} WHERE lon IS NOT NULL AND lat IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_events_square_created", table_name="events")
    op.drop_column("events", "square")  # SQLite ≥ 3.35 drops a column in place, its triggers kept
