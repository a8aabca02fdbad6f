"""catalog: a grant's area scope and a resource's area field

The catalog branch (after 0003_catalog). Grants issued before this revision get scope 'area': nobody chose
city-wide for them, so an area-bound department keeps only its own area's rows (docs/decisions/0005).

Revision ID: 0007_catalog_area
Revises: 0003_catalog
Create Date: 2026-11-21 12:47:28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_catalog_area"
down_revision: str | None = "0003_catalog"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("catalog_grants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scope", sa.String(length=8), nullable=False, server_default="area"))

    with op.batch_alter_table("catalog_resources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("area_field", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("catalog_resources", schema=None) as batch_op:
        batch_op.drop_column("area_field")

    with op.batch_alter_table("catalog_grants", schema=None) as batch_op:
        batch_op.drop_column("scope")
