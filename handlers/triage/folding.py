"""How triage reads a word: spellings folded into one, typos corrected, stems and sounds as keys.

A word is read once and its reading cached on the rules with the phrases it can start and the
phrases it can be the second word of (see `Reading`).
"""

from __future__ import annotations

import re

from rapidfuzz import process
from rapidfuzz.distance import OSA

from content.text import sounds_like, stem
from handlers.triage.model import LANGS, MANY, NUM, YEAR, Key, Reading, RedFlagRules, Rewrites

__all__ = ["FUZZY_MIN", "SOUND_MIN", "read_word", "rewrite", "sound_key"]

FUZZY_MIN = 5  # shortest word that is typo-corrected
SOUND_MIN = 5  # shortest word matched by how it sounds
_REPEAT = re.compile(r"(\w)\1{2,}")  # a letter typed three or more times: "numbbbb"
_SWAP_OK, _TWO_EDITS = 8, 10  # typo lengths: a wrong letter, two slips
_CACHE_MAX = 100_000


def sound_key(word: str) -> Key:
    """Return the match key of a word by how Spanish spelling sounds it."""
    return ("s", sounds_like(word))


def rewrite(words: list[str], rewrites: Rewrites) -> list[str]:
    """Fold alternative spellings into one: "cannot" and "unable to" become "cant"."""
    out: list[str] = []
    while words:
        source, target = next(
            ((s, t) for s, t in rewrites.get(words[0], ()) if tuple(words[: len(s)]) == s),
            ((words[0],), (words[0],)),
        )
        out += target
        words = words[len(source) :]
    return out


def read_word(word: str, rules: RedFlagRules) -> Reading:
    """Return how triage reads a folded word: typo corrected, its keys, the phrases it is in."""
    hit = rules.cache.get(word)
    if hit is None:
        fixed = _correct(word, rules)
        keys = {("w", fixed), *((lang, stem(fixed, lang)) for lang in LANGS)}
        keys |= {sound_key(word), sound_key(fixed)} if len(word) >= SOUND_MIN else set()
        if word.isdigit():
            keys |= {NUM, YEAR} if len(word) == 4 and word[:2] in {"19", "20"} else {NUM}
            keys |= {MANY} if 6 <= int(word) <= 999 else set()
        for other in rules.also.get(fixed, ()):  # "she cut herself" reads like "I cut myself"
            keys |= read_word(other, rules).keys
        starts = {p: None for key in keys for p in rules.index.get(key, ())}
        seconds = frozenset().union(*(rules.second.get(key, ()) for key in keys))
        hit = Reading(
            fixed,
            frozenset(keys),
            tuple(p for p in starts if len(p.slots) == 1),
            frozenset(p for p in starts if len(p.slots) > 1),
            seconds,
        )
        if len(rules.cache) > _CACHE_MAX:
            rules.cache.clear()
        rules.cache[word] = hit
    return hit


def _correct(word: str, rules: RedFlagRules) -> str:
    """Return the rule word a likely typo stands for, or the word itself."""
    for short in (_REPEAT.sub(r"\1\1", word), _REPEAT.sub(r"\1", word)):
        if short != word and short in rules.known:
            return short
    if len(word) < FUZZY_MIN or not word.isalpha() or word in rules.known:
        return word
    limit = 1 if len(word) < _TWO_EDITS else 2
    choices = rules.vocab.get(word[0], ())
    for target, _, _ in process.extract(word, choices, scorer=OSA.distance, score_cutoff=limit):
        # A wrong letter in a short word is often another word: "worse" is not "worst".
        if len(word) >= _SWAP_OK or len(target) != len(word) or sorted(target) == sorted(word):
            return str(target)
    return word
