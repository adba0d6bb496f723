"""A patient's next appointments: list them with Confirm and Reschedule options, act on a pick."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Appointment, AppointmentStatus, Patient
from content.store import ContentStore
from handlers.messages import OutboundMessage
from handlers.patients.appointment_replies import AppointmentIntent, apply_reply
from handlers.patients.preferences import zone_of
from handlers.wording import option, say

__all__ = ["PREFIX", "choose", "describe_when", "listing", "upcoming"]

PREFIX = "appt:"
MAX_LISTED = 3
_WEEKDAYS = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "es": ("lun", "mar", "mié", "jue", "vie", "sáb", "dom"),
}
_MONTHS = {
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "es": ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic"),
}
_ACTIONS = {"confirm": AppointmentIntent.CONFIRM, "reschedule": AppointmentIntent.RESCHEDULE}


def describe_when(starts_at: datetime, zone: str, lang: str) -> str:
    """Say when a visit starts in the patient's zone: "Tue 3 Mar, 10:00" (date and time only)."""
    local = starts_at.astimezone(ZoneInfo(zone))
    day = _WEEKDAYS.get(lang, _WEEKDAYS["en"])[local.weekday()]
    month = _MONTHS.get(lang, _MONTHS["en"])[local.month - 1]
    return f"{day} {local.day} {month}, {local:%H:%M}"


async def upcoming(
    session: AsyncSession, patient_id: int, *, now: datetime, limit: int = MAX_LISTED
) -> Sequence[Appointment]:
    """Return the patient's next booked or confirmed appointments, soonest first."""
    query = (
        select(Appointment)
        .where(
            Appointment.patient_id == patient_id,
            Appointment.starts_at > now,
            Appointment.status.in_([AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED]),
        )
        .order_by(Appointment.starts_at)
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def listing(
    session: AsyncSession,
    content: ContentStore,
    patient: Patient,
    *,
    clinic_zone: str,
    now: datetime,
) -> OutboundMessage:
    """List the next appointments (date, time, clinic: nothing clinical) with their options."""
    lang = patient.language or "en"
    found = await upcoming(session, patient.id, now=now)
    if not found:
        return say(content, "appointments_none", lang)
    zone = zone_of(patient, clinic_zone)
    header = content.message("appointments_list", lang)
    lines, options = [header.text], []
    for appointment in found:
        when = describe_when(appointment.starts_at, zone, lang)
        lines.append(f"- {when}")
        if appointment.status == AppointmentStatus.BOOKED:
            options.append(
                option(
                    content,
                    "appointment_confirm",
                    lang,
                    f"{PREFIX}confirm:{appointment.id}",
                    when=when,
                )
            )
        options.append(
            option(
                content,
                "appointment_reschedule",
                lang,
                f"{PREFIX}reschedule:{appointment.id}",
                when=when,
            )
        )
    text = "\n".join(lines)
    message = say(content, "appointments_list", lang, options=tuple(options))
    return OutboundMessage(
        text=text,
        sms=text,
        kind=message.kind,
        lang=lang,
        options=message.options,
    )


async def choose(
    session: AsyncSession,
    content: ContentStore,
    patient: Patient,
    payload: str,
    *,
    clinic_zone: str,
    now: datetime,
) -> tuple[OutboundMessage, int | None]:
    """Confirm an appointment or note a reschedule request; a stale or forged pick says so.

    Also returns the appointment id when a reschedule was requested, for staff to be told.
    """
    lang = patient.language or "en"
    action, _, ident = payload.removeprefix(PREFIX).partition(":")
    intent = _ACTIONS.get(action)
    appointment = await session.get(Appointment, int(ident)) if ident.isdigit() else None
    if (
        intent is None
        or appointment is None
        or not await apply_reply(
            session, patient_id=patient.id, appointment_id=appointment.id, intent=intent, now=now
        )
    ):
        return say(content, "appointment_unknown", lang), None
    when = describe_when(appointment.starts_at, zone_of(patient, clinic_zone), lang)
    if intent is AppointmentIntent.CONFIRM:
        first_name = (patient.name or "").split(" ")[0]
        confirmed = say(content, "appointment_confirmed", lang, when=when, first_name=first_name)
        return confirmed, None
    return say(content, "appointment_reschedule_noted", lang, when=when), appointment.id
