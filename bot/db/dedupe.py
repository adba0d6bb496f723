"""Inbound events handled once: Telegram update ids and Twilio MessageSids."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import ProcessedUpdate

__all__ = ["first_delivery"]


async def first_delivery(
    session: AsyncSession, channel: str, external_id: str, *, now: datetime
) -> bool:
    """Record an inbound event's id; False if it was recorded before (a redelivery).

    One `INSERT ... ON CONFLICT DO NOTHING`: no savepoint, no exception on the duplicate path,
    and concurrent deliveries of the same id are decided by the unique key. The row count
    says which it was (1 inserted, 0 skipped): no rows to fetch, one round trip fewer.
    """
    insert = (
        postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    )
    statement = (
        insert(ProcessedUpdate)
        .values(channel=channel, external_id=external_id, created_at=now)
        .on_conflict_do_nothing(index_elements=["channel", "external_id"])
    )
    connection = await session.connection()  # Core, past the ORM's bulk machinery
    result = await connection.execute(statement)
    return result.rowcount == 1
