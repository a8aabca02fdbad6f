"""Evaluation rollup (考核): per-day and per-month pre-aggregates, dirty days marked by triggers

Revision ID: 0006_evaluation
Revises: 0001
Create Date: 2026-11-21 12:23:18.393360

The events (foundation) branch. See docs/decisions/0009-evaluation-report-speed.md. The triggers mark the UTC
day of every assignment whose figures may have changed, in the writing transaction, whoever writes (the ORM,
Core, a bulk load, SQL by hand). Existing data is rolled up here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_evaluation"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns an assignment's figures depend on (every one but the note), and the event's.
PART_COLUMNS = (
    "event_id, department_id, role, status, assigned_at, accepted_at, resolved_at, sign_deadline, "
    "resolve_deadline"
)
EVENT_COLUMNS = ("rating", "return_count", "district_id", "street_id", "category_id")

# SQLite: one writer at a time, so a day already marked need not be marked twice.
_SQLITE_MARK = (
    "INSERT INTO event_evaluation_dirty_days (day) SELECT date({at}) "
    "WHERE NOT EXISTS (SELECT 1 FROM event_evaluation_dirty_days WHERE day = date({at}));"
)
SQLITE_TRIGGERS = [
    "CREATE TRIGGER event_evaluation_part_inserted AFTER INSERT ON event_assignments "
    f"BEGIN {_SQLITE_MARK.format(at='NEW.assigned_at')} END",
    f"CREATE TRIGGER event_evaluation_part_updated AFTER UPDATE OF {PART_COLUMNS} ON event_assignments "
    f"BEGIN {_SQLITE_MARK.format(at='OLD.assigned_at')} {_SQLITE_MARK.format(at='NEW.assigned_at')} END",
    "CREATE TRIGGER event_evaluation_part_deleted AFTER DELETE ON event_assignments "
    f"BEGIN {_SQLITE_MARK.format(at='OLD.assigned_at')} END",
    f"CREATE TRIGGER event_evaluation_event_updated AFTER UPDATE OF {', '.join(EVENT_COLUMNS)} ON events "
    f"WHEN {' OR '.join(f'OLD.{c} IS NOT NEW.{c}' for c in EVENT_COLUMNS)} "
    "BEGIN INSERT INTO event_evaluation_dirty_days (day) "
    "SELECT DISTINCT date(a.assigned_at) FROM event_assignments a WHERE a.event_id = NEW.id "
    "AND NOT EXISTS (SELECT 1 FROM event_evaluation_dirty_days d WHERE d.day = date(a.assigned_at)); END",
]
SQLITE_TRIGGER_NAMES = [
    "event_evaluation_part_inserted",
    "event_evaluation_part_updated",
    "event_evaluation_part_deleted",
    "event_evaluation_event_updated",
]

# PostgreSQL: always insert a mark (never "unless marked"): the rollup job deletes the marks it sees and then
# recomputes, so a mark of a transaction still running survives the job and its day stays live. Inserts are
# marked once per statement (bulk loads), the rest per row.
_PG_DAY = "(({at}) AT TIME ZONE 'UTC')::date"
PG_FUNCTIONS = f"""
CREATE FUNCTION event_evaluation_parts_inserted() RETURNS trigger AS $$
BEGIN
    INSERT INTO event_evaluation_dirty_days (day)
    SELECT DISTINCT {_PG_DAY.format(at="assigned_at")} FROM new_parts;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE FUNCTION event_evaluation_part_changed() RETURNS trigger AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO event_evaluation_dirty_days (day) VALUES ({_PG_DAY.format(at="OLD.assigned_at")});
    END IF;
    IF TG_OP = 'UPDATE'
        AND {_PG_DAY.format(at="OLD.assigned_at")} <> {_PG_DAY.format(at="NEW.assigned_at")} THEN
        INSERT INTO event_evaluation_dirty_days (day) VALUES ({_PG_DAY.format(at="NEW.assigned_at")});
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE FUNCTION event_evaluation_event_changed() RETURNS trigger AS $$
BEGIN
    INSERT INTO event_evaluation_dirty_days (day)
    SELECT DISTINCT {_PG_DAY.format(at="assigned_at")} FROM event_assignments WHERE event_id = NEW.id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER event_evaluation_parts_inserted AFTER INSERT ON event_assignments
    REFERENCING NEW TABLE AS new_parts FOR EACH STATEMENT EXECUTE FUNCTION event_evaluation_parts_inserted();
CREATE TRIGGER event_evaluation_part_updated AFTER UPDATE OF {PART_COLUMNS} ON event_assignments
    FOR EACH ROW EXECUTE FUNCTION event_evaluation_part_changed();
CREATE TRIGGER event_evaluation_part_deleted AFTER DELETE ON event_assignments
    FOR EACH ROW EXECUTE FUNCTION event_evaluation_part_changed();
CREATE TRIGGER event_evaluation_event_updated AFTER UPDATE OF {", ".join(EVENT_COLUMNS)} ON events
    FOR EACH ROW WHEN ({" OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in EVENT_COLUMNS)})
    EXECUTE FUNCTION event_evaluation_event_changed();
"""
PG_DROP = """
DROP TRIGGER IF EXISTS event_evaluation_parts_inserted ON event_assignments;
DROP TRIGGER IF EXISTS event_evaluation_part_updated ON event_assignments;
DROP TRIGGER IF EXISTS event_evaluation_part_deleted ON event_assignments;
DROP TRIGGER IF EXISTS event_evaluation_event_updated ON events;
DROP FUNCTION IF EXISTS event_evaluation_parts_inserted();
DROP FUNCTION IF EXISTS event_evaluation_part_changed();
DROP FUNCTION IF EXISTS event_evaluation_event_changed();
"""

# The backfill: the same sums as cityhub.events.evaluation (a migration keeps its own copy of the SQL).
_MEASURES = """
    count(a.id),
    sum(CASE WHEN a.accepted_at IS NOT NULL THEN 1 ELSE 0 END),
    sum(CASE WHEN a.accepted_at IS NOT NULL AND a.accepted_at <= a.sign_deadline THEN 1 ELSE 0 END),
    sum(CASE WHEN a.resolved_at IS NOT NULL THEN 1 ELSE 0 END),
    sum(CASE WHEN a.resolved_at IS NOT NULL AND a.resolved_at <= a.resolve_deadline THEN 1 ELSE 0 END),
    sum(CASE WHEN a.status = 'returned' THEN 1 ELSE 0 END),
    sum(CASE WHEN e.return_count > 0 THEN 1 ELSE 0 END),
    count(e.rating),
    sum(CASE WHEN e.rating >= 4 THEN 1 ELSE 0 END),
    coalesce(sum(e.rating), 0),
    coalesce(sum(CASE WHEN a.resolved_at IS NOT NULL THEN {handling_us} END), 0)
"""
HANDLING_US = {
    "sqlite": (
        "CAST(round((julianday(a.resolved_at) - julianday(a.assigned_at)) * 86400000) AS INTEGER) * 1000"
    ),
    "postgresql": "CAST(extract(epoch FROM a.resolved_at - a.assigned_at) * 1000000 AS BIGINT)",
}
DAY = {"sqlite": "date(a.assigned_at)", "postgresql": _PG_DAY.format(at="a.assigned_at")}
MONTH = {
    "sqlite": "date(r.bucket, 'start of month')",
    "postgresql": "CAST(date_trunc('month', r.bucket) AS date)",
}
SUMS = (
    "parts, signed, signed_on_time, resolved, resolved_on_time, returned_parts, returned_events, rated, "
    "rated_good, rating_sum, handling_us"
)
DIMENSIONS = "department_id, lead, district_id, street_id, category_id"
BACKFILL_DAYS = """
INSERT INTO event_evaluation_rollups (span, bucket, {dimensions}, {sums})
SELECT 'day', {day}, a.department_id, {lead}, e.district_id, e.street_id, e.category_id, {measures}
FROM event_assignments a JOIN events e ON e.id = a.event_id
WHERE a.status <> 'withdrawn'
GROUP BY {day}, a.department_id, {lead}, e.district_id, e.street_id, e.category_id
"""
BACKFILL_MONTHS = """
INSERT INTO event_evaluation_rollups (span, bucket, {dimensions}, {sums})
SELECT 'month', {month}, {dimensions}, {month_sums}
FROM event_evaluation_rollups r WHERE r.span = 'day'
GROUP BY {month}, {dimensions}
"""


def upgrade() -> None:
    op.create_table(
        "event_evaluation_dirty_days",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_evaluation_dirty_days")),
    )
    with op.batch_alter_table("event_evaluation_dirty_days", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_evaluation_dirty_days_day"), ["day"], unique=False)

    op.create_table(
        "event_evaluation_rollups",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("span", sa.Enum("day", "month", name="evaluationspan", native_enum=False), nullable=False),
        sa.Column("bucket", sa.Date(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("lead", sa.Boolean(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=True),
        sa.Column("street_id", sa.Integer(), nullable=True),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("signed", sa.Integer(), nullable=False),
        sa.Column("signed_on_time", sa.Integer(), nullable=False),
        sa.Column("resolved", sa.Integer(), nullable=False),
        sa.Column("resolved_on_time", sa.Integer(), nullable=False),
        sa.Column("returned_parts", sa.Integer(), nullable=False),
        sa.Column("returned_events", sa.Integer(), nullable=False),
        sa.Column("rated", sa.Integer(), nullable=False),
        sa.Column("rated_good", sa.Integer(), nullable=False),
        sa.Column("rating_sum", sa.Integer(), nullable=False),
        sa.Column("handling_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_evaluation_rollups")),
    )
    with op.batch_alter_table("event_evaluation_rollups", schema=None) as batch_op:
        batch_op.create_index("ix_event_evaluation_rollups_span_bucket", ["span", "bucket"], unique=False)

    with op.batch_alter_table("event_assignments", schema=None) as batch_op:
        batch_op.create_index("ix_event_assignments_assigned_at", ["assigned_at"], unique=False)

    dialect = op.get_bind().dialect.name
    for statement in backfill_statements(dialect):
        op.execute(statement)
    if dialect == "postgresql":
        op.execute(PG_FUNCTIONS)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def backfill_statements(dialect: str) -> list[str]:
    """Roll up every day, then every month, of the existing assignments."""
    true, false = ("true", "false") if dialect == "postgresql" else ("1", "0")
    lead = f"CASE WHEN a.role = 'lead' AND a.status <> 'returned' THEN {true} ELSE {false} END"
    days = BACKFILL_DAYS.format(
        dimensions=DIMENSIONS,
        sums=SUMS,
        day=DAY[dialect],
        lead=lead,
        measures=_MEASURES.format(handling_us=HANDLING_US[dialect]),
    )
    months = BACKFILL_MONTHS.format(
        dimensions=DIMENSIONS,
        sums=SUMS,
        month=MONTH[dialect],
        month_sums=", ".join(f"sum({column})" for column in SUMS.split(", ")),
    )
    return [days, months]


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_DROP)
    else:
        for name in SQLITE_TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    with op.batch_alter_table("event_assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_event_assignments_assigned_at")

    with op.batch_alter_table("event_evaluation_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_event_evaluation_rollups_span_bucket")

    op.drop_table("event_evaluation_rollups")
    with op.batch_alter_table("event_evaluation_dirty_days", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_evaluation_dirty_days_day"))

    op.drop_table("event_evaluation_dirty_days")
