"""Spanish diminutives read as their base word: "agujitas" as "agujas", "cafecito" as "cafe"."""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["diminutive_bases"]

# -cito/-cita after a consonant or -e ("cafecito", "moretoncito", "cablecitos"); -ito/-ita
# after anything else ("agujitas", "ratito"), with the spelling changes Spanish makes before
# -ito: "marquita" from "marca", "cervecita" from "cerveza", "amiguito" from "amigo".
_DIMINUTIVE = re.compile(r"^(?P<stem>[a-z]{2,}?)(?P<c>c)?it(?P<end>[oa])(?P<plural>s?)$")
_RESPELL = (("qu", "c"), ("gu", "g"), ("c", "z"))


@lru_cache(maxsize=8192)
def diminutive_bases(word: str) -> tuple[str, ...]:
    """Return the words a folded Spanish diminutive may come from, likeliest first."""
    found = _DIMINUTIVE.match(word)
    if found is None:
        return ()
    stem, end, plural = found["stem"], found["end"], found["plural"]
    stems = [stem + "c", stem] if found["c"] else [stem]
    bases: list[str] = []
    for base in stems:
        forms = [base + end, base + "e", base]
        for old, new in _RESPELL:
            if base.endswith(old):
                forms.append(base[: -len(old)] + new + end)
        bases += [form + plural for form in forms] + ([*forms] if plural else [])
    return tuple(dict.fromkeys(bases))
