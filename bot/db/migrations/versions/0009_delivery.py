"""shared rate lanes, worker heartbeats, who claimed a delivery

Revision ID: 0009_delivery
Revises: 0008_console
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_delivery"
down_revision: str | None = "0008_console"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Wake listening workers (scheduler/wake.py) when an insert brings rows due within a minute.
_NOTIFY_FUNCTION = """
CREATE OR REPLACE FUNCTION clinicbot_outbox_notify() RETURNS trigger AS $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM new_rows WHERE status = 'pending' AND due_at <= now() + interval '1 minute'
  ) THEN
    PERFORM pg_notify('clinicbot_outbox', '');
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql
"""
_NOTIFY_TRIGGER = """
CREATE TRIGGER deliveries_notify AFTER INSERT ON deliveries
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION clinicbot_outbox_notify()
"""


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "rate_lanes",
        sa.Column("bucket", sa.String(length=96), nullable=False),
        sa.Column("lane", sa.Integer(), nullable=False),
        sa.Column("free_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("holder", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("bucket", "lane", name=op.f("pk_rate_lanes")),
    )
    op.create_index("ix_rate_lanes_bucket_free_at", "rate_lanes", ["bucket", "free_at"])
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=128), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_NOTIFY_FUNCTION)
        op.execute(_NOTIFY_TRIGGER)


def downgrade() -> None:
    """Revert this revision."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS deliveries_notify ON deliveries")
        op.execute("DROP FUNCTION IF EXISTS clinicbot_outbox_notify()")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("claimed_by")
    op.drop_table("workers")
    op.drop_index("ix_rate_lanes_bucket_free_at", table_name="rate_lanes")
    op.drop_table("rate_lanes")
