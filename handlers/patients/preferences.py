"""Reminder preferences, language, time zone, and stopping or resuming messages."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import ConsentCategory, ConsentEvent, Patient, ReminderPreference, TipCategory
from bot.db.patients import consents_of, set_consent
from bot.db.upsert import insert_for
from content.store import ContentStore
from handlers.delivery.consent import stop_everything
from handlers.messages import OutboundMessage, QuickReply
from handlers.wording import option, say
from scheduler.state import request_tip_replan

__all__ = [
    "DAYS",
    "LANGUAGE_NAMES",
    "PREFIX",
    "TIMES",
    "apply",
    "change_zone",
    "known_zone",
    "language_options",
    "preferences_of",
    "resubscribe",
    "set_days",
    "set_language",
    "set_time",
    "set_timezone",
    "set_tip",
    "stop",
    "summary",
    "tip_toggles",
    "zone_of",
]

PREFIX = "rem:"
TIMES = {"morning": "09:00", "midday": "12:00", "evening": "18:00"}
DAYS = {"every": 0b1111111, "weekdays": 0b0011111, "weekends": 0b1100000}  # bit 0 is Monday
LANGUAGE_NAMES = {"en": "English", "es": "Español"}


def known_zone(text: str) -> str | None:
    """Return the IANA zone named by `text`, or None if there is no such zone."""
    name = text.strip()
    if not name or len(name) > 64 or " " in name or name.startswith(("/", ".")):
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def zone_of(patient: Patient, clinic_zone: str) -> str:
    """Return the patient's time zone, or the clinic's when they have not chosen one."""
    return patient.timezone or clinic_zone


def language_options() -> tuple[QuickReply, ...]:
    """Return one option per language, each labelled in its own language."""
    return tuple(QuickReply(name, f"lang:{code}") for code, name in LANGUAGE_NAMES.items())


def tip_toggles(
    content: ContentStore,
    prefs: dict[TipCategory, ReminderPreference],
    lang: str,
    prefix: str,
) -> tuple[QuickReply, ...]:
    """Return one on/off option per tip category, marked with its current state."""
    return tuple(
        QuickReply(
            ("✓ " if prefs[c].enabled else "○ ") + content.message(f"tip_{c}", lang).text,
            prefix + c,
        )
        for c in TipCategory
    )


async def preferences_of(
    session: AsyncSession, patient_id: int, *, now: datetime
) -> dict[TipCategory, ReminderPreference]:
    """Return the patient's row per tip category, creating missing ones switched off.

    Missing rows are inserted with ON CONFLICT DO NOTHING, so two messages at once from a
    patient without rows (TIPS ON and STOP) both go through instead of one failing.
    """
    query = select(ReminderPreference).where(ReminderPreference.patient_id == patient_id)
    found = {TipCategory(row.category): row for row in await session.scalars(query)}
    missing = [category for category in TipCategory if category not in found]
    if missing:
        template = next(iter(found.values()), None)
        rows = [
            {
                "patient_id": patient_id,
                "category": category,
                "enabled": False,
                "weekdays": template.weekdays if template else DAYS["every"],
                "local_time": template.local_time if template else TIMES["morning"],
                "updated_at": now,
            }
            for category in missing
        ]
        statement = insert_for(session, ReminderPreference).values(rows)
        await session.execute(
            statement.on_conflict_do_nothing(index_elements=["patient_id", "category"])
        )
        found = {TipCategory(row.category): row for row in await session.scalars(query)}
    return found


async def set_tip(
    session: AsyncSession, patient_id: int, category: TipCategory, *, enabled: bool, now: datetime
) -> None:
    """Switch one tip category on or off."""
    row = (await preferences_of(session, patient_id, now=now))[category]
    row.enabled, row.updated_at = enabled, now
    await request_tip_replan(session, patient_id, now)


async def set_time(session: AsyncSession, patient_id: int, local_time: str, now: datetime) -> None:
    """Set the local time (HH:MM) every tip category is sent at."""
    for row in (await preferences_of(session, patient_id, now=now)).values():
        row.local_time, row.updated_at = local_time, now
    await request_tip_replan(session, patient_id, now)


async def set_days(session: AsyncSession, patient_id: int, weekdays: int, now: datetime) -> None:
    """Set the weekdays bitmask every tip category is sent on."""
    for row in (await preferences_of(session, patient_id, now=now)).values():
        row.weekdays, row.updated_at = weekdays, now
    await request_tip_replan(session, patient_id, now)


async def summary(
    session: AsyncSession,
    content: ContentStore,
    patient: Patient,
    *,
    clinic_zone: str,
    now: datetime,
) -> OutboundMessage:
    """Describe the patient's reminders, with buttons to change each part."""
    lang = patient.language or "en"
    prefs = await preferences_of(session, patient.id, now=now)
    consented = (await consents_of(session, patient.id)).get(ConsentCategory.TIPS, False)
    on = [content.message(f"tip_{c}", lang).text for c, row in prefs.items() if row.enabled]
    first = prefs[TipCategory.EXERCISE]
    days = next((name for name, mask in DAYS.items() if mask == first.weekdays), "every")
    status = "reminders_paused" if patient.reminders_paused else "reminders_active"
    if not consented:
        status = "reminders_no_consent"
    options = list(tip_toggles(content, prefs, lang, f"{PREFIX}tip:"))
    options += [option(content, f"time_{name}", lang, f"{PREFIX}time:{name}") for name in TIMES]
    options += [option(content, f"days_{name}", lang, f"{PREFIX}days:{name}") for name in DAYS]
    options.append(option(content, "reminders_change_zone", lang, f"{PREFIX}zone"))
    pause = "resume" if patient.reminders_paused else "pause"
    options.append(option(content, f"reminders_{pause}", lang, f"{PREFIX}{pause}"))
    return say(
        content,
        "reminders_summary",
        lang,
        options=tuple(options),
        tips=", ".join(on) or content.message("reminders_none", lang).text,
        days=content.message(f"days_{days}", lang).text,
        time=first.local_time,
        zone=zone_of(patient, clinic_zone),
        status=content.message(status, lang).text,
    )


async def apply(
    session: AsyncSession,
    content: ContentStore,
    patient: Patient,
    payload: str,
    *,
    clinic_zone: str,
    now: datetime,
) -> OutboundMessage | None:
    """Apply a reminders button and return the updated summary; None if the button is unknown."""
    lang = patient.language or "en"
    action, _, value = payload.removeprefix(PREFIX).partition(":")
    if action == "tip" and value in set(TipCategory):
        category = TipCategory(value)
        row = (await preferences_of(session, patient.id, now=now))[category]
        await set_tip(session, patient.id, category, enabled=not row.enabled, now=now)
        if row.enabled:  # choosing a tip is agreeing to tips
            await set_consent(
                session,
                patient.id,
                ConsentCategory.TIPS,
                granted=True,
                source="reminders",
                now=now,
            )
    elif action == "time" and value in TIMES:
        await set_time(session, patient.id, TIMES[value], now)
    elif action == "days" and value in DAYS:
        await set_days(session, patient.id, DAYS[value], now)
    elif action in {"pause", "resume"} and not value:
        patient.reminders_paused, patient.updated_at = action == "pause", now
        await request_tip_replan(session, patient.id, now)
    elif action == "zone" and not value:
        patient.pending_question, patient.pending_since = "timezone", now
        return say(content, "timezone_prompt", lang)
    else:
        return None
    return await summary(session, content, patient, clinic_zone=clinic_zone, now=now)


async def change_zone(session: AsyncSession, patient: Patient, zone: str, now: datetime) -> None:
    """Set the patient's (known) time zone; their planned tips move with it."""
    patient.timezone, patient.updated_at = zone, now
    await request_tip_replan(session, patient.id, now)


async def set_timezone(
    session: AsyncSession, content: ContentStore, patient: Patient, text: str, *, now: datetime
) -> OutboundMessage:
    """Set the patient's time zone from typed text; an unknown zone changes nothing."""
    lang = patient.language or "en"
    zone = known_zone(text)
    if zone is None:
        return say(content, "timezone_unknown", lang, zone=text.strip()[:64])
    await change_zone(session, patient, zone, now)
    return say(content, "timezone_set", lang, zone=zone)


def set_language(
    content: ContentStore, patient: Patient, code: str, *, now: datetime
) -> OutboundMessage | None:
    """Set the patient's language from a `lang:<code>` choice; None if the code is unknown."""
    if code not in LANGUAGE_NAMES:
        return None
    patient.language, patient.updated_at = code, now
    return say(content, "language_set", code)


async def stop(session: AsyncSession, patient_id: int, *, channel: str, now: datetime) -> None:
    """Withdraw every consent because the patient asked to stop on `channel`."""
    await stop_everything(session, patient_id, source=f"{channel}:stop", now=now)


async def resubscribe(
    session: AsyncSession, patient_id: int, *, channel: str, now: datetime
) -> bool:
    """Restore the consents a stop on `channel` withdrew; say whether there was one to undo."""
    events = (
        await session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.patient_id == patient_id)
            .order_by(ConsentEvent.id.desc())
        )
    ).all()
    stop_source = f"{channel}:stop"
    latest: dict[str, ConsentEvent] = {}
    before: dict[str, bool] = {}
    for event in events:
        if event.category not in latest:
            latest[event.category] = event
        elif event.source != stop_source and event.category not in before:
            before[event.category] = event.granted
    stopped = [c for c, event in latest.items() if event.source == stop_source]
    if not stopped:
        return False
    for category in stopped:
        # Only what the patient had agreed to before the stop comes back.
        if before.get(category, False):
            await set_consent(
                session,
                patient_id,
                ConsentCategory(category),
                granted=True,
                source=f"{channel}:start",
                now=now,
            )
    return True
