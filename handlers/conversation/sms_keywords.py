"""SMS keywords (STOP, START, YES, HELP) and the shape of automated SMS text; no channel code."""

from __future__ import annotations

import re
from enum import StrEnum

from content.sms import count_segments, to_sms_text
from content.text import fold

__all__ = [
    "HELP_WORDS",
    "MAX_AUTOMATED_SEGMENTS",
    "START_WORDS",
    "STOP_WORDS",
    "YES_WORDS",
    "Keyword",
    "classify",
    "fit_automated",
    "keyword_language",
]

# The carrier-standard opt-out set (CTIA; Twilio honours the same words), plus Spanish.
STOP_WORDS = frozenset("stop stopall unsubscribe cancel end quit optout revoke alto parar".split())
START_WORDS = frozenset("start unstop".split())
YES_WORDS = frozenset("yes si".split())  # "SÍ" folds to "si"
HELP_WORDS = frozenset("help info ayuda".split())
_SPANISH = frozenset("alto parar si ayuda".split())
MAX_AUTOMATED_SEGMENTS = 2
_ELLIPSIS = "..."
_MENTIONS_STOP = re.compile(r"\bSTOP\b")


class Keyword(StrEnum):
    """A whole-message keyword with a fixed meaning at the carrier or for the bot."""

    STOP = "stop"
    START = "start"
    YES = "yes"
    HELP = "help"


def _word(text: str) -> str | None:
    # Whole message only: "stop" is a keyword, "please stop the reminders" is a sentence.
    folded = fold(text)
    return folded if folded and " " not in folded else None


def classify(text: str | None) -> Keyword | None:
    """Return the keyword a message is, ignoring case, accents, spaces and punctuation."""
    word = _word(text or "")
    if word is None:
        # "opt out", "OPT-OUT", "stop all": honour an opt-out however it is spaced.
        joined = fold(text or "").replace(" ", "")
        return Keyword.STOP if joined in STOP_WORDS else None
    if word in STOP_WORDS:
        return Keyword.STOP
    if word in START_WORDS:
        return Keyword.START
    if word in YES_WORDS:
        return Keyword.YES
    if word in HELP_WORDS:
        return Keyword.HELP
    return None


def keyword_language(text: str | None) -> str | None:
    """Return "es" for a Spanish keyword (ALTO, PARAR, SÍ, AYUDA), "en" for another, else None."""
    if classify(text) is None:
        return None
    return "es" if fold(text or "").replace(" ", "") in _SPANISH else "en"


def _fits(text: str) -> bool:
    return count_segments(text).count <= MAX_AUTOMATED_SEGMENTS


def _shorten(body: str, room: int) -> str:
    """Cut `body` at a word boundary so that it plus an ellipsis is at most `room` characters."""
    cut = body[: max(room - len(_ELLIPSIS), 0)]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:.-") + _ELLIPSIS


def fit_automated(body: str, *, clinic_name: str, opt_out: str) -> str:
    """Return automated SMS text: clinic name first, the opt-out line last, within 2 segments.

    The body is shortened at a word boundary when the whole would need a third segment; the
    clinic name and the opt-out line are never cut.
    """
    text = to_sms_text(body)
    prefix = "" if clinic_name.casefold() in text.casefold() else f"{clinic_name}: "
    # Any "... STOP ..." line already tells the patient how to opt out; never say it twice.
    suffix = "" if _MENTIONS_STOP.search(text) else f" {opt_out}"
    whole = f"{prefix}{text}{suffix}"
    if _fits(whole):
        return whole
    low, high = 0, len(text)
    # Binary search for the longest body that fits: UCS-2 and extension characters make the
    # cost per character uneven, so a plain length budget would be wrong.
    while low < high:
        mid = (low + high + 1) // 2
        if _fits(f"{prefix}{_shorten(text, mid)}{suffix}"):
            low = mid
        else:
            high = mid - 1
    return f"{prefix}{_shorten(text, low)}{suffix}"
