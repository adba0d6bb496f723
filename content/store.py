"""Read the content folder into memory: clinic facts, answers and system messages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from content.variables import render

__all__ = [
    "Answer",
    "AnswerFile",
    "ContentStore",
    "Message",
    "Problem",
    "build_store",
    "read_answer_file",
    "read_yaml",
]


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a content file, printed as `file:line: message`."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True)
class AnswerFile:
    """An answer file as written: front matter, the line of each key, and the body."""

    path: Path
    meta: Mapping[str, Any]
    key_lines: Mapping[str, int]
    body: str
    body_line: int

    def line_of(self, key: str) -> int:
        """Return the 1-based line of a front-matter key (the file's first line if absent)."""
        return self.key_lines.get(key, 1)


@dataclass(frozen=True)
class Answer:
    """One answer in one language, with the clinic's facts filled in."""

    id: str
    lang: str
    title: str
    questions: tuple[str, ...]
    keywords: tuple[str, ...]
    related: tuple[str, ...]
    reviewed: date
    sms: str
    body: str
    short: str = ""  # the first reply on chat apps: the direct answer and its safety line


@dataclass(frozen=True)
class Message:
    """A system message (greeting, help, red-flag reply...) for chat apps and for SMS."""

    text: str
    sms: str


@dataclass(frozen=True)
class ContentStore:
    """Everything the bot may say, by language."""

    clinic: Mapping[str, Any]
    answers: Mapping[str, Mapping[str, Answer]]
    messages: Mapping[str, Mapping[str, Message]] = field(default_factory=dict)

    @property
    def languages(self) -> tuple[str, ...]:
        """Return the languages that have answers."""
        return tuple(sorted(self.answers))

    def answer(self, topic: str, lang: str) -> Answer | None:
        """Return the answer for a topic in a language, falling back to English."""
        found = self.answers.get(lang, {}).get(topic)
        return found or self.answers.get("en", {}).get(topic)

    def message(self, key: str, lang: str) -> Message:
        """Return a system message in a language, falling back to English."""
        found = self.messages.get(lang, {}).get(key)
        return found or self.messages["en"][key]


# libyaml's parser when PyYAML was built with it (the wheels are): same results, much faster.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; raise ValueError as `file:line: message` on bad YAML."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise ValueError(f"{path}:{line}: invalid YAML: {exc.problem}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}:1: cannot read: {exc}") from None


def read_answer_file(path: Path) -> AnswerFile:
    """Split an answer file into front matter and body; raise ValueError on a bad file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}:1: cannot read: {exc}") from None
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise ValueError(f"{path}:1: missing front matter (the file must start with ---)")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise ValueError(f"{path}:1: front matter is not closed with ---") from None
    header = "\n".join(lines[1:end])
    try:
        node = yaml.compose(header, Loader=_LOADER)
        meta = yaml.load(header, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 2 if exc.problem_mark else 1
        raise ValueError(f"{path}:{line}: invalid YAML front matter: {exc.problem}") from None
    if not isinstance(meta, dict) or not isinstance(node, yaml.MappingNode):
        raise ValueError(f"{path}:2: front matter must be a mapping of fields")
    key_lines = {str(key.value): key.start_mark.line + 2 for key, _ in node.value}
    body = "\n".join(lines[end + 1 :]).strip("\n")
    return AnswerFile(path, meta, key_lines, body, end + 2)


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


def _answer(file: AnswerFile, clinic: Mapping[str, Any]) -> Answer:
    meta, lang = file.meta, str(file.meta["lang"])
    reviewed = meta.get("reviewed")
    return Answer(
        id=str(meta["id"]),
        lang=lang,
        title=render(str(meta["title"]), clinic, lang),
        questions=_strings(meta.get("questions")),
        keywords=_strings(meta.get("keywords")),
        related=_strings(meta.get("related")),
        reviewed=reviewed if isinstance(reviewed, date) else date.min,
        sms=" ".join(render(str(meta["sms"]), clinic, lang).split()),
        body=render(file.body, clinic, lang),
        short=render(str(meta.get("short", "")), clinic, lang).strip(),
    )


def build_store(
    clinic: Mapping[str, Any],
    files: list[AnswerFile],
    raw_messages: Mapping[str, Mapping[str, Any]],
) -> ContentStore:
    """Build the store from files that passed the checks."""
    answers: dict[str, dict[str, Answer]] = {}
    for file in files:
        answer = _answer(file, clinic)
        answers.setdefault(answer.lang, {})[answer.id] = answer
    messages: dict[str, dict[str, Message]] = {}
    for lang, entries in raw_messages.items():
        for key, entry in entries.items():
            text = render(str(entry["text"]), clinic, lang).strip()
            sms = render(str(entry.get("sms", entry["text"])), clinic, lang).strip()
            messages.setdefault(lang, {})[key] = Message(text, sms)
    return ContentStore(clinic, answers, messages)
