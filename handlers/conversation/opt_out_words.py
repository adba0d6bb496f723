"""Opt-outs in words ("please stop texting me", "ya no me manden mensajes"), English and Spanish.

STOP and its carrier-standard synonyms are whole-message keywords
(handlers.conversation.sms_keywords). A patient who writes a sentence instead must not be
answered as if they had asked a question:
a clear request to stop the texts is a STOP; one that might mean only some messages ("stop the
reminders") or asks how ("how do I unsubscribe?") is answered with how to stop. A sentence
about anything else ("should I stop taking ibuprofen?") is neither.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from content.text import fold

__all__ = ["OptOut", "OptOutRequest", "opt_out_request"]


class OptOut(StrEnum):
    """How sure we are that a sentence asks to stop the texts."""

    CLEAR = "clear"  # treat as STOP
    UNSURE = "unsure"  # answer with how to stop


@dataclass(frozen=True)
class OptOutRequest:
    """A sentence read as an opt-out: how sure, and in which language it was written."""

    kind: OptOut
    lang: str


# Texts as such (all of them), and kinds of message (some of them).
_ALL = r"(?:texts?|texting|messages?|messaging|msgs?|sms|textos?|mensajes?)"
_SOME = (
    r"(?:reminders?|tips?|notifications?|alerts?|announcements?|nudges?|news|promotions?"
    r"|recordatorios?|consejos?|notificaciones|avisos?|anuncios?)"
)
# A whole message of one stop word and politeness ("stop please", "alto por favor").
_STOP_WORD = frozenset("stop stopall unsubscribe unsub optout revoke alto parar".split())
_FILLER = frozenset(
    "please pls plz now me it all thanks thank you thx ok okay asap already right "
    "por favor gracias ya ahora todo todos".split()
)
_CLEAR = {
    "en": [
        r"\bstop (?:sending|texting|messaging|contacting)(?: me)?"
        rf"(?: (?:the |these |your )?{_ALL})?\b",
        rf"\bstop (?:the |these |those |your |all |all the |all these )?{_ALL}\b",
        rf"\bno more {_ALL}\b",
        r"\b(?:dont|do not|never) (?:text|txt|message|sms|contact) me\b",
        rf"\bdont want (?:any |any more |anymore |more |your |these |the )*{_ALL}\b",
        rf"\bdo not want (?:any |any more |anymore |more |your |these |the )*{_ALL}\b",
        r"\bunsubscribe me\b",
        r"\bopt me out\b",
        r"\b(?:take|remove) me off\b",
        r"\bremove me from (?:the |your |ur |this |you guys |yall )?(?:list|texts|messages)\b",
    ],
    "es": [
        r"\bya no me (?:manden|mande|envien|envie|escriban|escriba|contacten|textee|texteen)\b",
        rf"\bno me (?:manden|mande|envien|envie|escriban|escriba) (?:mas )?{_ALL}\b",
        r"\bno me (?:manden|mande|envien|envie|escriban|escriba) mas\b",
        rf"\bno (?:quiero|deseo) (?:recibir )?(?:mas |ningun |ninguno |ningunos )?{_ALL}\b",
        rf"\bno mas {_ALL}\b",
        r"\bdej(?:en|e|a) de (?:mandarme|enviarme|escribirme|textearme|contactarme)\b",
        rf"\bdej(?:en|e|a) de (?:mandar|enviar|escribir)(?:me)? {_ALL}\b",
        r"\b(?:darme|dame|denme|deme|me doy) de baja\b",
    ],
}
_CLEAR_RE = {lang: [re.compile(p) for p in patterns] for lang, patterns in _CLEAR.items()}
# Words that make a clear pattern only partial when they follow it ("stop sending me tips").
_PARTIAL_AFTER = re.compile(rf"^(?: me)?(?: (?:the|these|your|any|appointment|mas))* {_SOME}\b")
_NEGATED = re.compile(r"\b(?:dont|do not|never|no|not) (?:\w+ )?$")
# Only these words may stand between "stop" and the messages: "how do I stop pain? any tips"
# is about pain.
_BETWEEN = (
    r"(?: (?:the|these|those|your|all|my|sending|send|getting|receiving|me|any|more|of|de|daily"
    r"|appointment|los|las|mis|sus|enviar|mandar|recibir|citas?))*"
)
# Asking about stopping, or stopping some messages: answer with how to stop them all.
_UNSURE = re.compile(
    r"\b(?:unsubscribe|unsub|opt out|optout|darme de baja|dar de baja|de baja|desuscribir\w*"
    r"|cancelar (?:la )?suscripcion)\b"
    r"|\b(?:stop|stopping|parar|paren|pare|dejen de|deje de|no more|no mas|ya no)"
    rf"{_BETWEEN} (?:{_ALL}|{_SOME})\b"
    rf"|\b{_ALL}(?: \w+){{0,2}} (?:stop|parar|paren)\b"
)
_QUESTION_START = re.compile(
    r"^(?:why|when|did|does|do(?! not)|how|what|is|are|should|por que|porque|cuando|como|que"
    r"|debo)\b"
)
_POLITE_START = re.compile(r"^(?:can|could|would|will) you\b|^(?:pueden|puede|podrian|podria)\b")
_SPANISH = re.compile(
    r"\b(?:mas|mensajes?|textos?|baja|dejen|deje|quiero|favor|recordatorios?|consejos?|ya"
    r"|manden|envien|paren|parar|suscripcion|desuscribir\w*|avisos?|anuncios?)\b"
)


def _lang(folded: str) -> str:
    return "es" if _SPANISH.search(folded) else "en"


def opt_out_request(text: str | None) -> OptOutRequest | None:
    """Read a sentence as a request to stop the texts: clear, unsure, or None if it is not one."""
    if not text:
        return None
    folded = fold(text)
    words = folded.split()
    if not words:
        return None
    stop_words = [w for w in words if w in _STOP_WORD]
    if stop_words and all(w in _STOP_WORD or w in _FILLER for w in words):
        lang = "es" if {"alto", "parar", "por", "favor", "gracias"} & set(words) else "en"
        return OptOutRequest(OptOut.CLEAR, lang)
    asked = "?" in text or bool(_QUESTION_START.match(folded))
    polite = bool(_POLITE_START.match(folded))
    for lang, patterns in _CLEAR_RE.items():
        for pattern in patterns:
            match = pattern.search(folded)
            if match is None or _NEGATED.search(folded[: match.start()]):
                continue
            if _PARTIAL_AFTER.match(folded[match.end() :]) or (asked and not polite):
                return OptOutRequest(OptOut.UNSURE, lang)
            return OptOutRequest(OptOut.CLEAR, lang)
    unsure = _UNSURE.search(folded)
    if unsure is not None and not _NEGATED.search(folded[: unsure.start()]):
        return OptOutRequest(OptOut.UNSURE, _lang(folded))
    return None
