"""scheduler state, indexes for incremental planning and nudge replans

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_deliveries = sa.table(
    "deliveries",
    sa.column("id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("reference", sa.String()),
    sa.column("content_ref", sa.String()),
)


def _move_nudge_rules(to_content_ref: bool) -> None:
    """Rewrite nudge references between "appt:<id>:<rule>" and "appt:<id>" + content_ref."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_deliveries.c.id, _deliveries.c.reference, _deliveries.c.content_ref).where(
            _deliveries.c.kind == "nudge"
        )
    ).all()
    changes = []
    for ident, reference, content_ref in rows:
        parts = str(reference).split(":")
        if to_content_ref and len(parts) == 3:
            changes.append({"i": ident, "r": ":".join(parts[:2]), "c": parts[2]})
        elif not to_content_ref and len(parts) == 2 and content_ref:
            changes.append({"i": ident, "r": f"{reference}:{content_ref}", "c": None})
    if changes:
        bind.execute(
            _deliveries.update()
            .where(_deliveries.c.id == sa.bindparam("i"))
            .values(reference=sa.bindparam("r"), content_ref=sa.bindparam("c")),
            changes,
        )


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "scheduler_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_state")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_kind_reference", ["kind", "reference"], unique=False)
    with op.batch_alter_table("reminder_preferences", schema=None) as batch_op:
        batch_op.create_index("ix_reminder_preferences_local_time", ["local_time"], unique=False)
    _move_nudge_rules(to_content_ref=True)


def downgrade() -> None:
    """Revert this revision."""
    _move_nudge_rules(to_content_ref=False)
    with op.batch_alter_table("reminder_preferences", schema=None) as batch_op:
        batch_op.drop_index("ix_reminder_preferences_local_time")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_kind_reference")
    op.drop_table("scheduler_state")
