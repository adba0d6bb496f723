"""Understand a 0-10 pain score in a patient's reply ("7", "about a 6/10", "seis") and keep it."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import PainScore
from content.text import fold

__all__ = ["PENDING_PREFIX", "parse_pain_score", "record_pain_score"]

PENDING_PREFIX = "pain_score:"
_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "cero": 0, "uno": 1, "dos": 2, "tres": 3,
    "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8, "nueve": 9, "diez": 10,
}  # fmt: skip
_OUT_OF_TEN = re.compile(r"\b(\d{1,2})\s*(?:/|out of|of|de)\s*10\b")
MAX_WORDS = 12  # a long message is a question or a story, not a score
# "one question" is not a score: a number written as a word counts only in a very short reply.
MAX_WORDS_FOR_WORD_NUMBERS = 3


def parse_pain_score(text: str) -> int | None:
    """Return the one 0-10 score a short reply gives, or None if it gives none or several."""
    folded = fold(_OUT_OF_TEN.sub(r"\1", text.casefold()))
    words = folded.split()
    if not words or len(words) > MAX_WORDS:
        return None
    found = [int(word) for word in words if word.isdigit()]
    if len(words) <= MAX_WORDS_FOR_WORD_NUMBERS:
        found += [_WORDS[word] for word in words if word in _WORDS]
    if len(found) != 1 or not 0 <= found[0] <= 10:
        return None
    return found[0]


async def record_pain_score(
    session: AsyncSession, patient_id: int, appointment_id: int | None, score: int, now: datetime
) -> None:
    """Keep a patient's pain score for staff to see."""
    session.add(
        PainScore(
            patient_id=patient_id, appointment_id=appointment_id, score=score, recorded_at=now
        )
    )
