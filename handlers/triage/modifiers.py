"""ConText-style modifiers: which cues are live in a message, and which concepts they cancel.

A cue (negation, past, hypothetical...) cancels a concept close to it in the same clause, on the
side and within the window its modifier names. A cue inside a longer matched phrase is not a
cue ("no puedo orinar" is a phrase, not a negated "orinar"), a cue voided by its `unless` phrase
is not a cue ("never had a headache like this"), and a phrase that starts with a cue of a
modifier is never cancelled by it ("can't walk").
"""

from __future__ import annotations

from handlers.triage.model import Modifier, Phrase

__all__ = ["Occurrence", "is_cancelled", "live_cues"]

Occurrence = tuple[int, int, Phrase]  # first word, word after the last, phrase
_VOID_REACH = 8  # words from a cue to the `unless` phrase that voids it


def live_cues(found: dict[str, list[Occurrence]], words: list[str]) -> dict[str, list[Occurrence]]:
    """Return the cues of each modifier that are not inside a longer phrase nor voided."""
    spans = [(o[0], o[1]) for owner, occs in found.items() if owner[0] != "~" for o in occs]
    cues: dict[str, list[Occurrence]] = {}
    for owner, occs in found.items():
        if owner[0] != "~" or owner.endswith("!unless"):
            continue
        voids = found.get(owner + "!unless", [])
        for c in occs:
            inside = any(a <= c[0] and c[1] <= b and b - a > c[1] - c[0] for a, b in spans)
            void = any(
                0 <= v[0] - c[1] <= _VOID_REACH and "." not in words[c[1] : v[0]] for v in voids
            )
            if not inside and not void:
                cues.setdefault(owner[1:], []).append(c)
    return cues


def is_cancelled(
    occ: Occurrence, mod: Modifier, cues: dict[str, list[Occurrence]], words: list[str]
) -> bool:
    """Return whether a cue of this modifier is close enough to cancel one concept's place."""
    if mod.name in occ[2].immune:
        return False
    for first, end, _ in cues.get(mod.name, ()):
        if mod.reach != "after" and first < occ[0] and occ[0] - end <= mod.window:
            between = words[end : occ[0]]  # "no, I can't ..." answers; it does not negate
            answer = mod.comma_answers and between[:1] == [","]
            if not answer and mod.breaks.isdisjoint(between):
                return True
        after = mod.reach != "before" and occ[1] <= first and first - occ[1] <= mod.window
        if after and mod.breaks.isdisjoint(words[occ[1] : first]):
            return True
    return False
