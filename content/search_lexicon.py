"""Word lists the search reads besides the answers: word families and off-topic requests.

Both live in content/ as YAML the clinic reviews: `synonyms.yaml` (families of words patients
use for one thing) and `elsewhere.yaml` (requests for things the clinic does not do).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from content.store import read_yaml
from content.text import fold

__all__ = [
    "ELSEWHERE_FILE",
    "SYNONYMS_FILE",
    "elsewhere",
    "load_elsewhere",
    "load_synonyms",
    "synonyms",
]

SYNONYMS_FILE = Path(__file__).resolve().parent / "synonyms.yaml"
ELSEWHERE_FILE = Path(__file__).resolve().parent / "elsewhere.yaml"


def _per_language(path: Path, kind: type, what: str) -> dict[str, object]:
    raw = read_yaml(path)
    if not isinstance(raw, Mapping) or not all(isinstance(v, kind) for v in raw.values()):
        raise ValueError(f"{path}:1: expected a mapping of languages to {what}")
    return {str(lang): value for lang, value in raw.items()}


def load_synonyms(path: Path) -> dict[str, dict[str, str]]:
    """Return, per language, each family word mapped to the family's first word (folded).

    ValueError if the file is not a mapping of languages to families of single words, or if a
    word belongs to two families of one language.
    """
    tables: dict[str, dict[str, str]] = {}
    for lang, families in _per_language(path, Mapping, "word families").items():
        assert isinstance(families, Mapping)
        table: dict[str, str] = {}
        for head, words in families.items():
            if not isinstance(words, list):
                raise ValueError(f"{path}:1: {lang}: {head}: expected a list of words")
            canonical = fold(str(head))
            for word in (head, *words):
                folded = fold(str(word))
                if not folded or " " in folded:
                    raise ValueError(f"{path}:1: {lang}: {word!r} is not one word")
                if table.get(folded, canonical) != canonical:
                    raise ValueError(f"{path}:1: {lang}: {word!r} is in two families")
                table[folded] = canonical
        tables[lang] = table
    return tables


def load_elsewhere(path: Path) -> dict[str, tuple[str, ...]]:
    """Return, per language, the requests for things the clinic does not do."""
    lists = _per_language(path, list, "lists of requests")
    return {lang: tuple(str(text) for text in texts) for lang, texts in lists.items()}  # type: ignore[attr-defined]


@lru_cache(maxsize=1)
def _synonyms() -> dict[str, dict[str, str]]:
    return load_synonyms(SYNONYMS_FILE)


@lru_cache(maxsize=1)
def _elsewhere() -> dict[str, tuple[str, ...]]:
    return load_elsewhere(ELSEWHERE_FILE)


def synonyms(lang: str) -> Mapping[str, str]:
    """Return the clinic's word families for one language, each word to its family's head."""
    return _synonyms().get(lang, {})


def elsewhere(lang: str) -> tuple[str, ...]:
    """Return the off-topic requests for one language."""
    return _elsewhere().get(lang, ())
