"""web chat: visitors by token hash, and their transcripts

Revision ID: 0007_webchat
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_webchat"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "webchat_chats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_active_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_webchat_chats_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webchat_chats")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_webchat_chats_token_hash")),
    )
    op.create_index(
        op.f("ix_webchat_chats_patient_id"), "webchat_chats", ["patient_id"], unique=False
    )
    op.create_index(
        op.f("ix_webchat_chats_last_active_at"), "webchat_chats", ["last_active_at"], unique=False
    )
    op.create_table(
        "webchat_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("client_id", sa.String(length=40), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"],
            ["webchat_chats.id"],
            name=op.f("fk_webchat_messages_chat_id_webchat_chats"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_webchat_messages_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webchat_messages")),
        sa.UniqueConstraint("chat_id", "client_id", name="uq_webchat_messages_client"),
    )
    op.create_index(
        "ix_webchat_messages_chat_id", "webchat_messages", ["chat_id", "id"], unique=False
    )
    op.create_index(
        op.f("ix_webchat_messages_patient_id"), "webchat_messages", ["patient_id"], unique=False
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("webchat_messages")
    op.drop_table("webchat_chats")
