"""Named values the scheduler keeps in the database across restarts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import SchedulerState

__all__ = [
    "RULES_FINGERPRINT",
    "TIPS_REPLAN",
    "TIPS_WATERMARK",
    "clear_tip_replans",
    "read_state",
    "request_tip_replan",
    "tip_replans",
    "write_state",
]

TIPS_WATERMARK = "tips_planned_until"  # ISO instant: tips are planned up to here (exclusive)
RULES_FINGERPRINT = "nudge_rules"  # hash of the rules and settings nudges were planned with
# + a patient id: that patient's tip settings or consent changed after their tips were planned
TIPS_REPLAN = "tips_replan:"


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


async def request_tip_replan(session: AsyncSession, patient_id: int, now: datetime) -> None:
    """Ask the scheduler to replan this patient's planned tips (in the caller's transaction).

    Written with the change itself, so the replan reads the settings as committed; the next
    tick replans before it claims anything (scheduler.service).
    """
    await write_state(session, f"{TIPS_REPLAN}{patient_id}", now.isoformat(), now)


async def tip_replans(session: AsyncSession, limit: int) -> dict[int, str]:
    """Return up to `limit` requested tip replans: patient id -> when it was asked."""
    rows = await session.execute(
        select(SchedulerState.name, SchedulerState.value)
        .where(SchedulerState.name.startswith(TIPS_REPLAN, autoescape=True))
        .order_by(SchedulerState.name)
        .limit(limit)
    )
    return {int(name.removeprefix(TIPS_REPLAN)): value for name, value in rows}


async def clear_tip_replans(session: AsyncSession, done: dict[int, str]) -> None:
    """Forget replans that were done; one asked again since (a newer value) stays."""
    for patient_id, value in done.items():
        await session.execute(
            delete(SchedulerState).where(
                SchedulerState.name == f"{TIPS_REPLAN}{patient_id}",
                SchedulerState.value == value,
            )
        )
