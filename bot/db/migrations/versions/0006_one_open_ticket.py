"""one open hand-off ticket per patient

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_tickets_patient_open"
OPEN_ONLY = "status = 'open'"
ACTOR = "migration:0006"

_tickets = sa.table(
    "tickets",
    sa.column("id", sa.Integer()),
    sa.column("patient_id", sa.Integer()),
    sa.column("status", sa.String()),
    sa.column("closed_at", sa.DateTime(timezone=True)),
    sa.column("closed_by", sa.String()),
)
_audit = sa.table(
    "audit_log",
    sa.column("actor", sa.String()),
    sa.column("action", sa.String()),
    sa.column("target", sa.String()),
    sa.column("detail", sa.Text()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def _close_duplicate_open_tickets() -> None:
    """Close all but one open ticket per patient, so the unique index can be built.

    The ticket kept open is the patient's oldest open one: that is the one the bot has been
    routing the patient's messages to (handlers.staff.tickets.open_ticket_of picks the lowest id),
    so staff replies to those forwarded messages keep working. The others are closed as staff
    would close them (status, closed_at, closed_by) and audited as "ticket.closed".
    """
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # Hold off a running bot's inserts until the index exists (reads go on); SQLite's
        # BEGIN IMMEDIATE already holds the write lock.
        op.execute("LOCK TABLE tickets IN SHARE ROW EXCLUSIVE MODE")
    rows = bind.execute(
        sa.select(_tickets.c.id, _tickets.c.patient_id)
        .where(_tickets.c.status == "open")
        .order_by(_tickets.c.patient_id, _tickets.c.id)
    ).all()
    kept: dict[int, int] = {}
    closing: list[tuple[int, int]] = []  # (duplicate, the ticket kept open)
    for ident, patient_id in rows:
        if patient_id in kept:
            closing.append((ident, kept[patient_id]))
        else:
            kept[patient_id] = ident
    if not closing:
        return
    now = datetime.now(UTC)
    if bind.dialect.name == "sqlite":  # stored as naive UTC there, as the models' UTCDateTime
        now = now.replace(tzinfo=None)
    bind.execute(
        _tickets.update()
        .where(_tickets.c.id == sa.bindparam("i"), _tickets.c.status == "open")
        .values(status="closed", closed_at=now, closed_by=ACTOR),
        [{"i": ident} for ident, _ in closing],
    )
    bind.execute(
        _audit.insert(),
        [
            {
                "actor": ACTOR,
                "action": "ticket.closed",
                "target": f"ticket:{ident}",
                "detail": f"duplicate open ticket; kept=ticket:{kept_id}",
                "created_at": now,
            }
            for ident, kept_id in closing
        ],
    )


def upgrade() -> None:
    """Apply this revision."""
    _close_duplicate_open_tickets()
    op.create_index(
        INDEX,
        "tickets",
        ["patient_id"],
        unique=True,
        sqlite_where=sa.text(OPEN_ONLY),
        postgresql_where=sa.text(OPEN_ONLY),
    )


def downgrade() -> None:
    """Revert this revision (duplicates closed on upgrade stay closed)."""
    op.drop_index(INDEX, table_name="tickets")
