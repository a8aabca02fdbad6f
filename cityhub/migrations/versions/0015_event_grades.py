"""event grades: 突发事件分级 Ⅰ–Ⅳ on an event, apart from its urgency and from alerts' warning levels

Events written before this revision have no grade (most reports are not emergencies).

Revision ID: 0015_event_grades
Revises: 0014_audit_lookups
Create Date: 2026-12-08 01:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_event_grades"
down_revision: str | None = "0014_audit_lookups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("events", sa.Column("grade", sa.String(length=4), nullable=True))


def downgrade() -> None:
    op.drop_column("events", "grade")
