"""Compare FaqIndex with a difflib baseline on the dev set: accuracy, fallback, latency."""

from __future__ import annotations

import difflib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.perf_doc import write_section  # noqa: E402
from content.check import load_content  # noqa: E402
from content.search import FaqIndex, is_confident  # noqa: E402
from content.text import fold, tokens  # noqa: E402
from handlers.conversation.answer import Answerer  # noqa: E402
from handlers.triage import triage  # noqa: E402

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


def whole_path(rows: list[dict[str, str]]) -> dict[str, float]:
    """Run every dev-set message through Answerer.answer (triage, detection, FAQ, fallback)."""
    answerer = Answerer.from_directory(ROOT / "content")
    for row in rows[:20]:
        answerer.answer(row["text"])
    latencies, hits = [], {"topic": 0, "red_flag": 0, "near_miss": 0, "off_topic": 0}
    totals = dict.fromkeys(hits, 0)
    for row in rows:
        start = time.perf_counter()
        reply = answerer.answer(row["text"])
        latencies.append((time.perf_counter() - start) * 1000)
        group = row["group"]
        totals[group] += 1
        if group == "topic":
            hits[group] += reply.kind == "faq" and reply.topic == row["topic"]
        elif group == "red_flag":
            hits[group] += reply.kind == "red_flag" and reply.category == row["category"]
        elif group == "near_miss":
            hits[group] += reply.kind == "red_flag"
        else:
            hits[group] += reply.kind == "fallback"
    cuts = statistics.quantiles(latencies, n=100)
    figures = {group: hits[group] / totals[group] for group in hits if totals[group]}
    return {**figures, "p50": cuts[49], "p99": cuts[98]}


def triage_latency() -> dict[str, float]:
    """Time red-flag triage alone on every blind triage message, beside folding the same text."""
    rules = Answerer.from_directory(ROOT / "content").rules
    texts = [
        json.loads(line)["text"]
        for path in sorted((ROOT / "tests" / "eval").glob("triage_*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    for text in texts[:20]:  # warm the word cache a little, as a running bot would be
        triage(text, rules)
    timed, folded = [], []
    for text in texts:
        start = time.perf_counter()
        triage(text, rules)
        timed.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        tokens(text)
        folded.append((time.perf_counter() - start) * 1000)
    long_text = " ".join(texts)[:5000]
    start = time.perf_counter()
    triage(long_text, rules)
    long_ms = (time.perf_counter() - start) * 1000
    cuts, base = statistics.quantiles(timed, n=100), statistics.quantiles(folded, n=100)
    return {
        "n": len(texts),
        "p50": cuts[49],
        "p99": cuts[98],
        "fold_p50": base[49],
        "fold_p99": base[98],
        "long": long_ms,
    }


def main() -> None:
    """Print the comparison table and write it to docs/PERFORMANCE.md (unless --no-write)."""
    path = ROOT / "tests" / "eval" / "dev.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = [r for r in map(json.loads, lines) if r["group"] in ("topic", "off_topic")]
    n_topic = sum(r["group"] == "topic" for r in rows)
    out = [
        f"`python bench/answering.py` — {platform.platform()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}. Dev set `{path.relative_to(ROOT)}`: "
        f"{n_topic} topic and {len(rows) - n_topic} off-topic messages for the first table.",
        "",
        "| method | top-1 accuracy | off-topic fallback | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, build in (("FaqIndex", faq_index), ("difflib baseline", difflib_baseline)):
        search = build()
        for row in rows[:20]:  # warm caches, as a running bot would be
            search(row["text"], row["lang"])
        accuracy, fallback, p50, p99 = run(search, rows)
        out.append(f"| {name} | {accuracy:.1%} | {fallback:.1%} | {p50:.3f} | {p99:.3f} |")
    every = [json.loads(line) for line in lines if line.strip()]
    figures = whole_path(every)
    out += [
        "",
        "The whole answering path (`Answerer.answer`, as `clinicbot ask`), every dev-set group:",
        "",
        "| figure | value | target |",
        "|---|---:|---:|",
        f"| top-1 topic accuracy | {figures['topic']:.1%} | >= 90% |",
        f"| red flags with the right category | {figures['red_flag']:.1%} | 100% |",
        f"| near-miss false alarms | {figures['near_miss']:.1%} | <= 5% |",
        f"| off-topic -> fallback | {figures['off_topic']:.1%} | >= 90% |",
        f"| latency p50 / p99 ms | {figures['p50']:.3f} / {figures['p99']:.3f} | p99 < 5 |",
    ]
    tri = triage_latency()
    out += [
        "",
        f"Red-flag triage alone (`handlers.triage.triage`) on the {tri['n']:.0f} blind triage "
        "messages (`tests/eval/triage_*.jsonl`), each once, beside folding the same text into "
        "words (`content.text.tokens`, the first step of any reading):",
        "",
        "| work | p50 ms | p99 ms | target |",
        "|---|---:|---:|---:|",
        f"| triage | {tri['p50']:.3f} | {tri['p99']:.3f} | p99 < 2 |",
        f"| folding into words | {tri['fold_p50']:.4f} | {tri['fold_p99']:.4f} | |",
        f"| triage / folding (p99) | | {tri['p99'] / tri['fold_p99']:.0f}x | |",
        f"| triage of one 5,000-character message | | {tri['long']:.2f} | |",
    ]
    text = "\n".join(out)
    print(text)
    if "--no-write" not in sys.argv:
        write_section("Answering", text)


if __name__ == "__main__":
    main()
