"""conversation state, reminder preferences, SMS opt-out, processed updates

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "processed_updates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processed_updates")),
        sa.UniqueConstraint("channel", "external_id", name="uq_processed_updates_channel"),
    )
    with op.batch_alter_table("processed_updates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_processed_updates_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "reminder_preferences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("weekdays", sa.Integer(), nullable=False),
        sa.Column("local_time", sa.String(length=5), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_reminder_preferences_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_preferences")),
        sa.UniqueConstraint("patient_id", "category", name="uq_reminder_preferences_patient"),
    )
    with op.batch_alter_table("addresses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("onboarding_step", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("pending_question", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("pending_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("reminders_paused", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_column("reminders_paused")
        batch_op.drop_column("pending_since")
        batch_op.drop_column("pending_question")
        batch_op.drop_column("onboarding_step")

    with op.batch_alter_table("addresses", schema=None) as batch_op:
        batch_op.drop_column("opted_out_at")

    op.drop_table("reminder_preferences")
    with op.batch_alter_table("processed_updates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_processed_updates_created_at"))

    op.drop_table("processed_updates")
