"""Read the red-flag rule file as plain data whose values remember their line, for errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import yaml

from content.text import tokens
from handlers.triage.model import LANGS

__all__ = ["RuleFile", "Text", "YamlList", "YamlMap"]

# libyaml's parser when PyYAML has it: the rule file is read on every start-up.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Text(str):
    """A YAML scalar that remembers its line."""

    line = 0


class YamlMap(dict[str, Any]):
    """A YAML mapping that remembers its line."""

    line = 0


class YamlList(list[Any]):
    """A YAML sequence that remembers its line."""

    line = 0


class RuleFile:
    """Parse a rule file and check its shapes, reporting bad data as `file:line: message`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def check(self, ok: object, where: Any, message: str) -> None:
        """Raise ValueError naming the file and line of `where` unless `ok`."""
        if not ok:
            raise ValueError(f"{self.path}:{getattr(where, 'line', 1)}: {message}")

    def root(self) -> Any:
        """Return the whole file as YamlMap, YamlList and Text values (None when empty)."""
        try:
            node = yaml.compose(self.path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
        except yaml.MarkedYAMLError as exc:
            line = exc.problem_mark.line + 1 if exc.problem_mark else 1
            raise ValueError(f"{self.path}:{line}: {exc.problem}") from exc
        return self._plain(node) if node else None

    def _plain(self, node: yaml.Node) -> Any:
        out: YamlMap | YamlList | Text
        if isinstance(node, yaml.MappingNode):
            out = YamlMap()
            for key_node, value in node.value:
                key = self._plain(key_node)
                self.check(key not in out, key, f"duplicate key {key!r}")
                out[key] = self._plain(value)
        elif isinstance(node, yaml.SequenceNode):
            out = YamlList(self._plain(item) for item in node.value)
        else:
            out = Text(str(node.value).strip())
        out.line = node.start_mark.line + 1
        return out

    def fields(self, spec: Any, allowed: set[str] | None = None, needed: Any = ()) -> YamlMap:
        """Return a mapping after checking it has the needed keys and no unknown ones."""
        self.check(isinstance(spec, YamlMap), spec, "expected a mapping")
        missing, unknown = set(needed) - set(spec), set(spec) - (allowed or set(spec))
        self.check(not missing, spec, f"missing {sorted(missing)}")
        self.check(
            not unknown, spec, f"unknown {sorted(unknown)}, expected {sorted(allowed or ())}"
        )
        return cast(YamlMap, spec)

    def items(self, spec: Any, both: bool = True) -> list[tuple[str, Text]]:
        """List (language, text) from a plain list or from `en:` and `es:` lists."""
        if isinstance(spec, YamlList):
            ok = spec and all(isinstance(i, Text) and i for i in spec)
            self.check(ok, spec, "expected a non-empty list of texts")
            return [("", item) for item in spec]
        langs = self.fields(spec, set(LANGS), LANGS if both else ())
        self.check(langs, spec, "needs an en: or es: list")
        return [(lang, item) for lang in langs for _, item in self.items(langs[lang])]

    def word_set(self, spec: Any) -> set[str]:
        """Return the words of a list of single words (an empty set for None)."""
        found = [(tokens(item), item) for _, item in self.items(spec)] if spec else []
        for words, item in found:
            self.check(len(words) == 1, item, f"expected one word, got {item!r}")
        return {words[0] for words, _ in found}

    def number(self, value: Any) -> int:
        """Return a whole number written in the file."""
        self.check(isinstance(value, Text) and value.isdigit(), value, "expected a number")
        return int(value)
