"""reference revision: a value that changes with every write to the tables processes keep in memory

Each process keeps the area tree, the names, the taxonomy, departments, routing rules, SLAs and the
active model in memory and asks this one row, once per request, whether they are still current.
Triggers change it on every insert, update or delete, so no writer can forget to (docs/decisions/0014).

Revision ID: 0008_reference_revision
Revises: 0004_dispatch
Create Date: 2026-12-07 10:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_reference_revision"
down_revision: str | None = "0004_dispatch"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As of this revision (the models' list may grow in later revisions; this one must not change).
TABLES = (
    "areas",
    "places",
    "categories",
    "departments",
    "routing_rules",
    "sla_policies",
    "dispatch_models",
)
PG_FUNCTION = "cityhub_new_reference_revision"


def upgrade() -> None:
    op.create_table(
        "reference_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reference_revision")),
    )
    op.execute("INSERT INTO reference_revision (id, value) VALUES (1, 1)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "UPDATE reference_revision SET value = floor(random() * 9e18)::bigint WHERE id = 1; "
            "RETURN NULL; END $$"
        )
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_revision AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()"
            )
        return
    for table in TABLES:  # SQLite: row triggers only
        for operation in ("INSERT", "UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_revision_{operation.lower()} AFTER {operation} ON {table} "
                "BEGIN UPDATE reference_revision SET value = random() WHERE id = 1; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_revision ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()")
    else:
        for table in TABLES:
            for operation in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_revision_{operation}")
    op.drop_table("reference_revision")
