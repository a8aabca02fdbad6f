"""dispatch: gazetteer places, duplicate candidates, the model registry, hot-spot escalations

Revision ID: 0004_dispatch
Revises: 0001
Create Date: 2026-11-21 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_dispatch"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "places",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("area_id", ID, nullable=False),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], name=op.f("fk_places_area_id_areas")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_places")),
        sa.UniqueConstraint("name", "area_id", name=op.f("uq_places_name")),
    )
    op.create_index(op.f("ix_places_area_id"), "places", ["area_id"], unique=False)
    op.create_index(op.f("ix_places_name"), "places", ["name"], unique=False)

    op.create_table(
        "duplicate_candidates",
        sa.Column("id", ID, nullable=False),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("candidate_id", ID, nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("text_similarity", sa.Double(), nullable=False),
        sa.Column("distance_m", sa.Double(), nullable=True),
        sa.Column("hours_apart", sa.Double(), nullable=False),
        sa.Column("same_category", sa.Boolean(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["candidate_id"], ["events.id"], name=op.f("fk_duplicate_candidates_candidate_id_events")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_duplicate_candidates_event_id_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duplicate_candidates")),
        sa.UniqueConstraint("event_id", "candidate_id", name=op.f("uq_duplicate_candidates_event_id")),
    )
    op.create_index(
        "ix_duplicate_candidates_candidate_id", "duplicate_candidates", ["candidate_id"], unique=False
    )

    op.create_table(
        "dispatch_models",
        sa.Column("id", ID, nullable=False),
        sa.Column("version", sa.String(length=60), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("threshold", sa.Double(), nullable=True),
        sa.Column("target_precision", sa.Double(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("trained_by", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_models")),
        sa.UniqueConstraint("version", name=op.f("uq_dispatch_models_version")),
    )
    op.create_index(op.f("ix_dispatch_models_active"), "dispatch_models", ["active"], unique=False)

    op.create_table(
        "hotspot_escalations",
        sa.Column("id", ID, nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("report_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_hotspot_escalations_event_id_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hotspot_escalations")),
    )
    op.create_index(op.f("ix_hotspot_escalations_key"), "hotspot_escalations", ["key"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_hotspot_escalations_key"), table_name="hotspot_escalations")
    op.drop_table("hotspot_escalations")
    op.drop_index(op.f("ix_dispatch_models_active"), table_name="dispatch_models")
    op.drop_table("dispatch_models")
    op.drop_index("ix_duplicate_candidates_candidate_id", table_name="duplicate_candidates")
    op.drop_table("duplicate_candidates")
    op.drop_index(op.f("ix_places_name"), table_name="places")
    op.drop_index(op.f("ix_places_area_id"), table_name="places")
    op.drop_table("places")
