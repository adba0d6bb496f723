"""Say why triage decided what it did, and check that each rule's examples fire that rule.

`clinicbot triage explain "message"` prints an `Explanation`: the words as triage read them, the
concepts (rule-file TERMS) found with the modifier cues that cancel each one, and every rule that
fires, most severe first; the first is the answer. A clinician reviewing `content/red_flags.yaml`
uses it to see why a message was or was not flagged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from handlers.triage.engine import blocked, fires, scan
from handlers.triage.model import RedFlagRules, Rule

__all__ = ["Explanation", "FoundConcept", "explain", "rule_problems"]


@dataclass(frozen=True)
class FoundConcept:
    """One place a concept (a TERM of the rule file) was found in a message."""

    term: str
    start: int  # the position of its first word in `Explanation.words`
    words: str  # the words that matched, as triage read them
    cancelled_by: tuple[str, ...]  # modifiers with a cue close enough to cancel it


@dataclass(frozen=True)
class Explanation:
    """What triage read in a message and which rules fired."""

    words: tuple[str, ...]
    concepts: tuple[FoundConcept, ...]
    cues: tuple[tuple[str, str], ...]  # (modifier, the cue's words)
    fired: tuple[Rule, ...]  # most severe first; the first one is triage's answer

    def lines(self) -> list[str]:
        """Return the explanation as lines of text for a terminal."""
        out = [f"read as: {' '.join(self.words)}"]
        for found in self.concepts:
            line = f"concept {found.term}: {found.words!r}"
            if found.cancelled_by:
                line += f" (cancelled by {', '.join(found.cancelled_by)})"
            out.append(line)
        out += [f"modifier {name}: {words!r}" for name, words in self.cues]
        if not self.concepts:
            out.append("no concept found")
        for i, rule in enumerate(self.fired):
            mark = "FIRES" if i == 0 else "also "
            out.append(f"{mark} {rule.category} {rule.id} -> {rule.reply}: {rule.note}")
        if not self.fired:
            out.append("no rule fires: the message is answered as usual")
        return out


def explain(text: str, rules: RedFlagRules) -> Explanation:
    """Return what triage read in a message and every rule that fires, most severe first."""
    read = scan(text, rules)
    modifiers = {mod.name: mod for rule in rules.rules for mod in rule.modifiers}
    concepts = [
        FoundConcept(
            term,
            occ[0],
            " ".join(read.words[occ[0] : occ[1]]),
            tuple(name for name, mod in modifiers.items() if blocked(occ, mod, read)),
        )
        for term, occs in read.found.items()
        if term[0] != "~" and "!" not in term
        for occ in occs
    ]
    cues = [
        (name, " ".join(read.words[occ[0] : occ[1]]))
        for name, occs in read.cues.items()
        for occ in occs
    ]
    return Explanation(
        tuple(read.words),
        tuple(sorted(concepts, key=lambda c: (c.start, c.term))),
        tuple(cues),
        tuple(rule for rule in rules.rules if fires(rule, read)),
    )


def rule_problems(rules: RedFlagRules, has_message: Callable[[str], bool]) -> list[str]:
    """Return one line per rule whose reply message is missing or whose example misfires."""
    problems = []
    for rule in rules.rules:
        if not has_message(rule.reply):
            problems.append(f"rule {rule.id}: reply {rule.reply!r} is not a message")
        for lang, example in rule.examples:
            fired = explain(example, rules).fired
            got = fired[0].id if fired else "nothing"
            if got != rule.id:
                problems.append(f"rule {rule.id}: {lang} example {example!r} fires {got}")
    return problems
