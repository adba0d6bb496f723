"""Examples of requests in plain words: content/intents/<lang>.yaml, loaded and checked.

Each file maps a label (an intent, `greeting`, `thanks`, or `none` for questions that only
look like requests) to the messages patients write for it. Content editors add phrasings here;
the intent classifier learns from them when the bot starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from content.store import Problem, read_yaml
from content.text import LANGUAGES, fold

__all__ = ["LABELS", "MAX_EXAMPLE_WORDS", "IntentExamples", "check_intents", "load_intents"]

LABELS = frozenset(
    "human stop how_to_stop start help language:en language:es bot reminders topics "
    "appointments mydata forget more greeting thanks none".split()
)
MAX_EXAMPLE_WORDS = 25
IntentExamples = Mapping[str, tuple[str, ...]]  # label -> example messages, every language


def _read(directory: Path) -> tuple[dict[str, list[str]], list[Problem]]:
    examples: dict[str, list[str]] = {}
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for lang in LANGUAGES:
        path = directory / "intents" / f"{lang}.yaml"
        try:
            raw = read_yaml(path)
        except ValueError as exc:
            problems.append(Problem(path, 1, str(exc).split(": ", 1)[-1]))
            continue
        if not isinstance(raw, dict):
            problems.append(Problem(path, 1, "expected a mapping of label: [examples]"))
            continue
        for label, texts in raw.items():
            if label not in LABELS:
                problems.append(Problem(path, 1, f"unknown label {label!r}"))
                continue
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                problems.append(Problem(path, 1, f"label {label!r} needs a list of messages"))
                continue
            for text in texts:
                folded = fold(text)
                if not folded or len(folded.split()) > MAX_EXAMPLE_WORDS:
                    problems.append(Problem(path, 1, f"example {text!r} is empty or too long"))
                    continue
                if seen.setdefault(folded, label) != label:
                    problems.append(
                        Problem(path, 1, f"example {text!r} is under {seen[folded]!r} too")
                    )
                    continue
                examples.setdefault(label, []).append(text)
    return examples, problems


def check_intents(directory: Path) -> list[Problem]:
    """Return every problem with the intent examples: labels, shape, length, duplicates."""
    return _read(directory)[1]


def load_intents(directory: Path) -> IntentExamples:
    """Load the intent examples; raise ValueError naming the first problem if any."""
    examples, problems = _read(directory)
    if problems:
        raise ValueError(f"{problems[0]}; run `clinicbot content check`")
    return {label: tuple(texts) for label, texts in examples.items()}
