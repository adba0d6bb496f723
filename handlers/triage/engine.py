"""Find the red flag in a patient message: read its words, find concepts, apply the rules.

The rules are data (content/red_flags.yaml) compiled by handlers.triage.loading; words are read by
handlers.triage.folding and concepts cancelled by the cues of handlers.triage.modifiers. The most
severe rule that fires is the answer (rules are ordered by category, then file order).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from content.text import tokens
from handlers.triage.folding import read_word, rewrite
from handlers.triage.model import Category, Modifier, Phrase, Reading, RedFlagRules, Rule
from handlers.triage.modifiers import Occurrence, is_cancelled, live_cues

__all__ = ["RedFlag", "Scan", "blocked", "fires", "scan", "triage"]


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
_MAX_GAP = 3  # filler words allowed between the words of a phrase: "can't feel MY legs"
_PUNCT = Reading("", frozenset(), (), frozenset(), frozenset())


@dataclass(frozen=True)
class Scan:
    """A message read for triage: its words, the concepts found and the modifier cues."""

    words: list[str]  # folded, rewritten words; "." and "," stand for punctuation
    found: dict[str, list[Occurrence]]  # phrase matches by owner
    cues: dict[str, list[Occurrence]]  # modifier cues that are not inside a longer matched phrase


def scan(text: str, rules: RedFlagRules) -> Scan:
    """Read a message: fold and correct its words, find every concept and modifier cue."""
    words: list[str] = []
    for chunk in _SPLIT.split(text):
        if _SPLIT.fullmatch(chunk):
            words.append("," if chunk == "," else ".")
        elif chunk:
            said = [read_word(word, rules).word for word in tokens(chunk)]
            words += rewrite(said, rules.rewrites)
    read = [read_word(word, rules) if word not in ".," else _PUNCT for word in words]
    toks = [r.keys for r in read]
    found: dict[str, list[Occurrence]] = {}
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
    return Scan(words, found, live_cues(found, words))


def blocked(occ: Occurrence, mod: Modifier, scan: Scan) -> bool:
    """Return whether a cue of this modifier is close enough to cancel one concept's place."""
    return is_cancelled(occ, mod, scan.cues, scan.words)


def _enough(pattern: tuple[str, ...], live: list[list[Occurrence]]) -> bool:
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
                and not any(is_cancelled(o, mod, scan.cues, scan.words) for mod in rule.modifiers)
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
