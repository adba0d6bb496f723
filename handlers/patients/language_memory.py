"""The patient's language: remembered once a message is clearly in one, changed on evidence."""

from __future__ import annotations

from content.language import detect_language
from handlers.patients.preferences import LANGUAGE_NAMES

__all__ = ["clear_language", "reply_language"]


def clear_language(text: str | None) -> str | None:
    """Return "en" or "es" when a message is clearly in that language, else None.

    Clear means the words decide it whichever way an undecided message would lean: "ok",
    "10" or "Maria" decide nothing, "hola" or "does it hurt" do.
    """
    if not text or not text.strip():
        return None
    leaning_en = detect_language(text, default="en")
    leaning_es = detect_language(text, default="es")
    return leaning_en if leaning_en == leaning_es else None


def reply_language(
    remembered: str | None, text: str | None, clear: str | None, *, keyword: bool = False
) -> str:
    """Return the language to reply in, and to remember, for a patient's message.

    `clear` is the message's clear language (`clear_language`, or "es" for a Spanish keyword
    such as SÍ or ALTO). The remembered language holds until a message is clearly in the
    other one: two or more words, or a Spanish keyword; one word ("gracias", "ok") is not a
    switch, as an English speaker thanks in Spanish too.
    """
    if remembered not in LANGUAGE_NAMES:
        return clear or "en"
    words = len((text or "").split())
    if clear is not None and clear != remembered and (keyword or words >= 2):
        return clear
    return remembered
