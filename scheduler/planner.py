"""Plan deliveries: tips from patients' preferences, nudges from appointments and rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Appointment,
    AppointmentStatus,
    Consent,
    ConsentCategory,
    Delivery,
    DeliveryStatus,
    Patient,
    PatientStatus,
    ReminderPreference,
)
from scheduler.outbox import PlannedDelivery, insert_planned
from scheduler.rules import NudgeRule
from scheduler.timing import QuietHours, local_instant, occurrences, parse_hhmm

__all__ = [
    "TIP_GRACE",
    "nudge_plan",
    "patient_zone",
    "plan_tips",
    "replan_appointment",
]

TIP_GRACE = timedelta(hours=1)
_NO_NUDGES = {AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW}


def patient_zone(name: str | None, default: ZoneInfo) -> ZoneInfo:
    """Return the patient's zone, or the clinic's when unset or unknown."""
    if not name:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return default


def _stamp(instant: datetime) -> str:
    return instant.strftime("%Y%m%dT%H%MZ")


def nudge_plan(
    appointment: Appointment,
    rules: Sequence[NudgeRule],
    zone: ZoneInfo,
    quiet: QuietHours,
    now: datetime,
) -> list[PlannedDelivery]:
    """Return the nudges an appointment should have, never at night and never too late."""
    if appointment.status in _NO_NUDGES:
        return []
    start = appointment.starts_at
    planned = []
    for rule in rules:
        due = start + rule.offset
        if rule.at is not None:
            due = local_instant(due.astimezone(zone).date(), rule.at, zone)
        if rule.before_visit:
            moved = quiet.nearest_allowed_before(due, start, zone)
            if moved is None:
                continue  # no decent time before the visit: skip rather than wake anyone
            due, expires = moved, min(moved + rule.expires_after, start)
        else:
            due = quiet.next_allowed(due, zone)
            expires = due + rule.expires_after
        if expires <= now:
            continue
        planned.append(
            PlannedDelivery(
                key=(
                    f"nudge:{appointment.patient_id}:{appointment.id}:{rule.id}"
                    f":v{rule.version}:{_stamp(due)}"
                ),
                patient_id=appointment.patient_id,
                kind="nudge",
                reference=f"appt:{appointment.id}:{rule.id}",
                due_at=due,
                expires_at=expires,
                rule_version=rule.version,
            )
        )
    return planned


async def replan_appointment(
    session: AsyncSession,
    appointment: Appointment,
    rules: Sequence[NudgeRule],
    zone: ZoneInfo,
    quiet: QuietHours,
    now: datetime,
) -> list[PlannedDelivery]:
    """Cancel pending nudges the appointment no longer needs and plan the ones it does."""
    planned = nudge_plan(appointment, rules, zone, quiet, now)
    keep = [p.key for p in planned]
    # A nudge cancelled by an earlier replan that the plan wants again (the visit was
    # cancelled, then restored) never went out: take it back rather than lose it to its key.
    await session.execute(
        update(Delivery)
        .where(
            Delivery.key.in_(keep),
            Delivery.status == DeliveryStatus.CANCELLED,
            Delivery.reason == "replanned",
        )
        .values(status=DeliveryStatus.PENDING, reason=None, updated_at=now)
    )
    stale = update(Delivery).where(
        Delivery.kind == "nudge",
        Delivery.reference.like(f"appt:{appointment.id}:%"),
        Delivery.status == DeliveryStatus.PENDING,
        Delivery.key.not_in(keep),
    )
    if session.get_bind().dialect.name == "sqlite":
        # Nudge keys start "nudge:<appointment id>:" and SQLite compares bytes, so this range
        # walks the unique key index instead of scanning every pending row per appointment.
        prefix = f"nudge:{appointment.id}:"
        stale = stale.where(Delivery.key >= prefix, Delivery.key < f"nudge:{appointment.id};")
    await session.execute(
        stale.values(status=DeliveryStatus.CANCELLED, reason="replanned", updated_at=now)
    )
    await insert_planned(session, planned, now)
    return planned


async def plan_tips(
    session: AsyncSession,
    now: datetime,
    horizon: timedelta,
    clinic_zone: ZoneInfo,
    quiet: QuietHours,
) -> int:
    """Plan every consenting patient's tips due in [now, now + horizon); return how many."""
    consented = (
        select(Consent.patient_id)
        .where(Consent.category == ConsentCategory.TIPS, Consent.granted.is_(True))
        .scalar_subquery()
    )
    rows = await session.execute(
        select(
            ReminderPreference.patient_id,
            ReminderPreference.category,
            ReminderPreference.weekdays,
            ReminderPreference.local_time,
            Patient.timezone,
        )
        .join(Patient, Patient.id == ReminderPreference.patient_id)
        .where(
            ReminderPreference.enabled.is_(True),
            Patient.status == PatientStatus.ACTIVE,
            Patient.reminders_paused.is_(False),
            ReminderPreference.patient_id.in_(consented),
        )
    )
    planned: list[PlannedDelivery] = []
    end = now + horizon
    for patient_id, category, weekdays, local_time, zone_name in rows:
        zone = patient_zone(zone_name, clinic_zone)
        try:
            at = parse_hhmm(local_time)
        except ValueError:
            continue  # preferences are validated on entry; never crash the planner on one row
        for due in occurrences(now, end, zone, at, weekdays):
            due = quiet.next_allowed(due, zone)
            planned.append(
                PlannedDelivery(
                    key=f"tip:{patient_id}:{category}:{_stamp(due)}",
                    patient_id=patient_id,
                    kind="tip",
                    reference=category,
                    due_at=due,
                    expires_at=due + TIP_GRACE,
                )
            )
    await insert_planned(session, planned, now)
    return len(planned)
