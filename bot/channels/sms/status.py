"""What Twilio tells us about numbers and messages: opted out, unreachable, delivered."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Address, MessageLog
from handlers.delivery.consent import record_lost

__all__ = [
    "OPTED_OUT_CODES",
    "UNREACHABLE_CODES",
    "record_status",
]

log = logging.getLogger(__name__)

OPTED_OUT_CODES = frozenset({21610})  # the recipient replied STOP at the carrier or Twilio
UNREACHABLE_CODES = frozenset({21211, 21614})  # not a valid number; not a mobile number


async def _address(session: AsyncSession, urn: str) -> Address | None:
    found: Address | None = await session.scalar(select(Address).where(Address.urn == urn))
    return found


async def record_status(
    session: AsyncSession,
    *,
    urn: str | None,
    message_sid: str,
    status: str,
    error_code: int | None,
    now: datetime,
) -> None:
    """Record a delivery status for a message and act on its error code."""
    rows = (
        await session.scalars(select(MessageLog).where(MessageLog.external_id == message_sid))
    ).all()
    for row in rows:
        row.status = status[:16]
    if not rows:
        # A TwiML reply has no row yet: its first callback creates one.
        address = await _address(session, urn) if urn else None
        session.add(
            MessageLog(
                patient_id=address.patient_id if address else None,
                direction="out",
                channel="sms",
                kind="reply",
                status=status[:16],
                external_id=message_sid,
                created_at=now,
            )
        )
    if urn is None or error_code is None:
        return
    lost = (
        "opted_out"
        if error_code in OPTED_OUT_CODES
        else "unreachable"
        if error_code in UNREACHABLE_CODES
        else None
    )
    address = await _address(session, urn) if lost else None
    if lost and address is not None:
        # The same meaning as when the outbox hears it: handlers.delivery.consent.record_lost.
        await record_lost(
            session, address.id, lost, code=str(error_code), provider="twilio", now=now
        )
        log.info("sms status: address=%s %s", address.id, lost)
