"""Fill `{{ variable }}` references in content from the clinic's facts."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["UnknownVariableError", "render", "variables_in"]

_REFERENCE = re.compile(r"\{\{\s*([A-Za-z0-9_.]*)\s*\}\}")


class UnknownVariableError(KeyError):
    """A `{{ name }}` that clinic.yaml does not define (or that is not a single value)."""


def variables_in(template: str) -> Iterator[tuple[str, int]]:
    """Yield each variable name with its 0-based line within the template."""
    for match in _REFERENCE.finditer(template):
        yield match.group(1), template.count("\n", 0, match.start())


def _lookup(clinic: Mapping[str, Any], name: str, lang: str) -> str:
    value: Any = clinic
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise UnknownVariableError(name)
        value = value[part]
    if isinstance(value, Mapping):
        value = value.get(lang, value.get("en"))
    if value is None or isinstance(value, Mapping | list):
        raise UnknownVariableError(name)
    return str(value)


def render(template: str, clinic: Mapping[str, Any], lang: str) -> str:
    """Replace every `{{ name }}` with its value in the given language."""
    return _REFERENCE.sub(lambda match: _lookup(clinic, match.group(1), lang), template)
