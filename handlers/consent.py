"""Consent changes every channel shares: stop everything, start again, agree per category."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Address, ConsentCategory
from bot.db.patients import consents_of, set_consent

__all__ = ["may_send", "opt_in", "stop_everything"]


async def stop_everything(
    session: AsyncSession, patient_id: int, *, source: str, now: datetime
) -> None:
    """Withdraw consent for every category and mark every SMS number opted out."""
    for category in ConsentCategory:
        await set_consent(session, patient_id, category, granted=False, source=source, now=now)
    await session.execute(
        update(Address)
        .where(Address.patient_id == patient_id, Address.scheme == "tel")
        .values(opted_out_at=now)
    )


async def opt_in(
    session: AsyncSession,
    patient_id: int,
    categories: tuple[ConsentCategory, ...] = tuple(ConsentCategory),
    *,
    source: str,
    now: datetime,
) -> None:
    """Record consent for the given categories and lift an SMS opt-out on the patient's numbers."""
    for category in categories:
        await set_consent(session, patient_id, category, granted=True, source=source, now=now)
    await session.execute(
        update(Address)
        .where(Address.patient_id == patient_id, Address.scheme == "tel")
        .values(opted_out_at=None)
    )


async def may_send(session: AsyncSession, address_id: int, category: ConsentCategory) -> bool:
    """Say whether an automated message of this category may go to this address now."""
    address = await session.scalar(select(Address).where(Address.id == address_id))
    if address is None or not address.reachable or address.opted_out_at is not None:
        return False
    return (await consents_of(session, address.patient_id)).get(category, False)
