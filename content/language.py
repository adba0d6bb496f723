"""Tell whether a short patient message is in English or Spanish."""

from __future__ import annotations

import math

from content.search import general_frequencies
from content.stopwords import LANGUAGE_MARKERS, LANGUAGE_NEUTRAL
from content.text import tokens

__all__ = ["detect_language"]

# Characters only Spanish uses; each counts like one marker word.
_SPANISH_CHARACTERS = frozenset("ñ¿¡áéíóú")
_EN_ONLY = LANGUAGE_MARKERS["en"] - LANGUAGE_MARKERS["es"]
_ES_ONLY = LANGUAGE_MARKERS["es"] - LANGUAGE_MARKERS["en"]
# Below this a word is treated as unseen in that language's everyday word list.
_FLOOR = 1e-8
# Without marker words, the message must be this many times likelier (log10) in one language.
_MIN_LIKELIHOOD_RATIO = 1.0


def detect_language(text: str, default: str = "en") -> str:
    """Return "en" or "es" for a message, or default when it gives no evidence either way."""
    words = [w for w in tokens(text) if w not in LANGUAGE_NEUTRAL and not w.isdigit()]
    english = sum(w in _EN_ONLY for w in words)
    spanish = sum(w in _ES_ONLY for w in words)
    spanish += sum(ch in _SPANISH_CHARACTERS for ch in text.casefold())
    if english != spanish:
        return "es" if spanish > english else "en"
    # No marker decides ("atienden ninos?"): compare everyday word frequencies instead.
    en_words, _ = general_frequencies("en")
    es_words, _ = general_frequencies("es")
    ratio = sum(
        math.log10(max(es_words.get(w, 0.0), _FLOOR) / max(en_words.get(w, 0.0), _FLOOR))
        for w in words
    )
    if abs(ratio) >= _MIN_LIKELIHOOD_RATIO:
        return "es" if ratio > 0 else "en"
    return default if default in ("en", "es") else "en"
