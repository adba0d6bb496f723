"""Replan one patient's tips inside the already planned window after their settings changed.

The window planner (tip_window) plans each slice of time once, from a watermark about a day
ahead, so a tip time, days, zone, categories or consent changed inside that window would
otherwise wait a day: the rows planned for the old settings are cancelled at send time and
the new time was never planned. Here only that patient's rows are touched.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Consent,
    ConsentCategory,
    Delivery,
    DeliveryStatus,
    Patient,
    PatientStatus,
    ReminderPreference,
)
from handlers.time.quiet_hours import QuietHours
from scheduler.outbox import PlannedDelivery, insert_planned
from scheduler.timing import patient_zone
from scheduler.tip_window import TIP_GRACE, tip_row, tip_times

__all__ = ["REPLANNED", "replan_patient_tips", "wanted_tips"]

REPLANNED = "replanned"  # the reason on a row its patient's new settings no longer want


async def wanted_tips(
    session: AsyncSession,
    patient_id: int,
    start: datetime,
    end: datetime,
    *,
    clinic_zone: ZoneInfo,
    quiet: QuietHours,
) -> list[PlannedDelivery] | None:
    """Return the tips the patient's current settings want in [start, end), as planned rows.

    Keys and times are the window planner's, so a row planned twice is one row. None when
    no tip may go now (no consent, paused, gone): the send-time check records why per row.
    """
    patient = await session.get(Patient, patient_id, populate_existing=True)
    if (
        patient is None
        or patient.status != PatientStatus.ACTIVE
        or patient.reminders_paused
        or not await session.scalar(
            select(Consent.granted).where(
                Consent.patient_id == patient_id, Consent.category == ConsentCategory.TIPS
            )
        )
    ):
        return None
    zone = patient_zone(patient.timezone, clinic_zone)
    rows = await session.execute(
        select(
            ReminderPreference.category, ReminderPreference.weekdays, ReminderPreference.local_time
        ).where(ReminderPreference.patient_id == patient_id, ReminderPreference.enabled.is_(True))
    )
    # Every row is pending here: the caller keeps only rows from now on for new inserts.
    return [
        tip_row(patient_id, category, due, now=start)
        for category, weekdays, local_time in rows
        for due in tip_times(local_time, weekdays, start, end, zone, quiet)
    ]


async def replan_patient_tips(
    session: AsyncSession,
    patient_id: int,
    end: datetime,
    *,
    now: datetime,
    clinic_zone: ZoneInfo,
    quiet: QuietHours,
) -> int:
    """Make the patient's planned tips from now to `end` match their current settings.

    Pending rows the settings no longer want are cancelled ("replanned"), never sent; rows a
    previous replan cancelled that are wanted again come back; new times get new rows. Rows
    already due within the grace stay only if still wanted. A patient who may not get tips now
    keeps their rows for the send-time check. Returns how many rows changed.
    """
    start = now - TIP_GRACE
    plan = await wanted_tips(session, patient_id, start, end, clinic_zone=clinic_zone, quiet=quiet)
    if plan is None:
        return 0
    wanted = {p.key: p for p in plan}
    rows = await session.execute(
        select(Delivery.id, Delivery.key, Delivery.status, Delivery.due_at).where(
            Delivery.patient_id == patient_id,
            Delivery.kind == "tip",
            Delivery.due_at >= start,
            or_(
                Delivery.status == DeliveryStatus.PENDING,
                (Delivery.status == DeliveryStatus.CANCELLED) & (Delivery.reason == REPLANNED),
            ),
        )
    )
    cancel, revive, known = [], [], set()
    for ident, key, status, due_at in rows:
        known.add(key)
        if status == DeliveryStatus.PENDING and key not in wanted:
            cancel.append(ident)
        elif status == DeliveryStatus.CANCELLED and key in wanted and due_at >= now:
            revive.append(ident)
    if cancel:
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(cancel), Delivery.status == DeliveryStatus.PENDING)
            .values(status=DeliveryStatus.CANCELLED, reason=REPLANNED, updated_at=now)
        )
    if revive:
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(revive))
            .values(status=DeliveryStatus.PENDING, reason=None, updated_at=now)
        )
    # Only from now on: a new time a minute ago is not sent late. Keys sent before are skipped.
    fresh = [p for key, p in wanted.items() if key not in known and p.due_at >= now]
    await insert_planned(session, fresh, now)
    return len(cancel) + len(revive) + len(fresh)
