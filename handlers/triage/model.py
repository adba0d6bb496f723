"""The compiled red-flag rules: categories, phrases, modifiers, rules and word readings."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "LANGS",
    "MANY",
    "NUM",
    "YEAR",
    "Category",
    "Key",
    "Modifier",
    "Phrase",
    "Reading",
    "RedFlagRules",
    "Rewrites",
    "Rule",
]


class Category(StrEnum):
    """Red-flag categories, most severe first."""

    EMERGENCY = "emergency"
    CRISIS = "crisis"
    URGENT = "urgent"
    CHECK = "check"  # a present symptom no rule above names: a careful word, then the answer


LANGS = ("en", "es")
Key = tuple[str, str]  # ("w", word), ("en"|"es", stem), ("s", Spanish sound) or a number slot
NUM, YEAR = ("#", ""), ("#", "year")  # any number; a year from 1900 to 2099
MANY = ("#", "many")  # a number from 6 to 999: "took 15 tylenol", not "took 2 advil"
# Spellings folded into one, by first word: (words said, words read) longest first.
Rewrites = dict[str, tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]]


@dataclass(frozen=True, eq=False)
class Phrase:
    """A compiled phrase: a sequence of word slots, each a set of keys that may fill it."""

    slots: tuple[frozenset[Key], ...]
    owner: str  # a TERM, "~modifier" for its cues, or "rule.id!except"
    immune: frozenset[str]  # modifiers it starts with a cue of: "can't walk" is not negated


@dataclass(frozen=True)
class Modifier:
    """A kind of cue (negation, past, ...) that cancels a symptom near it."""

    name: str
    reach: str  # "before", "after" or "both": where the cue sits relative to the symptom
    window: int  # words allowed between cue and symptom
    breaks: frozenset[str]  # words that end the cue's clause
    # A comma right after the cue makes it an answer ("no, I can't feel my legs"), not a cue;
    # false for a cue that frames a whole sentence ("hypothetically, if someone...").
    comma_answers: bool = True


@dataclass(frozen=True)
class Rule:
    """One red-flag rule: any pattern of terms fires it unless a modifier cancels it."""

    id: str
    category: Category
    patterns: tuple[tuple[str, ...], ...]  # terms that must all match, within `within` words
    within: int | None  # None: anywhere in the message
    modifiers: tuple[Modifier, ...]
    reply: str  # the message key of the safety reply, e.g. "red_flag_poisoning"
    note: str = ""  # for reviewers and `clinicbot triage explain`
    examples: tuple[tuple[str, str], ...] = ()  # (language, message) that must fire this rule
    terms: tuple[frozenset[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Each pattern's terms as a set: a rule is skipped at once when one is not found.
        object.__setattr__(self, "terms", tuple(frozenset(p) for p in self.patterns))


@dataclass(frozen=True)
class Reading:
    """How triage reads one word: corrected, its match keys, and the phrases it may be in."""

    word: str  # the word with any likely typo corrected
    keys: frozenset[Key]
    singles: tuple[Phrase, ...]  # one-word phrases it matches
    starts: frozenset[Phrase]  # longer phrases it may start
    seconds: frozenset[Phrase]  # longer phrases it may be the second word of


@dataclass(frozen=True, eq=False, repr=False)
class RedFlagRules:
    """Parsed, compiled red-flag rules."""

    rules: tuple[Rule, ...]  # most severe category first, file order within one
    index: dict[Key, tuple[Phrase, ...]]  # phrases by the keys of their first word
    second: dict[Key, frozenset[Phrase]]  # phrases of two words or more by their second word
    fillers: frozenset[str]
    rewrites: Rewrites
    known: frozenset[str]  # words never typo-corrected
    vocab: dict[str, tuple[str, ...]]  # typo targets by first letter
    also: dict[str, tuple[str, ...]]  # words also read as others: "herself" as "myself"
    cache: dict[str, Reading] = field(default_factory=dict)  # word readings, by word
