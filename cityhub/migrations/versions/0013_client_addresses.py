"""client addresses: where logins and audited actions come from, and failed logins counted per address

Audit rows and login sessions record the client address (GB/T 22239: the source of the action); users keep
their latest login; ``login_failures`` counts failed logins per address for the per-address limit
(docs/decisions/0021). Rows written before this revision have no address.

Revision ID: 0013_client_addresses
Revises: 0012_login_failures
Create Date: 2026-12-07 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_client_addresses"
down_revision: str | None = "0012_login_failures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", ID, nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index("ix_login_failures_address_at", "login_failures", ["address", "at"], unique=False)
    # Plain ADD COLUMN, not a batch: on SQLite a batch could copy audit_log into a new table, losing the
    # triggers that keep it append-only.
    op.add_column("audit_log", sa.Column("address", sa.String(length=64), nullable=True))
    op.add_column("login_sessions", sa.Column("address", sa.String(length=64), nullable=True))
    op.add_column("login_sessions", sa.Column("last_address", sa.String(length=64), nullable=True))
    op.add_column("users", sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("last_login_address", sa.String(length=64), nullable=True))


def downgrade() -> None:
    # SQLite (3.35+) drops an unindexed column in place, so audit_log keeps its triggers here too.
    op.drop_column("users", "last_login_address")
    op.drop_column("users", "last_login_at")
    op.drop_column("login_sessions", "last_address")
    op.drop_column("login_sessions", "address")
    op.drop_column("audit_log", "address")
    op.drop_index("ix_login_failures_address_at", table_name="login_failures")
    op.drop_table("login_failures")
