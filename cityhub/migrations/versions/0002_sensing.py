"""Sensing: the city code registry (entities, relations, source records) and telemetry (readings, rollups,
dirty minutes, dead letters) — issue 3

Revision ID: 0002_sensing
Revises: 0001
Create Date: 2026-11-21 09:43:12.801239
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_sensing"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "telemetry_dead_letters",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("device", sa.String(length=60), nullable=True),
        sa.Column("metric", sa.String(length=60), nullable=True),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telemetry_dead_letters")),
    )
    with op.batch_alter_table("telemetry_dead_letters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_telemetry_dead_letters_device"), ["device"], unique=False)
        batch_op.create_index(batch_op.f("ix_telemetry_dead_letters_reason"), ["reason"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_telemetry_dead_letters_received_at"), ["received_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_telemetry_dead_letters_status"), ["status"], unique=False)

    op.create_table(
        "telemetry_dirty_minutes",
        sa.Column("bucket", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("bucket", name=op.f("pk_telemetry_dirty_minutes")),
    )
    op.create_table(
        "telemetry_readings",
        sa.Column("entity_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("metric", sa.String(length=40), nullable=False),
        sa.Column("ts", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("quality", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("entity_id", "metric", "ts", name=op.f("pk_telemetry_readings")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("telemetry_readings", schema=None) as batch_op:
        batch_op.create_index("ix_telemetry_readings_ts", ["ts"], unique=False)

    op.create_table(
        "telemetry_rollups",
        sa.Column("resolution", sa.String(length=3), nullable=False),
        sa.Column("entity_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("metric", sa.String(length=40), nullable=False),
        sa.Column("bucket", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("min", sa.Float(), nullable=False),
        sa.Column("max", sa.Float(), nullable=False),
        sa.Column("sum", sa.Float(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last", sa.Float(), nullable=False),
        sa.Column("last_ts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "resolution", "entity_id", "metric", "bucket", name=op.f("pk_telemetry_rollups")
        ),
    )
    with op.batch_alter_table("telemetry_rollups", schema=None) as batch_op:
        batch_op.create_index(
            "ix_telemetry_rollups_resolution_bucket", ["resolution", "bucket"], unique=False
        )

    op.create_table(
        "entities",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=17), nullable=False),
        sa.Column("type", sa.String(length=2), nullable=False),
        sa.Column("serial", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("area_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("district_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("street_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("community_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("grid_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("input_crs", sa.String(length=8), nullable=True),
        sa.Column("geometry", sa.Text(), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("attribute_sources", sa.JSON(), nullable=False),
        sa.Column("personal", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], name=op.f("fk_entities_area_id_areas")),
        sa.ForeignKeyConstraint(["community_id"], ["areas.id"], name=op.f("fk_entities_community_id_areas")),
        sa.ForeignKeyConstraint(["district_id"], ["areas.id"], name=op.f("fk_entities_district_id_areas")),
        sa.ForeignKeyConstraint(["grid_id"], ["areas.id"], name=op.f("fk_entities_grid_id_areas")),
        sa.ForeignKeyConstraint(["street_id"], ["areas.id"], name=op.f("fk_entities_street_id_areas")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entities")),
        sa.UniqueConstraint("code", name=op.f("uq_entities_code")),
    )
    with op.batch_alter_table("entities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_entities_community_id"), ["community_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_entities_district_id"), ["district_id"], unique=False)
        batch_op.create_index("ix_entities_lat_lon", ["lat", "lon"], unique=False)
        batch_op.create_index("ix_entities_type_area", ["type", "area_id"], unique=False)

    op.create_table(
        "entity_relations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("type", sa.String(length=24), nullable=False),
        sa.Column("target_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"], ["entities.id"], name=op.f("fk_entity_relations_source_id_entities")
        ),
        sa.ForeignKeyConstraint(
            ["target_id"], ["entities.id"], name=op.f("fk_entity_relations_target_id_entities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entity_relations")),
        sa.UniqueConstraint("source_id", "type", "target_id", name="uq_entity_relations_triple"),
    )
    with op.batch_alter_table("entity_relations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_entity_relations_source_id"), ["source_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_entity_relations_target_id"), ["target_id"], unique=False)

    op.create_table(
        "entity_source_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("system", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.String(length=100), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["entities.id"], name=op.f("fk_entity_source_records_entity_id_entities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entity_source_records")),
        sa.UniqueConstraint("entity_id", "system", name="uq_entity_source_records_entity_system"),
    )
    with op.batch_alter_table("entity_source_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_entity_source_records_entity_id"), ["entity_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("entity_source_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entity_source_records_entity_id"))

    op.drop_table("entity_source_records")
    with op.batch_alter_table("entity_relations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entity_relations_target_id"))
        batch_op.drop_index(batch_op.f("ix_entity_relations_source_id"))

    op.drop_table("entity_relations")
    with op.batch_alter_table("entities", schema=None) as batch_op:
        batch_op.drop_index("ix_entities_type_area")
        batch_op.drop_index("ix_entities_lat_lon")
        batch_op.drop_index(batch_op.f("ix_entities_district_id"))
        batch_op.drop_index(batch_op.f("ix_entities_community_id"))

    op.drop_table("entities")
    with op.batch_alter_table("telemetry_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_telemetry_rollups_resolution_bucket")

    op.drop_table("telemetry_rollups")
    with op.batch_alter_table("telemetry_readings", schema=None) as batch_op:
        batch_op.drop_index("ix_telemetry_readings_ts")

    op.drop_table("telemetry_readings")
    op.drop_table("telemetry_dirty_minutes")
    with op.batch_alter_table("telemetry_dead_letters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_telemetry_dead_letters_status"))
        batch_op.drop_index(batch_op.f("ix_telemetry_dead_letters_received_at"))
        batch_op.drop_index(batch_op.f("ix_telemetry_dead_letters_reason"))
        batch_op.drop_index(batch_op.f("ix_telemetry_dead_letters_device"))

    op.drop_table("telemetry_dead_letters")
