"""Compile the red-flag rules file (content/red_flags.yaml): phrases, modifiers, rules, indexes.

The file's shapes are checked by `RuleFile`; this module turns its texts into match keys (word,
stem, sound, number slot), indexes phrases by their first and second words and checks that each
rule names known terms and modifiers.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from content.text import stem, tokens
from handlers.triage.folding import FUZZY_MIN, SOUND_MIN, rewrite, sound_key
from handlers.triage.model import (
    LANGS,
    MANY,
    NUM,
    YEAR,
    Category,
    Key,
    Modifier,
    Phrase,
    RedFlagRules,
    Rewrites,
    Rule,
)
from handlers.triage.rule_file import RuleFile, Text, YamlList, YamlMap

__all__ = ["load_red_flag_rules"]

_TERM = re.compile(r"[A-Z][A-Z0-9_]*")
_RULE_ID = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)+")
_WITHIN = 10  # default reach of a pattern, in words from its first part to its last
_SLOTS = {"<num>": NUM, "<year>": YEAR, "<many>": MANY}


@lru_cache(maxsize=65536)
def _words(text: str) -> tuple[str, ...]:
    """Return the folded words of a piece of rule text (rule files repeat their pieces)."""
    return tuple(tokens(text))


class _Loader(RuleFile):
    """Compile the rule file's phrases, modifiers and rules."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.phrases: dict[tuple[tuple[frozenset[Key], ...], str], Phrase] = {}
        self.cues: dict[str, set[Key]] = {}  # keys of one-word cues, by modifier
        self.words: set[str] = set()  # every word the rules use: never typo-corrected
        self.targets: set[str] = set()  # words of terms: what typos are corrected to
        self.rewrites: Rewrites = {}

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

    def phrase(self, text: Text, lang: str, owner: str) -> Phrase:
        self.check(lang in LANGS, text, f"{text!r}: phrases go in en: and es: lists")
        slots: list[frozenset[Key]] = []
        for piece in text.split():
            found = [(alt[:1] == "=", list(_words(alt))) for alt in piece.split("|")]
            single = all(len(words) == 1 for _, words in found)
            ok = piece in _SLOTS or (all(w for _, w in found) and (single or len(found) == 1))
            self.check(ok, text, f"{piece!r}: alternatives a|b are single words")
            slot_alt = "|" in piece and any(alt in _SLOTS for alt in piece.split("|"))
            self.check(not slot_alt, text, f"{piece!r}: a slot such as <num> is no alternative")
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
            scopes = {
                "message": set(),
                "sentence": {"."},
                "clause": breaks,
                "phrase": breaks | {","},
            }
            ok = reach in {"before", "after", "both"} and scope in scopes
            self.check(ok, mod, f"reach is before, after or both; scope is one of {set(scopes)}")
            ends = scopes[scope] | self.word_set(mod.get("breaks"))
            window = self.number(mod.get("window", Text("5")))
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
        within = spec.get("within", Text(_WITHIN))
        names = [n for _, n in self.items(spec["modifiers"])] if "modifiers" in spec else default
        self.check(all(n in modifiers for n in names), spec, f"unknown modifier in {names}")
        for lang, item in self.items(spec["except"], both=False) if "except" in spec else []:
            self.phrase(item, lang, rule_id + "!except")
        reach = None if within == "message" else self.number(within)
        reply = spec.get("reply", Text(f"red_flag_{category}"))
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
    sections = {"version", "fillers", "rewrites", "not_typos", "clause_breaks", "also_read_as"}
    needed = {"modifiers", "terms", "rules"}
    top = load.fields(load.root(), sections | needed, needed)
    rewrites: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {}
    for target, sources in load.fields(top.get("rewrites", YamlMap())).items():
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
        rule_list = categories[category]
        load.check(isinstance(rule_list, YamlList), rule_list, "a rule list")
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
    for reading, said in load.fields(top.get("also_read_as", YamlMap())).items():
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
