"""Link a shared phone number to a patient, joining the record the clinic already has for it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Address,
    AuditEntry,
    Consent,
    ConsentEvent,
    MessageLog,
    Patient,
    ReminderPreference,
    SafetyEvent,
)
from handlers.phone import InvalidPhoneNumberError, tel_urn

__all__ = ["link_phone"]

# Rows that move to the surviving record as they are; consents and preferences (one per
# category) replace the older record's, since the patient has just chosen them.
_MOVED = (Address, ConsentEvent, MessageLog, SafetyEvent)
_REPLACED = (Consent, ReminderPreference)


async def link_phone(
    session: AsyncSession, patient: Patient, raw_phone: str, *, region: str, now: datetime
) -> Patient | None:
    """Add the number to the patient, merging into the record that already has it.

    Return the patient that now holds the chat (the older record after a merge), or None when
    the number is not a valid phone number.
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
        if await session.scalar(select(Address.id).where(Address.urn == urn)) is None:
            session.add(
                Address(
                    patient_id=patient.id, urn=urn, scheme="tel", reachable=True, created_at=now
                )
            )
        return patient
    for model in _REPLACED:
        await session.execute(
            delete(model).where(
                model.patient_id == owner.id,
                model.category.in_(select(model.category).where(model.patient_id == patient.id)),
            )
        )
    await session.flush()
    for moved in (*_MOVED, *_REPLACED):
        await session.execute(
            update(moved).where(moved.patient_id == patient.id).values(patient_id=owner.id)
        )
    owner.name = owner.name or patient.name
    owner.language = patient.language or owner.language
    owner.timezone = patient.timezone or owner.timezone
    owner.onboarding_step = patient.onboarding_step
    owner.updated_at = now
    await session.execute(delete(Patient).where(Patient.id == patient.id))
    session.add(
        AuditEntry(
            actor=f"patient:{owner.id}",
            action="patient.merged",
            target=f"patient:{owner.id}",
            detail=f"from=patient:{patient.id} via=shared_contact",
            created_at=now,
        )
    )
    return owner
