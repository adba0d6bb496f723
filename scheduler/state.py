"""Named values the scheduler keeps in the database across restarts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import SchedulerState

__all__ = ["RULES_FINGERPRINT", "TIPS_WATERMARK", "read_state", "write_state"]

TIPS_WATERMARK = "tips_planned_until"  # ISO instant: tips are planned up to here (exclusive)
RULES_FINGERPRINT = "nudge_rules"  # hash of the rules and settings nudges were planned with


async def read_state(session: AsyncSession, name: str) -> str | None:
    """Return a stored value, or None if never written."""
    row = await session.get(SchedulerState, name, populate_existing=True)
    return row.value if row is not None else None


async def write_state(session: AsyncSession, name: str, value: str, now: datetime) -> None:
    """Store a value (insert or replace)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(SchedulerState).values(name=name, value=value, updated_at=now)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["name"], set_={"value": value, "updated_at": now}
        )
    )
