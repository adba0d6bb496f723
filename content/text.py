"""Normalise patient text for matching: case, accents, punctuation, tokens and stems."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import snowballstemmer

__all__ = ["LANGUAGES", "fold", "sounds_like", "stem", "stems", "tokens"]

LANGUAGES = ("en", "es")
_STEMMER_NAMES = {"en": "english", "es": "spanish"}
# Apostrophes inside words are dropped ("don't" -> "dont") so contractions stay one token.
_APOSTROPHES = re.compile(r"['\u2019\u2018`\u00b4]")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def fold(text: str) -> str:
    """Lower-case, strip accents and punctuation, and collapse white space."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    bare = _APOSTROPHES.sub("", bare)
    return _NON_WORD.sub(" ", bare).strip()


def tokens(text: str) -> list[str]:
    """Split text into folded word tokens."""
    folded = fold(text)
    return folded.split() if folded else []


@lru_cache(maxsize=2)
def _stemmer(lang: str) -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer(_STEMMER_NAMES.get(lang, "english"))


@lru_cache(maxsize=65536)
def stem(word: str, lang: str) -> str:
    """Return the Snowball stem of one folded word."""
    result: str = _stemmer(lang).stemWord(word)
    return result


_SOUNDS = (  # Spanish spellings that sound alike, folded to one: "ampoyas" = "ampollas"
    (re.compile(r"ch"), "\x00"),  # kept whole: the "h" of "ch" is not silent
    (re.compile(r"ll"), "y"),
    (re.compile(r"qu(?=[ei])"), "k"),
    (re.compile(r"c(?=[ei])"), "s"),
    (re.compile(r"g(?=[ei])"), "j"),
    (re.compile(r"[cq]"), "k"),
    (re.compile(r"v"), "b"),
    (re.compile(r"z"), "s"),
    (re.compile(r"h"), ""),
    (re.compile(r"\x00"), "ch"),
    (re.compile(r"(.)\1+"), r"\1"),
    (re.compile(r"y$"), "i"),
)


@lru_cache(maxsize=65536)
def sounds_like(word: str) -> str:
    """Return a folded word as Spanish spelling sounds it (b/v, y/ll, silent h, c/k/qu, s/z)."""
    for pattern, repl in _SOUNDS:
        word = pattern.sub(repl, word)
    return word


def stems(text: str, lang: str) -> list[str]:
    """Fold, tokenise and stem text in the given language."""
    return [stem(word, lang) for word in tokens(text)]
