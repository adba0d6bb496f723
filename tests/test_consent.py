"""Consent shared by every channel: one STOP reaches every path; START and YES undo it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Address, ConsentCategory
from bot.db.patients import consents_of, find_or_create_patient
from bot.db.session import Database
from handlers.delivery.consent import opt_in, record_lost, refusal, stop_everything

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


async def may_send(session: AsyncSession, urn: str, category: ConsentCategory) -> bool:
    """The core's send-time answer for one address."""
    return await refusal(session, urn, category) is None


async def _patient_with_two_addresses(db: Database) -> tuple[int, str, str]:
    async with db.session() as session, session.begin():
        patient, telegram, _ = await find_or_create_patient(session, "telegram:5", now=NOW)
        phone = Address(
            patient_id=patient.id, urn="tel:+15035550111", scheme="tel", created_at=NOW
        )
        session.add(phone)
        await session.flush()
        return patient.id, telegram.urn, phone.urn


async def test_nothing_is_sent_without_consent(db: Database) -> None:
    _, telegram, phone = await _patient_with_two_addresses(db)
    async with db.session() as session:
        assert not await may_send(session, telegram, ConsentCategory.TIPS)
        assert not await may_send(session, phone, ConsentCategory.APPOINTMENTS)


async def test_stop_reaches_every_category_and_number_and_start_undoes_it(db: Database) -> None:
    patient, telegram, phone = await _patient_with_two_addresses(db)
    async with db.session() as session, session.begin():
        await opt_in(session, patient, source="telegram:onboarding", now=NOW)
    async with db.session() as session:
        assert await may_send(session, phone, ConsentCategory.ANNOUNCEMENTS)
    async with db.session() as session, session.begin():
        await stop_everything(session, patient, source="sms:STOP", now=NOW)
    async with db.session() as session:
        assert await consents_of(session, patient) == dict.fromkeys(ConsentCategory, False)
        for address in (telegram, phone):
            for category in ConsentCategory:
                assert not await may_send(session, address, category)
        stopped = await session.scalar(select(Address.opted_out_at).where(Address.urn == phone))
        assert stopped == NOW
    async with db.session() as session, session.begin():
        await opt_in(
            session, patient, (ConsentCategory.APPOINTMENTS,), source="sms:START", now=NOW
        )
    async with db.session() as session:
        assert await may_send(session, phone, ConsentCategory.APPOINTMENTS)
        assert not await may_send(session, phone, ConsentCategory.TIPS)


async def test_an_unreachable_address_gets_nothing(db: Database) -> None:
    patient, telegram, _ = await _patient_with_two_addresses(db)
    async with db.session() as session, session.begin():
        await opt_in(session, patient, source="telegram:onboarding", now=NOW)
        address = await session.scalar(select(Address).where(Address.urn == telegram))
        assert address is not None
        address.reachable = False
    async with db.session() as session:
        assert not await may_send(session, telegram, ConsentCategory.TIPS)


async def test_a_carrier_opt_out_means_a_stop_wherever_it_is_heard(db: Database) -> None:
    patient, telegram, phone = await _patient_with_two_addresses(db)
    async with db.session() as session, session.begin():
        await opt_in(session, patient, source="telegram:onboarding", now=NOW)
        phone_id = await session.scalar(select(Address.id).where(Address.urn == phone))
        assert phone_id is not None
        await record_lost(session, phone_id, "opted_out", code="21610", provider="twilio", now=NOW)
    async with db.session() as session:
        assert await consents_of(session, patient) == dict.fromkeys(ConsentCategory, False)
        assert await refusal(session, phone, None) == "opted_out"
        assert await refusal(session, telegram, ConsentCategory.TIPS) == "no_consent"


async def test_an_unreachable_outcome_marks_only_that_address(db: Database) -> None:
    patient, telegram, phone = await _patient_with_two_addresses(db)
    async with db.session() as session, session.begin():
        await opt_in(session, patient, source="telegram:onboarding", now=NOW)
        phone_id = await session.scalar(select(Address.id).where(Address.urn == phone))
        assert phone_id is not None
        await record_lost(
            session, phone_id, "unreachable", code="21614", provider="twilio", now=NOW
        )
    async with db.session() as session:
        assert await refusal(session, phone, None) == "unreachable"
        assert await may_send(session, telegram, ConsentCategory.TIPS)
        reason = await session.scalar(
            select(Address.unreachable_reason).where(Address.urn == phone)
        )
        assert reason == "twilio:21614"
