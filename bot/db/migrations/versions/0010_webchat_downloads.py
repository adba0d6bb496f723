"""web chat: one-time download tickets for a visitor's copy of their data

Revision ID: 0010_webchat_downloads
Revises: 0009_delivery
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_webchat_downloads"
down_revision: str | None = "0009_delivery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "webchat_downloads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.Integer(), nullable=False),
        sa.Column("ticket_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"],
            ["webchat_chats.id"],
            name=op.f("fk_webchat_downloads_chat_id_webchat_chats"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webchat_downloads")),
        sa.UniqueConstraint("ticket_hash", name=op.f("uq_webchat_downloads_ticket_hash")),
    )
    op.create_index(
        op.f("ix_webchat_downloads_chat_id"), "webchat_downloads", ["chat_id"], unique=False
    )
    op.create_index(
        op.f("ix_webchat_downloads_expires_at"), "webchat_downloads", ["expires_at"], unique=False
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_webchat_downloads_expires_at"), table_name="webchat_downloads")
    op.drop_index(op.f("ix_webchat_downloads_chat_id"), table_name="webchat_downloads")
    op.drop_table("webchat_downloads")
