"""Between-visit tips: content/tips/<category>/<lang>.yaml, loaded and checked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from content.sms import count_segments, to_sms_text
from content.store import Problem, read_yaml
from content.text import LANGUAGES

__all__ = ["MIN_TIPS", "TIP_CATEGORIES", "Tip", "check_tips", "load_tips"]

TIP_CATEGORIES = ("exercise", "diet", "meditation")
MIN_TIPS = 15
MAX_TIP_CHARS = 200  # leaves room for the clinic's name and "Reply STOP to opt out"


@dataclass(frozen=True)
class Tip:
    """One tip in one language; the same id in every language."""

    id: str
    category: str
    lang: str
    text: str


Tips = Mapping[tuple[str, str], tuple[Tip, ...]]


def _read(directory: Path) -> tuple[dict[tuple[str, str], tuple[Tip, ...]], list[Problem]]:
    tips: dict[tuple[str, str], tuple[Tip, ...]] = {}
    problems: list[Problem] = []
    for category in TIP_CATEGORIES:
        for lang in LANGUAGES:
            path = directory / "tips" / category / f"{lang}.yaml"
            try:
                raw = read_yaml(path)
            except ValueError as exc:
                problems.append(Problem(path, 1, str(exc).split(": ", 1)[-1]))
                continue
            items = raw.get("tips") if isinstance(raw, dict) else None
            if not isinstance(items, list):
                problems.append(Problem(path, 1, "expected a `tips:` list"))
                continue
            found = []
            for item in items:
                if not isinstance(item, dict) or not item.get("id") or not item.get("text"):
                    problems.append(Problem(path, 1, f"each tip needs an id and a text: {item!r}"))
                    continue
                found.append(
                    Tip(str(item["id"]), category, lang, " ".join(str(item["text"]).split()))
                )
            tips[(category, lang)] = tuple(found)
    return tips, problems


def check_tips(directory: Path) -> list[Problem]:
    """Return every problem with the tips: counts, ids matching across languages, length."""
    tips, problems = _read(directory)
    for category in TIP_CATEGORIES:
        id_sets = {}
        for lang in LANGUAGES:
            path = directory / "tips" / category / f"{lang}.yaml"
            pool = tips.get((category, lang), ())
            ids = [tip.id for tip in pool]
            id_sets[lang] = set(ids)
            if (category, lang) in tips and len(pool) < MIN_TIPS:
                problems.append(
                    Problem(path, 1, f"at least {MIN_TIPS} tips are needed, found {len(pool)}")
                )
            for tip in pool:
                if ids.count(tip.id) > 1:
                    problems.append(Problem(path, 1, f"tip id {tip.id!r} appears twice"))
                if not tip.id.startswith(f"{category}."):
                    problems.append(
                        Problem(path, 1, f"tip id {tip.id!r} must start with {category}.")
                    )
                sms = to_sms_text(tip.text)
                if len(sms) > MAX_TIP_CHARS or count_segments(sms).encoding != "GSM-7":
                    problems.append(
                        Problem(
                            path,
                            1,
                            f"tip {tip.id!r} must be at most {MAX_TIP_CHARS} plain characters",
                        )
                    )
        if len(id_sets) == len(LANGUAGES) and id_sets["en"] != id_sets["es"]:
            differ = sorted(id_sets["en"] ^ id_sets["es"])
            problems.append(
                Problem(
                    directory / "tips" / category,
                    1,
                    f"tip ids differ between languages: {', '.join(differ)}",
                )
            )
    return sorted(set(problems))


def load_tips(directory: Path) -> dict[tuple[str, str], tuple[Tip, ...]]:
    """Load the tips by (category, language); ValueError naming the first problem."""
    problems = check_tips(directory)
    if problems:
        raise ValueError(f"{problems[0]}; run `clinicbot content check`")
    return _read(directory)[0]
