"""Understand a reply about an appointment ("C", "yes I'll be there", "can we move it?")."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from rapidfuzz import fuzz
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Appointment, AppointmentStatus
from content.text import LANGUAGES, stems, tokens
from handlers.staff.roles import audit

__all__ = [
    "PENDING_PREFIX",
    "AppointmentIntent",
    "apply_reply",
    "pending_appointment",
    "understand",
]

log = logging.getLogger(__name__)

PENDING_PREFIX = "appointment:"
# Typo tolerance for single long words ("confrim", "reschedual"); short words must match exactly.
_FUZZY_MIN_LENGTH = 5
_FUZZY_MIN_SCORE = 85.0


class AppointmentIntent(StrEnum):
    """What a reply to "please confirm your appointment" means."""

    CONFIRM = "confirm"
    RESCHEDULE = "reschedule"


_CODES = {"c": AppointmentIntent.CONFIRM, "r": AppointmentIntent.RESCHEDULE}
_MOVE, _DECLINE, _AGREE = "move", "decline", "agree"
# Phrases are stemmed with the same Snowball stemmers as the FAQ search, so "confirmed",
# "confirming" and "confirmo" all meet "confirm"; a phrase matches as consecutive stems.
_PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    _MOVE: {
        "en": (
            "reschedule", "move", "change", "postpone", "delay", "another day", "another time",
            "different day", "different time", "other day", "later", "earlier", "cancel",
            "switch", "push it",
        ),
        "es": (
            "reprogramar", "cambiar", "mover", "posponer", "aplazar", "otro dia", "otra hora",
            "otro horario", "mas tarde", "mas temprano", "cancelar",
        ),
    },
    _DECLINE: {
        "en": ("no", "nope", "cant", "cannot", "wont", "not able", "unable", "not going"),
        "es": ("no", "no puedo", "no podre", "no voy"),
    },
    _AGREE: {
        "en": (
            "confirm", "yes", "yeah", "yep", "yup", "sure", "ok", "okay", "definitely",
            "be there", "see you", "coming", "attend", "will make it", "sounds good",
        ),
        "es": (
            "confirmo", "confirmar", "si", "claro", "por supuesto", "de acuerdo", "vale",
            "ahi estare", "alli estare", "nos vemos", "asistire", "voy", "perfecto",
        ),
    },
}  # fmt: skip


def _stemmed(phrases: Sequence[str], lang: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(stems(phrase, lang)) for phrase in phrases)


_STEMMED = {
    signal: {lang: _stemmed(phrases, lang) for lang, phrases in by_lang.items()}
    for signal, by_lang in _PHRASES.items()
}
_FUZZY_WORDS = {
    signal: tuple(
        word
        for phrases in by_lang.values()
        for word in phrases
        if " " not in word and len(word) >= _FUZZY_MIN_LENGTH
    )
    for signal, by_lang in _PHRASES.items()
}


def _contains(words: Sequence[str], phrase: Sequence[str]) -> bool:
    size = len(phrase)
    return any(tuple(words[i : i + size]) == tuple(phrase) for i in range(len(words) - size + 1))


def _mentions(words: list[str], signal: str) -> bool:
    text = " ".join(words)
    for lang in LANGUAGES:
        message = stems(text, lang)
        if any(_contains(message, phrase) for phrase in _STEMMED[signal].get(lang, ())):
            return True
    return any(
        fuzz.ratio(word, candidate) >= _FUZZY_MIN_SCORE
        for word in words
        if len(word) >= _FUZZY_MIN_LENGTH
        for candidate in _FUZZY_WORDS[signal]
    )


def understand(text: str | None) -> AppointmentIntent | None:
    """Return whether a reply confirms or asks to reschedule, or None if it says neither.

    Asking to move wins over agreeing ("yes, but can we move it?"); a refusal ("I can't make
    it", "no puedo") asks to reschedule. A question ("is it ok to eat before?") is only read
    as a request to move; otherwise it is left for the FAQ.
    """
    words = tokens(text or "")
    if not words:
        return None
    if len(words) == 1 and words[0] in _CODES:
        return _CODES[words[0]]
    if _mentions(words, _MOVE):
        return AppointmentIntent.RESCHEDULE
    if "?" in (text or ""):
        return None
    if _mentions(words, _DECLINE):
        return AppointmentIntent.RESCHEDULE
    if _mentions(words, _AGREE):
        return AppointmentIntent.CONFIRM
    return None


def pending_appointment(pending_question: str | None) -> int | None:
    """Return the appointment id a pending question asks about ("appointment:12" -> 12)."""
    if pending_question is None or not pending_question.startswith(PENDING_PREFIX):
        return None
    ident = pending_question.removeprefix(PENDING_PREFIX)
    return int(ident) if ident.isdigit() else None


async def apply_reply(
    session: AsyncSession,
    *,
    patient_id: int,
    appointment_id: int,
    intent: AppointmentIntent,
    now: datetime,
) -> bool:
    """Confirm the appointment or record a request to move it; False if it is not theirs or over.

    A reschedule request leaves the booking as it is and goes to the audit log, where staff
    see it; the clinic moves visits itself.
    """
    appointment = await session.get(Appointment, appointment_id)
    if (
        appointment is None
        or appointment.patient_id != patient_id
        or appointment.status not in (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED)
        or appointment.starts_at <= now
    ):
        return False
    if intent is AppointmentIntent.CONFIRM:
        appointment.status, appointment.updated_at = AppointmentStatus.CONFIRMED, now
        action = "appointment.confirmed"
    else:
        action = "appointment.reschedule_requested"
        log.warning("reschedule requested: patient=%s appointment=%s", patient_id, appointment_id)
    await audit(session, f"patient:{patient_id}", action, now, f"appointment:{appointment_id}")
    return True
