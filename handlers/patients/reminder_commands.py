"""Change between-visit tips in words: "TIPS DIET OFF", "TIPS 18:00" by SMS, or the staff CLI."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import ConsentCategory, Patient, TipCategory
from bot.db.patients import consents_of, set_consent
from content.store import ContentStore
from content.text import fold
from handlers.patients.preferences import (
    DAYS,
    change_zone,
    known_zone,
    preferences_of,
    set_days,
    set_time,
    set_tip,
)
from handlers.staff.roles import audit
from handlers.time.quiet_hours import QuietHours
from scheduler.state import request_tip_replan
from scheduler.timing import parse_hhmm

__all__ = [
    "KEYWORDS",
    "ReminderChange",
    "ReminderCommandError",
    "apply_change",
    "describe",
    "parse_tips_command",
]

KEYWORDS = frozenset({"tips", "tip", "consejos", "consejo"})
CATEGORY_WORDS = {
    "exercise": TipCategory.EXERCISE, "ejercicio": TipCategory.EXERCISE,
    "ejercicios": TipCategory.EXERCISE, "diet": TipCategory.DIET, "food": TipCategory.DIET,
    "dieta": TipCategory.DIET, "alimentacion": TipCategory.DIET,
    "meditation": TipCategory.MEDITATION, "meditacion": TipCategory.MEDITATION,
    "breathing": TipCategory.MEDITATION, "all": None, "todos": None, "todo": None,
}  # fmt: skip
_ON, _OFF = {"on", "si", "yes", "activar"}, {"off", "no", "desactivar"}
_PAUSE, _RESUME = {"pause", "pausa", "pausar"}, {"resume", "reanudar", "seguir"}
_DAYS = {
    "every": DAYS["every"], "daily": DAYS["every"], "diario": DAYS["every"],
    "weekdays": DAYS["weekdays"], "entresemana": DAYS["weekdays"],
    "weekends": DAYS["weekends"], "finde": DAYS["weekends"],
}  # fmt: skip
_CLOCK = re.compile(r"^(\d{1,2})(?::(\d{2}))?(am|pm)?$")


class ReminderCommandError(ValueError):
    """A tips command that cannot be understood or is not allowed; one line for the patient."""


@dataclass(frozen=True)
class ReminderChange:
    """What a command changes; an empty change just asks for the current settings."""

    turn_on: tuple[TipCategory, ...] = field(default=())
    turn_off: tuple[TipCategory, ...] = field(default=())
    local_time: str | None = None
    weekdays: int | None = None
    zone: str | None = None
    paused: bool | None = None

    @property
    def empty(self) -> bool:
        """Say whether nothing changes."""
        return self == ReminderChange()


def _clock(text: str) -> str | None:
    match = _CLOCK.match(text.replace(".", ""))  # "6p.m." reads as 6pm
    if match is None:
        return None
    hours, minutes, half = int(match.group(1)), int(match.group(2) or 0), match.group(3)
    if half == "pm" and hours < 12:
        hours += 12
    if half == "am" and hours == 12:
        hours = 0
    if hours > 23 or minutes > 59:
        return None
    return f"{hours:02d}:{minutes:02d}"


def parse_tips_command(text: str, quiet: QuietHours) -> ReminderChange | None:
    """Read a whole-message tips command; None if the message is not one.

    Raises ReminderCommandError for a command it understood but cannot follow (a time at night,
    an unknown time zone), so the patient hears why. Anything else that merely starts with
    "tips" is not a command: it goes on to the FAQ like any question.
    """
    raw = text.strip()
    words = fold(raw).split()
    if not words or words[0] not in KEYWORDS:
        return None
    rest = raw.split(None, 1)[1].strip() if len(words) > 1 else ""
    args = words[1:]
    if not args:
        return ReminderChange()
    if args[0] in ("zone", "zona") and len(args) > 1:
        zone = known_zone(rest.split(None, 1)[1])
        if zone is None:
            raise ReminderCommandError("zone")
        return ReminderChange(zone=zone)
    if len(args) == 1 and args[0] in _PAUSE | _RESUME:
        return ReminderChange(paused=args[0] in _PAUSE)
    if len(args) == 1 and args[0] in _DAYS:
        return ReminderChange(weekdays=_DAYS[args[0]])
    clock = _clock(rest.lower().replace(" ", ""))
    if clock is not None:
        if quiet.start != quiet.end and _quiet_time(clock, quiet):
            raise ReminderCommandError("night")
        return ReminderChange(local_time=clock)
    switch = args[-1]
    names = args[:-1] or ["all"]
    if switch not in _ON | _OFF or any(name not in CATEGORY_WORDS for name in names):
        return None  # "tips for sciatica?" is a question for the FAQ, not a command
    chosen = tuple(
        dict.fromkeys(
            category
            for name in names
            for category in ([CATEGORY_WORDS[name]] if CATEGORY_WORDS[name] else list(TipCategory))
            if category is not None
        )
    )
    return ReminderChange(turn_on=chosen) if switch in _ON else ReminderChange(turn_off=chosen)


def _quiet_time(local_time: str, quiet: QuietHours) -> bool:
    at = parse_hhmm(local_time)
    if quiet.start < quiet.end:
        return quiet.start <= at < quiet.end
    return at >= quiet.start or at < quiet.end


async def apply_change(
    session: AsyncSession,
    patient: Patient,
    change: ReminderChange,
    *,
    actor: str,
    source: str,
    now: datetime,
    record_consent: bool,
) -> None:
    """Apply a change and audit it; turning tips on records consent when the patient asked."""
    for category in change.turn_on:
        await set_tip(session, patient.id, category, enabled=True, now=now)
    for category in change.turn_off:
        await set_tip(session, patient.id, category, enabled=False, now=now)
    if change.turn_on and record_consent:
        await set_consent(
            session, patient.id, ConsentCategory.TIPS, granted=True, source=source, now=now
        )
    if change.local_time is not None:
        await set_time(session, patient.id, change.local_time, now)
    if change.weekdays is not None:
        await set_days(session, patient.id, change.weekdays, now)
    if change.zone is not None:
        await change_zone(session, patient, change.zone, now)
    if change.paused is not None:
        patient.reminders_paused, patient.updated_at = change.paused, now
        await request_tip_replan(session, patient.id, now)
    if not change.empty:
        await audit(session, actor, "reminders.changed", now, target=f"patient:{patient.id}")


async def describe(
    session: AsyncSession,
    content: ContentStore,
    patient: Patient,
    lang: str,
    clinic_zone: str,
    now: datetime,
) -> str:
    """Return the patient's tips settings in one short plain-text message."""
    preferences = await preferences_of(session, patient.id, now=now)
    consented = (await consents_of(session, patient.id)).get(ConsentCategory.TIPS, False)
    on = [content.message(f"tip_{c}", lang).text for c, row in preferences.items() if row.enabled]
    any_row = next(iter(preferences.values()))
    days = next((name for name, mask in _DAYS.items() if mask == any_row.weekdays), "custom")
    key = "sms_tips_paused" if patient.reminders_paused else "sms_tips_summary"
    text = content.message(key, lang).sms
    values = {
        "{tips}": ", ".join(on)
        if on and consented
        else content.message("sms_tips_none", lang).sms,
        "{time}": any_row.local_time,
        "{days}": days,
        "{zone}": patient.timezone or clinic_zone,
    }
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text
