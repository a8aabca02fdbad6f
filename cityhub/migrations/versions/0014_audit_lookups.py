"""audit lookups: the audit screen's filters — one object, one actor, one client address — read from indexes

Revision ID: 0014_audit_lookups
Revises: 0013_client_addresses
Create Date: 2026-12-08 00:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014_audit_lookups"
down_revision: str | None = "0013_client_addresses"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain CREATE INDEX: audit_log keeps its append-only triggers (no batch copy on SQLite).
    op.create_index("ix_audit_log_object", "audit_log", ["object_type", "object_id"], unique=False)
    op.create_index(op.f("ix_audit_log_actor"), "audit_log", ["actor"], unique=False)
    op.create_index(op.f("ix_audit_log_address"), "audit_log", ["address"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_log_address"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_actor"), table_name="audit_log")
    op.drop_index("ix_audit_log_object", table_name="audit_log")
