"""Compare FaqIndex with a difflib baseline on the dev set: accuracy, fallback, latency."""

from __future__ import annotations

import difflib
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from content.check import load_content  # noqa: E402
from content.search import FaqIndex, is_confident  # noqa: E402
from content.text import fold  # noqa: E402

# The baseline answers when its best example question is at least this similar.
BASELINE_CUTOFF = 0.6
# A search returns the topic to answer with, or None to fall back.
Search = Callable[[str, str], str | None]


def faq_index() -> Search:
    """Return a search backed by FaqIndex and is_confident."""
    store = load_content(ROOT / "content")
    indexes = {lang: FaqIndex(a.values(), lang) for lang, a in store.answers.items()}

    def search(text: str, lang: str) -> str | None:
        matches = indexes[lang].search(text)
        return matches[0].topic if matches and is_confident(matches[0]) else None

    return search


def difflib_baseline() -> Search:
    """Return a search taking the most similar example question (SequenceMatcher)."""
    store = load_content(ROOT / "content")
    examples: dict[str, dict[str, str]] = {}
    for lang, answers in store.answers.items():
        for answer in answers.values():
            for question in (answer.title, *answer.questions):
                examples.setdefault(lang, {})[fold(question)] = answer.id

    def search(text: str, lang: str) -> str | None:
        choices = examples[lang]
        found = difflib.get_close_matches(fold(text), choices, n=1, cutoff=BASELINE_CUTOFF)
        return choices[found[0]] if found else None

    return search


def run(search: Search, rows: list[dict[str, str]]) -> tuple[float, float, float, float]:
    """Return topic accuracy, off-topic fallback rate, and p50 and p99 latency in ms."""
    correct = total = fallbacks = off_topic = 0
    latencies = []
    for row in rows:
        start = time.perf_counter()
        topic = search(row["text"], row["lang"])
        latencies.append((time.perf_counter() - start) * 1000)
        if row["group"] == "topic":
            total += 1
            correct += topic == row["topic"]
        elif row["group"] == "off_topic":
            off_topic += 1
            fallbacks += topic is None
    cuts = statistics.quantiles(latencies, n=100)
    return correct / total, fallbacks / off_topic, cuts[49], cuts[98]


def main() -> None:
    """Print the comparison table."""
    path = ROOT / "tests" / "eval" / "dev.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = [r for r in map(json.loads, lines) if r["group"] in ("topic", "off_topic")]
    n_topic = sum(r["group"] == "topic" for r in rows)
    print(f"{path.relative_to(ROOT)}: {n_topic} topic, {len(rows) - n_topic} off-topic messages")
    print(f"{'method':<18}{'accuracy':>10}{'fallback':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for name, build in (("FaqIndex", faq_index), ("difflib baseline", difflib_baseline)):
        search = build()
        for row in rows[:20]:  # warm caches, as a running bot would be
            search(row["text"], row["lang"])
        accuracy, fallback, p50, p99 = run(search, rows)
        print(f"{name:<18}{accuracy:>10.1%}{fallback:>10.1%}{p50:>10.3f}{p99:>10.3f}")


if __name__ == "__main__":
    main()
