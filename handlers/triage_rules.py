"""Load, check and compile the red-flag rules file (content/red_flags.yaml) for handlers.triage."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import yaml

from content.text import sounds_like, stem, tokens

__all__ = ["Category", "Reading", "RedFlagRules", "load_red_flag_rules"]


class Category(StrEnum):
    """Red-flag categories, most severe first."""

    EMERGENCY = "emergency"
    CRISIS = "crisis"
    URGENT = "urgent"
    CHECK = "check"  # a present symptom no rule above names: a careful word, then the answer


LANGS = ("en", "es")
_TERM = re.compile(r"[A-Z][A-Z0-9_]*")
_RULE_ID = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)+")
_WITHIN = 10  # default reach of a pattern, in words from its first part to its last
FUZZY_MIN = 5  # shortest word that is typo-corrected
SOUND_MIN = 5  # shortest word matched by how it sounds
Key = tuple[str, str]  # ("w", word), ("en"|"es", stem), ("s", Spanish sound) or a number slot
NUM, YEAR = ("#", ""), ("#", "year")  # any number; a year from 1900 to 2099
MANY = ("#", "many")
# libyaml's parser when PyYAML has it: the rule file is read on every start-up.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def sound_key(word: str) -> Key:
    """Return the match key of a word by how Spanish spelling sounds it."""
    return ("s", sounds_like(word))


# a number from 6 to 999: "took 15 tylenol", not "took 2 advil"
_SLOTS = {"<num>": NUM, "<year>": YEAR, "<many>": MANY}
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


@lru_cache(maxsize=65536)
def _words(text: str) -> tuple[str, ...]:
    """Return the folded words of a piece of rule text (rule files repeat their pieces)."""
    return tuple(tokens(text))


class _Text(str):  # YAML values that remember their line, for error messages
    line = 0


class _Map(dict[str, Any]):
    line = 0


class _List(list[Any]):
    line = 0


class _Loader:
    """Compile the rule file, reporting bad data as `file:line: message`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.phrases: dict[tuple[tuple[frozenset[Key], ...], str], Phrase] = {}
        self.cues: dict[str, set[Key]] = {}  # keys of one-word cues, by modifier
        self.words: set[str] = set()  # every word the rules use: never typo-corrected
        self.targets: set[str] = set()  # words of terms: what typos are corrected to
        self.rewrites: Rewrites = {}

    def check(self, ok: object, where: Any, message: str) -> None:
        if not ok:
            raise ValueError(f"{self.path}:{getattr(where, 'line', 1)}: {message}")

    def plain(self, node: yaml.Node) -> Any:
        out: _Map | _List | _Text
        if isinstance(node, yaml.MappingNode):
            out = _Map()
            for key_node, value in node.value:
                key = self.plain(key_node)
                self.check(key not in out, key, f"duplicate key {key!r}")
                out[key] = self.plain(value)
        elif isinstance(node, yaml.SequenceNode):
            out = _List(self.plain(item) for item in node.value)
        else:
            out = _Text(str(node.value).strip())
        out.line = node.start_mark.line + 1
        return out

    def fields(self, spec: Any, allowed: set[str] | None = None, needed: Any = ()) -> _Map:
        self.check(isinstance(spec, _Map), spec, "expected a mapping")
        missing, unknown = set(needed) - set(spec), set(spec) - (allowed or set(spec))
        self.check(not missing, spec, f"missing {sorted(missing)}")
        self.check(
            not unknown, spec, f"unknown {sorted(unknown)}, expected {sorted(allowed or ())}"
        )
        return cast(_Map, spec)

    def items(self, spec: Any, both: bool = True) -> list[tuple[str, _Text]]:
        """List (language, text) from a plain list or from `en:` and `es:` lists."""
        if isinstance(spec, _List):
            ok = spec and all(isinstance(i, _Text) and i for i in spec)
            self.check(ok, spec, "expected a non-empty list of texts")
            return [("", item) for item in spec]
        langs = self.fields(spec, set(LANGS), LANGS if both else ())
        self.check(langs, spec, "needs an en: or es: list")
        return [(lang, item) for lang in langs for _, item in self.items(langs[lang])]

    def word_set(self, spec: Any) -> set[str]:
        found = [(tokens(item), item) for _, item in self.items(spec)] if spec else []
        for words, item in found:
            self.check(len(words) == 1, item, f"expected one word, got {item!r}")
        return {words[0] for words, _ in found}

    def number(self, value: Any) -> int:
        self.check(isinstance(value, _Text) and value.isdigit(), value, "expected a number")
        return int(value)

    def keys(self, word: str, exact: bool, lang: str, owner: str) -> set[Key]:
        self.words.add(word)
        if _TERM.fullmatch(owner):
            self.targets.add(word)
        root = stem(word, lang)  # short stems overreach: Spanish "herirme" becomes "her"
        found = {("w", word) if exact or len(root) < 4 else (lang, root)}
        if not exact and len(root) < 4 and len(word) >= 3 and word.isalpha() and word[-1] != "s":
            # A short word matched by spelling still takes its plural: "rojo" is "rojos". Not
            # two-letter words: "mes" is not "me", "nos" is not "no".
            found |= {("w", word + "s"), ("w", word + "es")} if lang == "es" else set()
            found |= {("w", word + "s")} if lang == "en" and word[-1] != "y" else set()
        # Spanish written as it sounds: "ampoyas", "ventoza", "vajado". Short words are left out:
        # "doce" sounds like the English "dose".
        return found | {sound_key(word)} if lang == "es" and len(word) >= SOUND_MIN else found

    def phrase(self, text: _Text, lang: str, owner: str) -> Phrase:
        self.check(lang in LANGS, text, f"{text!r}: phrases go in en: and es: lists")
        slots: list[frozenset[Key]] = []
        for piece in text.split():
            found = [(alt[:1] == "=", list(_words(alt))) for alt in piece.split("|")]
            single = all(len(words) == 1 for _, words in found)
            ok = piece in _SLOTS or (all(w for _, w in found) and (single or len(found) == 1))
            self.check(ok, text, f"{piece!r}: alternatives a|b are single words")
            if piece in _SLOTS:
                slots.append(frozenset({_SLOTS[piece]}))
            elif len(found) > 1:
                slots.append(
                    frozenset(k for ex, w in found for k in self.keys(w[0], ex, lang, owner))
                )
            else:
                slots += [frozenset(self.keys(w, found[0][0], lang, owner)) for w in found[0][1]]
        said = [w for piece in text.split() for w in _words(piece.split("|")[0])]
        each = [[w] for w in _words(text.replace("|", " "))]
        stale = [words for words in [said, *each] if rewrite(words, self.rewrites) != words]
        self.check(not stale, text, f"{text!r} must use the rewritten spelling (see rewrites)")
        immune = frozenset(n for n, cue in self.cues.items() if not slots[0].isdisjoint(cue))
        return self.phrases.setdefault((tuple(slots), owner), Phrase(tuple(slots), owner, immune))

    def modifiers(self, spec: Any, breaks: set[str]) -> tuple[dict[str, Modifier], list[str]]:
        out: dict[str, Modifier] = {}
        default: list[str] = []
        for name, mod in self.fields(spec).items():
            keys = {"reach", "window", "default", "scope", "breaks", "unless", "comma", *LANGS}
            self.fields(mod, keys, LANGS)
            reach, scope = mod.get("reach", "before"), mod.get("scope", "clause")
            scopes = {"sentence": {"."}, "clause": breaks, "phrase": breaks | {","}}
            ok = reach in {"before", "after", "both"} and scope in scopes
            self.check(ok, mod, f"reach is before, after or both; scope is one of {set(scopes)}")
            ends = scopes[scope] | self.word_set(mod.get("breaks"))
            window = self.number(mod.get("window", _Text("5")))
            comma = mod.get("comma", "answers")
            self.check(comma in {"answers", "continues"}, mod, "comma: answers|continues")
            out[name] = Modifier(name, reach, window, frozenset(ends), comma == "answers")
            for lang, item in self.items(mod["unless"], both=False) if "unless" in mod else []:
                self.phrase(item, lang, f"~{name}!unless")
            for lang in LANGS:
                for _, item in self.items(mod[lang]):
                    cue = self.phrase(item, lang, "~" + name)
                    if len(cue.slots) == 1:
                        self.cues.setdefault(name, set()).update(cue.slots[0])
            self.check(mod.get("default", "true") in {"true", "false"}, mod, "default: true|false")
            default += [name] if mod.get("default", "true") == "true" else []
        return out, default

    def rule(self, spec: Any, category: Category, context: Any) -> Rule:
        terms, modifiers, default = context
        keys = {"id", "note", "match", "within", "modifiers", "except", "reply", "examples"}
        spec = self.fields(spec, keys, {"id", "match"})
        rule_id = spec["id"]
        self.check(_RULE_ID.fullmatch(rule_id), rule_id, f"rule id {rule_id!r} is not dotted")
        patterns = []
        for _, item in self.items(spec["match"]):
            patterns.append(tuple(part.strip() for part in item.split(" + ")))
            self.check(set(patterns[-1]) <= terms, item, f"unknown TERM in {item!r}")
        within = spec.get("within", _Text(_WITHIN))
        names = [n for _, n in self.items(spec["modifiers"])] if "modifiers" in spec else default
        self.check(all(n in modifiers for n in names), spec, f"unknown modifier in {names}")
        for lang, item in self.items(spec["except"], both=False) if "except" in spec else []:
            self.phrase(item, lang, rule_id + "!except")
        reach = None if within == "message" else self.number(within)
        reply = spec.get("reply", _Text(f"red_flag_{category}"))
        self.check(_TERM.fullmatch(reply.upper()), reply, f"reply {reply!r} is not a message key")
        examples = self.items(spec["examples"], both=False) if "examples" in spec else []
        return Rule(
            rule_id,
            category,
            tuple(patterns),
            reach,
            tuple(modifiers[n] for n in names),
            reply=str(reply),
            note=str(spec.get("note", "")),
            examples=tuple((lang, str(text)) for lang, text in examples),
        )


def load_red_flag_rules(path: Path) -> RedFlagRules:
    """Load, check and compile the red-flag rules in a YAML file."""
    load = _Loader(path)
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise ValueError(f"{path}:{line}: {exc.problem}") from exc
    sections = {"version", "fillers", "rewrites", "not_typos", "clause_breaks", "also_read_as"}
    needed = {"modifiers", "terms", "rules"}
    top = load.fields(load.plain(root) if root else None, sections | needed, needed)
    rewrites: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {}
    for target, sources in load.fields(top.get("rewrites", _Map())).items():
        for _, source in load.items(sources):
            said = tuple(tokens(source))
            rewrites.setdefault(said[0], []).append((said, tuple(tokens(target))))
    load.rewrites = {k: tuple(sorted(v, key=lambda r: -len(r[0]))) for k, v in rewrites.items()}
    breaks = load.word_set(top.get("clause_breaks")) | {"."}
    modifiers, default = load.modifiers(top["modifiers"], breaks)
    for name, term in load.fields(top["terms"]).items():
        load.check(_TERM.fullmatch(name), name, f"term {name!r}: term names are UPPER_CASE")
        for lang, item in load.items(term):
            load.phrase(item, lang, name)
    needed_categories = set(Category) - {Category.CHECK}  # the safety net is optional
    categories = load.fields(top["rules"], set(Category), needed_categories)
    for category in categories:
        load.check(isinstance(categories[category], _List), categories[category], "a rule list")
    context = (set(top["terms"]), modifiers, default)
    rules = [load.rule(r, c, context) for c in Category for r in categories.get(c, ())]
    load.check(len({r.id for r in rules}) == len(rules), top["rules"], "rule ids must be unique")
    index: dict[Key, list[Phrase]] = {}
    second: dict[Key, set[Phrase]] = {}
    for phrase in load.phrases.values():
        for key in phrase.slots[1] if len(phrase.slots) > 1 else ():
            second.setdefault(key, set()).add(phrase)
    for phrase in load.phrases.values():
        for first in phrase.slots[0]:
            index.setdefault(first, []).append(phrase)
    vocab: dict[str, list[str]] = {}
    for word in sorted(w for w in load.targets if len(w) >= FUZZY_MIN):
        vocab.setdefault(word[0], []).append(word)
    fillers, not_typos = load.word_set(top.get("fillers")), load.word_set(top.get("not_typos"))
    also: dict[str, set[str]] = {}
    for reading, said in load.fields(top.get("also_read_as", _Map())).items():
        load.check(len(tokens(reading)) == 1, reading, f"expected one word, got {reading!r}")
        for word in load.word_set(said):
            also.setdefault(word, set()).add(tokens(reading)[0])
    spelled = {w for pairs in load.rewrites.values() for pair in pairs for w in pair[0] + pair[1]}
    return RedFlagRules(
        rules=tuple(rules),
        index={k: tuple(v) for k, v in index.items()},
        second={k: frozenset(v) for k, v in second.items()},
        fillers=frozenset(fillers),
        rewrites=load.rewrites,
        known=frozenset(load.words | fillers | breaks | spelled | not_typos),
        vocab={k: tuple(v) for k, v in vocab.items()},
        also={k: tuple(sorted(v)) for k, v in also.items()},
    )
