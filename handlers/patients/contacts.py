"""Link a shared phone number to a patient, joining the record the clinic already has for it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Address, Patient
from bot.db.upsert import insert_for
from handlers.patients.merge import merge_patients
from handlers.phone import InvalidPhoneNumberError, tel_urn

__all__ = ["link_phone"]


async def link_phone(
    session: AsyncSession, patient: Patient, raw_phone: str, *, region: str, now: datetime
) -> Patient | None:
    """Add the number to the patient, merging into the record that already has it.

    Return the patient that now holds the chat (the older record after a merge, see
    `handlers.patients.merge.merge_patients`), or None when the number is not a valid phone number.
    """
    try:
        urn = tel_urn(raw_phone, region)
    except InvalidPhoneNumberError:
        return None
    await session.flush()
    owner = await session.scalar(
        select(Patient).join(Address).where(Address.urn == urn, Patient.id != patient.id)
    )
    if owner is None:
        # An upsert: a text from this number arriving at the same moment may create the
        # address first; then it belongs to that (new) record, which is joined below.
        statement = insert_for(session, Address).values(
            patient_id=patient.id, urn=urn, scheme="tel", reachable=True, created_at=now
        )
        await session.execute(statement.on_conflict_do_nothing(index_elements=["urn"]))
        owner = await session.scalar(
            select(Patient).join(Address).where(Address.urn == urn, Patient.id != patient.id)
        )
        if owner is None:
            return patient
    await merge_patients(session, patient, owner, now=now)
    return owner
