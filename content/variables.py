"""Fill `{{ variable }}` references and `{% if fact %}` sections in content from clinic facts."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["UnknownVariableError", "problem_with", "render", "variables_in"]

_REFERENCE = re.compile(r"\{\{\s*([A-Za-z0-9_.]*)\s*\}\}")
# `{% if fact %}...{% else %}...{% endif %}` (or `if not fact`), not nested: what a clinic says
# depends on a yes/no fact (`medicare_supervising_physician: true` lets Medicare answers say more).
_CONDITION = re.compile(
    r"\{%\s*if\s+(not\s+)?([A-Za-z0-9_.]*)\s*%\}(.*?)(?:\{%\s*else\s*%\}(.*?))?\{%\s*endif\s*%\}",
    re.DOTALL,
)
_TAG = re.compile(r"\{%.*?%\}", re.DOTALL)


class UnknownVariableError(KeyError):
    """A `{{ name }}` that clinic.yaml does not define (or that is not a single value)."""


def variables_in(template: str) -> Iterator[tuple[str, int]]:
    """Yield each variable and condition name with its 0-based line within the template."""
    found = [(m.start(), m.group(1)) for m in _REFERENCE.finditer(template)]
    found += [(m.start(), f"{m.group(2)}?") for m in _CONDITION.finditer(template)]
    # Blank out well-formed sections (keeping line breaks) to find stray tags where they are.
    blanked = _CONDITION.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), template)
    found += [(m.start(), "%") for m in _TAG.finditer(blanked)]
    for start, name in sorted(found):
        yield name, template.count("\n", 0, start)


def _value(clinic: Mapping[str, Any], name: str) -> Any:
    value: Any = clinic
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise UnknownVariableError(name)
        value = value[part]
    return value


def _lookup(clinic: Mapping[str, Any], name: str, lang: str) -> str:
    if name == "%":  # a `{% ... %}` tag outside a well-formed if/endif section
        raise UnknownVariableError("{% if fact %}...{% endif %}")
    if name.endswith("?"):  # a condition: the fact must be a yes/no value
        if not isinstance(_value(clinic, name[:-1]), bool):
            raise UnknownVariableError(name)
        return ""
    value = _value(clinic, name)
    if isinstance(value, Mapping):
        value = value.get(lang, value.get("en"))
    if value is None or isinstance(value, Mapping | list):
        raise UnknownVariableError(name)
    return str(value)


def _section(clinic: Mapping[str, Any], match: re.Match[str]) -> str:
    name = match.group(2)
    value = _value(clinic, name)
    if not isinstance(value, bool):
        raise UnknownVariableError(f"{name}?")
    if match.group(1):
        value = not value
    return match.group(3) if value else match.group(4) or ""


def problem_with(name: str, clinic: Mapping[str, Any], lang: str) -> str | None:
    """Say what is wrong with a name `variables_in` found, or None if clinic.yaml fills it."""
    try:
        _lookup(clinic, name, lang)
    except UnknownVariableError:
        if name == "%":
            return "a {% ... %} tag outside an {% if fact %}...{% endif %} section"
        if name.endswith("?"):
            return f"{{% if {name[:-1]} %}} needs a yes/no fact (true or false) in clinic.yaml"
        return f"unknown variable {{{{ {name} }}}}"
    return None


def render(template: str, clinic: Mapping[str, Any], lang: str) -> str:
    """Keep the sections whose condition holds, then replace every `{{ name }}`."""
    if "{%" in template:
        for name, _ in variables_in(template):
            if name.endswith("?") or name == "%":
                _lookup(clinic, name, lang)
        template = _CONDITION.sub(lambda match: _section(clinic, match), template)
    return _REFERENCE.sub(lambda match: _lookup(clinic, match.group(1), lang), template)
