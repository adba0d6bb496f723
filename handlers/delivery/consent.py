"""Consent changes every channel shares: stop everything, start again, agree per category."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Address, Consent, ConsentCategory, ConsentEvent, Patient, PatientStatus
from bot.db.patients import set_consent

__all__ = [
    "LOST",
    "is_stop",
    "opt_in",
    "record_lost",
    "refusal",
    "restore_after_stop",
    "stop_everything",
]

# What a channel can report about an address, and the one thing each means for the clinic.
LOST = frozenset({"opted_out", "unreachable"})


def is_stop(source: str) -> bool:
    """Say whether a consent change was a stop ("sms:stop", "telegram:stop", a carrier's 21610).

    Every path that withdraws everything goes through `stop_everything` with such a source.
    """
    folded = source.casefold()
    return folded.endswith(":stop") or folded.startswith("twilio:")


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


async def restore_after_stop(
    session: AsyncSession, patient_id: int, *, source: str, now: datetime
) -> tuple[ConsentCategory, ...] | None:
    """Undo a stop: give back what the patient had agreed to before it, and lift the opt-out.

    Each category gets the yes or no of its latest change that was not a stop (from Telegram
    onboarding, /reminders, TIPS ON, an earlier YES ...): a category declined there stays
    declined. Return the categories granted, or None when the patient never chose anything
    (only stops, or no history): then nothing is granted here, and the caller decides what a
    first yes means.
    """
    events = await session.execute(
        select(ConsentEvent.category, ConsentEvent.granted, ConsentEvent.source)
        .where(ConsentEvent.patient_id == patient_id)
        .order_by(ConsentEvent.id.desc())
    )
    chosen: dict[str, bool] = {}
    for category, yes, event_source in events:
        if category not in chosen and not is_stop(event_source):
            chosen[category] = yes
    if not chosen:
        return None
    agreed = tuple(c for c in ConsentCategory if chosen.get(c, False))
    await opt_in(session, patient_id, agreed, source=source, now=now)
    return agreed


async def refusal(session: AsyncSession, urn: str, consent: str | None) -> str | None:
    """Say why a message may not go to `urn` right now, or None if it may.

    For messages outside the outbox (a staff answer, a ticket closed):
    handlers.delivery.sending asks it just before the transport posts. "opted_out" (the
    number texted STOP), "unreachable", "erased", or "no_consent" when `consent` names a
    category the patient has not (or no longer) agreed to. An address the clinic does not know
    yet is allowed only for messages that need no consent. The outbox decides the same facts in
    bulk (scheduler.decide), in the transaction that claims the row, right before posting.
    """
    granted = (
        select(Consent.granted)
        .where(Consent.patient_id == Address.patient_id, Consent.category == (consent or ""))
        .scalar_subquery()
    )
    row = (
        await session.execute(
            select(Address.opted_out_at, Address.reachable, Patient.status, granted)
            .join(Patient, Patient.id == Address.patient_id)
            .where(Address.urn == urn)
        )
    ).first()
    if row is None:
        return None if consent is None else "no_consent"
    opted_out_at, reachable, status, agreed = row
    if opted_out_at is not None:
        return "opted_out"
    if not reachable:
        return "unreachable"
    if status != PatientStatus.ACTIVE:
        return "erased"
    if consent is not None and not agreed:
        return "no_consent"
    return None


async def record_lost(
    session: AsyncSession,
    address_id: int,
    lost: str,
    *,
    code: str | None,
    provider: str,
    now: datetime,
) -> None:
    """Record what a provider said about an address, with one meaning wherever it is heard.

    "opted_out" (a carrier's STOP, e.g. Twilio 21610) is a STOP: every category withdrawn and
    every number of the patient opted out, as if they had texted STOP to us. "unreachable"
    (blocked bot, invalid or landline number) marks only that address, with the code as the
    reason. Both the outbox and Twilio's status callbacks come here.
    """
    address = await session.get(Address, address_id)
    if address is None:
        return
    if lost == "opted_out":
        await stop_everything(
            session, address.patient_id, source=f"{provider}:{code or 'opted_out'}", now=now
        )
    elif lost == "unreachable":
        address.reachable = False
        address.unreachable_reason = f"{provider}:{code}" if code else provider
