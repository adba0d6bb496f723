"""Flag emergencies, crises and urgent problems in patient messages before any FAQ answer.

The rules are data (content/red_flags.yaml), loaded and compiled by handlers.triage_rules; this
module reads a message (typos, rewrites, phrase matches) and decides which rule fires.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rapidfuzz import process
from rapidfuzz.distance import OSA

from content.text import stem, tokens
from handlers.triage_rules import (
    FUZZY_MIN,
    LANGS,
    MANY,
    NUM,
    SOUND_MIN,
    YEAR,
    Category,
    Modifier,
    Phrase,
    Reading,
    RedFlagRules,
    Rule,
    load_red_flag_rules,
    rewrite,
    sound_key,
)

__all__ = [
    "Category",
    "RedFlag",
    "RedFlagRules",
    "Scan",
    "blocked",
    "fires",
    "load_red_flag_rules",
    "scan",
    "triage",
]


@dataclass(frozen=True)
class RedFlag:
    """A red flag found in a patient message."""

    category: Category
    rule: str  # the rule id that fired, e.g. "cauda_equina.saddle_numbness"
    # The message key of the safety reply ("" means red_flag_<category>); not part of equality.
    reply: str = field(default="", compare=False)

    @property
    def message_key(self) -> str:
        """Return the key of the message that answers this red flag."""
        return self.reply or f"red_flag_{self.category}"


_SPLIT = re.compile(r"([.!?;:\n\r]+|,)")  # sentence ends stop cues; commas keep lists going
_REPEAT = re.compile(r"(\w)\1{2,}")  # a letter typed three or more times: "numbbbb"
_MAX_GAP = 3  # filler words allowed between the words of a phrase: "can't feel MY legs"
_SWAP_OK, _TWO_EDITS = 8, 10  # typo lengths: a wrong letter, two slips
_Occ = tuple[int, int, Phrase]  # first word, word after the last, phrase
_PUNCT = Reading("", frozenset(), (), frozenset(), frozenset())


def _read(word: str, rules: RedFlagRules) -> Reading:
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
            keys |= _read(other, rules).keys
        starts = {p: None for key in keys for p in rules.index.get(key, ())}
        seconds = frozenset().union(*(rules.second.get(key, ()) for key in keys))
        hit = Reading(
            fixed,
            frozenset(keys),
            tuple(p for p in starts if len(p.slots) == 1),
            frozenset(p for p in starts if len(p.slots) > 1),
            seconds,
        )
        if len(rules.cache) > 100_000:
            rules.cache.clear()
        rules.cache[word] = hit
    return hit


def _correct(word: str, rules: RedFlagRules) -> str:
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


@dataclass(frozen=True)
class Scan:
    """A message read for triage: its words, the concepts found and the modifier cues."""

    words: list[str]  # folded, rewritten words; "." and "," stand for punctuation
    found: dict[str, list[_Occ]]  # phrase matches by owner
    cues: dict[str, list[_Occ]]  # modifier cues that are not inside a longer matched phrase


def scan(text: str, rules: RedFlagRules) -> Scan:
    """Read a message: fold and correct its words, find every concept and modifier cue."""
    words: list[str] = []
    for chunk in _SPLIT.split(text):
        if _SPLIT.fullmatch(chunk):
            words.append("," if chunk == "," else ".")
        elif chunk:
            words += rewrite([_read(word, rules).word for word in tokens(chunk)], rules.rewrites)
    read = [_read(word, rules) if word not in ".," else _PUNCT for word in words]
    toks = [r.keys for r in read]
    found: dict[str, list[_Occ]] = {}
    for i, reading in enumerate(read):
        for phrase in reading.singles:
            found.setdefault(phrase.owner, []).append((i, i + 1, phrase))
        # Only longer phrases whose second word is next (past a few fillers) can match here.
        j, nexts = i + 1, frozenset[Phrase]()
        while j < len(read) and j <= i + 1 + _MAX_GAP:
            nexts |= read[j].seconds
            if words[j] not in rules.fillers and words[j] != ",":
                break
            j += 1
        for phrase in reading.starts & nexts if nexts else ():
            j = i + 1
            for slot in phrase.slots[1:]:
                gap = 0  # skip filler words and commas: "red, hot and swollen"
                while j < len(toks) and slot.isdisjoint(toks[j]) and gap < _MAX_GAP:
                    if words[j] not in rules.fillers and words[j] != ",":
                        break
                    gap, j = gap + 1, j + 1
                if j == len(toks) or slot.isdisjoint(toks[j]):
                    break
                j += 1
            else:
                found.setdefault(phrase.owner, []).append((i, j, phrase))
    spans = [(o[0], o[1]) for owner, occs in found.items() if owner[0] != "~" for o in occs]
    cues: dict[str, list[_Occ]] = {}
    for owner, occs in found.items():
        voids = found.get(owner + "!unless", []) if owner[0] == "~" else []
        for c in occs if owner[0] == "~" else ():
            inside = any(a <= c[0] and c[1] <= b and b - a > c[1] - c[0] for a, b in spans)
            # "never had a headache LIKE THIS" is not a denial
            void = any(0 <= v[0] - c[1] <= 8 and "." not in words[c[1] : v[0]] for v in voids)
            if not inside and not void:
                cues.setdefault(owner[1:], []).append(c)
    return Scan(words, found, cues)


def blocked(occ: _Occ, mod: Modifier, scan: Scan) -> bool:
    """Return whether a cue of this modifier is close enough to cancel one concept's place."""
    if mod.name in occ[2].immune:
        return False
    for first, end, _ in scan.cues.get(mod.name, ()):
        if mod.reach != "after" and first < occ[0] and occ[0] - end <= mod.window:
            between = scan.words[end : occ[0]]  # "no, I can't ..." answers; it does not negate
            answer = mod.comma_answers and between[:1] == [","]
            if not answer and mod.breaks.isdisjoint(between):
                return True
        after = mod.reach != "before" and occ[1] <= first and first - occ[1] <= mod.window
        if after and mod.breaks.isdisjoint(scan.words[occ[1] : first]):
            return True
    return False


def _enough(pattern: tuple[str, ...], live: list[list[_Occ]]) -> bool:
    """Each term has a live place; a term named twice ("SIGN + SIGN") needs two apart."""
    for owner, occs in zip(pattern, live, strict=True):
        apart, end = 0, -1
        for first, last in sorted((o[0], o[1]) for o in occs):
            if first >= end:
                apart, end = apart + 1, last
        if apart < pattern.count(owner):
            return False
    return True


def fires(rule: Rule, scan: Scan) -> bool:
    """Return whether any of a rule's patterns has all its concepts alive within its reach."""
    found = scan.found.keys()
    patterns = [p for p, terms in zip(rule.patterns, rule.terms, strict=True) if terms <= found]
    excepted = scan.found.get(rule.id + "!except", []) if patterns else []
    for pattern in patterns:
        live = [
            [
                o
                for o in scan.found[owner]
                if not any(e[0] < o[1] and o[0] < e[1] for e in excepted)
                and not any(blocked(o, mod, scan) for mod in rule.modifiers)
            ]
            for owner in pattern
        ]
        if not _enough(pattern, live):
            continue
        if rule.within is None:
            return True
        for start in (occ[0] for occs in live for occ in occs):
            end = start + (rule.within or 0)
            if all(any(start <= o[0] and o[1] <= end for o in occs) for occs in live):
                return True
    return False


def triage(text: str, rules: RedFlagRules) -> RedFlag | None:
    """Return the most severe red flag in a patient message, or None."""
    found = scan(text, rules)
    return next((RedFlag(r.category, r.id, r.reply) for r in rules.rules if fires(r, found)), None)
