"""catalog: resources, samples, quality runs and alerts, sharing requests, grants, tokens, access log

Revision ID: 0003_catalog
Revises: 0001
Create Date: 2026-11-22 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_catalog"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalog_resources",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("department_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source_system", sa.String(length=200), nullable=False),
        sa.Column("update_cycle", sa.String(length=12), nullable=False),
        sa.Column("format", sa.String(length=40), nullable=False),
        sa.Column("grade", sa.String(length=12), nullable=False),
        sa.Column("sharing", sa.String(length=14), nullable=False),
        sa.Column("sharing_conditions", sa.Text(), nullable=False),
        sa.Column("open_attribute", sa.String(length=14), nullable=False),
        sa.Column("open_conditions", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("quality_checks", sa.JSON(), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("source_table", sa.String(length=60), nullable=True),
        sa.Column("sample_loaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_catalog_resources_department_id_departments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_resources")),
        sa.UniqueConstraint("code", name=op.f("uq_catalog_resources_code")),
    )
    with op.batch_alter_table("catalog_resources", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_catalog_resources_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_catalog_resources_grade"), ["grade"], unique=False)

    op.create_table(
        "catalog_quality_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resource_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("overall", sa.Double(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["catalog_resources.id"],
            name=op.f("fk_catalog_quality_runs_resource_id_catalog_resources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_quality_runs")),
    )
    with op.batch_alter_table("catalog_quality_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_catalog_quality_runs_resource_started", ["resource_id", "started_at"], unique=False
        )

    op.create_table(
        "catalog_sample_rows",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resource_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("row_no", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["catalog_resources.id"],
            name=op.f("fk_catalog_sample_rows_resource_id_catalog_resources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_sample_rows")),
    )
    with op.batch_alter_table("catalog_sample_rows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalog_sample_rows_resource_id"), ["resource_id"], unique=False)

    op.create_table(
        "catalog_share_requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resource_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("department_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("requested_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column("legal_basis", sa.String(length=500), nullable=False),
        sa.Column("period_days", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_catalog_share_requests_decided_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_catalog_share_requests_department_id_departments"),
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["users.id"], name=op.f("fk_catalog_share_requests_requested_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["catalog_resources.id"],
            name=op.f("fk_catalog_share_requests_resource_id_catalog_resources"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_share_requests")),
    )
    with op.batch_alter_table("catalog_share_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_catalog_share_requests_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_catalog_share_requests_resource_id"), ["resource_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_catalog_share_requests_status"), ["status"], unique=False)

    op.create_table(
        "catalog_grants",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resource_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("department_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("unmasked_fields", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column("legal_basis", sa.String(length=500), nullable=False),
        sa.Column("dp_epsilon", sa.Double(), nullable=True),
        sa.Column("rate_per_minute", sa.Integer(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_catalog_grants_department_id_departments")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["catalog_share_requests.id"],
            name=op.f("fk_catalog_grants_request_id_catalog_share_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["catalog_resources.id"],
            name=op.f("fk_catalog_grants_resource_id_catalog_resources"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_grants")),
        sa.UniqueConstraint("request_id", name=op.f("uq_catalog_grants_request_id")),
    )
    with op.batch_alter_table("catalog_grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalog_grants_department_id"), ["department_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_catalog_grants_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_catalog_grants_resource_id"), ["resource_id"], unique=False)

    op.create_table(
        "quality_alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resource_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("department_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("failed_checks", sa.JSON(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_quality_alerts_department_id_departments")
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["catalog_resources.id"],
            name=op.f("fk_quality_alerts_resource_id_catalog_resources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["catalog_quality_runs.id"],
            name=op.f("fk_quality_alerts_run_id_catalog_quality_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_alerts")),
    )
    with op.batch_alter_table("quality_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quality_alerts_department_id"), ["department_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_quality_alerts_resource_id"), ["resource_id"], unique=False)

    op.create_table(
        "catalog_grant_tokens",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("grant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["catalog_grants.id"], name=op.f("fk_catalog_grant_tokens_grant_id_catalog_grants")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_catalog_grant_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_grant_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_catalog_grant_tokens_token_hash")),
    )
    with op.batch_alter_table("catalog_grant_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalog_grant_tokens_grant_id"), ["grant_id"], unique=False)

    op.create_table(
        "catalog_access_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("grant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resource_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("department_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("token_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column("query", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_catalog_access_log_department_id_departments"),
        ),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["catalog_grants.id"], name=op.f("fk_catalog_access_log_grant_id_catalog_grants")
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["catalog_resources.id"],
            name=op.f("fk_catalog_access_log_resource_id_catalog_resources"),
        ),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["catalog_grant_tokens.id"],
            name=op.f("fk_catalog_access_log_token_id_catalog_grant_tokens"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_catalog_access_log_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_access_log")),
    )
    with op.batch_alter_table("catalog_access_log", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_catalog_access_log_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_catalog_access_log_grant_id"), ["grant_id"], unique=False)
        batch_op.create_index("ix_catalog_access_log_resource_at", ["resource_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("catalog_access_log", schema=None) as batch_op:
        batch_op.drop_index("ix_catalog_access_log_resource_at")
        batch_op.drop_index(batch_op.f("ix_catalog_access_log_grant_id"))
        batch_op.drop_index(batch_op.f("ix_catalog_access_log_department_id"))

    op.drop_table("catalog_access_log")
    with op.batch_alter_table("catalog_grant_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalog_grant_tokens_grant_id"))

    op.drop_table("catalog_grant_tokens")
    with op.batch_alter_table("quality_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quality_alerts_resource_id"))
        batch_op.drop_index(batch_op.f("ix_quality_alerts_department_id"))

    op.drop_table("quality_alerts")
    with op.batch_alter_table("catalog_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalog_grants_resource_id"))
        batch_op.drop_index(batch_op.f("ix_catalog_grants_expires_at"))
        batch_op.drop_index(batch_op.f("ix_catalog_grants_department_id"))

    op.drop_table("catalog_grants")
    with op.batch_alter_table("catalog_share_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalog_share_requests_status"))
        batch_op.drop_index(batch_op.f("ix_catalog_share_requests_resource_id"))
        batch_op.drop_index(batch_op.f("ix_catalog_share_requests_department_id"))

    op.drop_table("catalog_share_requests")
    with op.batch_alter_table("catalog_sample_rows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalog_sample_rows_resource_id"))

    op.drop_table("catalog_sample_rows")
    with op.batch_alter_table("catalog_quality_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_catalog_quality_runs_resource_started")

    op.drop_table("catalog_quality_runs")
    with op.batch_alter_table("catalog_resources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalog_resources_grade"))
        batch_op.drop_index(batch_op.f("ix_catalog_resources_department_id"))

    op.drop_table("catalog_resources")
