"""Everything a claimed batch needs to be decided, read with a handful of bulk queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Address,
    Appointment,
    AppointmentStatus,
    Broadcast,
    Consent,
    Delivery,
    DeliveryStatus,
    Patient,
    ReminderPreference,
)
from scheduler.compose import BROADCAST_PREFIX

__all__ = ["VISIT_OK", "BatchFacts", "load_facts", "nudge_target"]

VISIT_OK = (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED, AppointmentStatus.COMPLETED)
_SENT = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.SENDING)


def nudge_target(delivery: Delivery) -> tuple[int | None, str | None]:
    """Return a nudge's appointment id and rule id ("appt:<id>" + content_ref, or the
    older "appt:<id>:<rule>" reference)."""
    parts = delivery.reference.split(":")
    appointment = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
    rule = parts[2] if len(parts) == 3 else delivery.content_ref
    return appointment, rule


@dataclass
class BatchFacts:
    """Patients, consents, addresses, visits, broadcasts and tip history of one batch."""

    patients: dict[int, Patient] = field(default_factory=dict)
    consents: dict[int, dict[str, bool]] = field(default_factory=lambda: defaultdict(dict))
    addresses: dict[int, list[Address]] = field(default_factory=lambda: defaultdict(list))
    appointments: dict[int, Appointment] = field(default_factory=dict)
    last_visit: dict[int, datetime] = field(default_factory=dict)  # patient -> latest start
    broadcasts: dict[int, Broadcast] = field(default_factory=dict)
    # (patient, category) -> (weekdays bitmask, local "HH:MM") of enabled tip preferences
    tip_preferences: dict[tuple[int, str], tuple[int, str]] = field(default_factory=dict)
    # (patient, category) -> tip id -> order of its latest send (higher is more recent)
    history: dict[tuple[int, str], dict[str, int]] = field(
        default_factory=lambda: defaultdict(dict)
    )


async def load_facts(
    session: AsyncSession, deliveries: Sequence[Delivery], schemes: Collection[str]
) -> BatchFacts:
    """Read what deciding these deliveries needs, a query per table."""
    facts = BatchFacts()
    patient_ids = list({d.patient_id for d in deliveries})
    if not patient_ids:
        return facts
    for patient in await session.scalars(select(Patient).where(Patient.id.in_(patient_ids))):
        facts.patients[patient.id] = patient
    consents = select(Consent.patient_id, Consent.category, Consent.granted)
    for patient_id, category, granted in await session.execute(
        consents.where(Consent.patient_id.in_(patient_ids))
    ):
        facts.consents[patient_id][category] = granted
    addresses = await session.scalars(
        select(Address).where(
            Address.patient_id.in_(patient_ids),
            Address.reachable.is_(True),
            Address.opted_out_at.is_(None),
            Address.scheme.in_(list(schemes)),
        )
    )
    for address in addresses:
        facts.addresses[address.patient_id].append(address)
    await _visits(session, deliveries, facts)
    await _broadcasts(session, deliveries, facts)
    await _history(session, deliveries, facts)
    return facts


async def _visits(
    session: AsyncSession, deliveries: Sequence[Delivery], facts: BatchFacts
) -> None:
    nudges = [d for d in deliveries if d.kind == "nudge"]
    ids = {a for a in (nudge_target(d)[0] for d in nudges) if a is not None}
    if not ids:
        return
    for appointment in await session.scalars(select(Appointment).where(Appointment.id.in_(ids))):
        facts.appointments[appointment.id] = appointment
    latest = await session.execute(
        select(Appointment.patient_id, func.max(Appointment.starts_at))
        .where(
            Appointment.patient_id.in_({d.patient_id for d in nudges}),
            Appointment.status.in_(list(VISIT_OK)),
        )
        .group_by(Appointment.patient_id)
    )
    for patient_id, starts_at in latest:
        if starts_at is not None:
            facts.last_visit[patient_id] = starts_at


async def _broadcasts(
    session: AsyncSession, deliveries: Sequence[Delivery], facts: BatchFacts
) -> None:
    ids = set()
    for delivery in deliveries:
        ident = delivery.reference.removeprefix(BROADCAST_PREFIX)
        if delivery.kind == "broadcast" and ident.isdigit():
            ids.add(int(ident))
    if ids:
        for broadcast in await session.scalars(select(Broadcast).where(Broadcast.id.in_(ids))):
            facts.broadcasts[broadcast.id] = broadcast


async def _history(
    session: AsyncSession, deliveries: Sequence[Delivery], facts: BatchFacts
) -> None:
    tips = [d for d in deliveries if d.kind == "tip"]
    if not tips:
        return
    rows = await session.execute(
        select(Delivery.patient_id, Delivery.reference, Delivery.content_ref)
        .where(
            Delivery.patient_id.in_({d.patient_id for d in tips}),
            Delivery.kind == "tip",
            Delivery.reference.in_({d.reference for d in tips}),
            Delivery.status.in_(_SENT),
            Delivery.content_ref.is_not(None),
        )
        .order_by(Delivery.sent_at)
    )
    for order, (patient_id, category, tip_id) in enumerate(rows):
        facts.history[(patient_id, category)][str(tip_id)] = order
    preferences = await session.execute(
        select(
            ReminderPreference.patient_id,
            ReminderPreference.category,
            ReminderPreference.weekdays,
            ReminderPreference.local_time,
        ).where(
            ReminderPreference.patient_id.in_({d.patient_id for d in tips}),
            ReminderPreference.enabled.is_(True),
        )
    )
    for patient_id, category, weekdays, local_time in preferences:
        facts.tip_preferences[(patient_id, category)] = (weekdays, local_time)
