"""Score requests in plain words: accuracy per label and language, questions taken for requests.

    .venv/bin/python tests/eval/score_intents.py tests/eval/intents_dev.jsonl [--wrong] [--before]
    .venv/bin/python tests/eval/score_intents.py --examples    # leave-one-out on the examples

Rows are {"text", "lang", "expect"}. Each message is read as the pipeline reads it: red-flag
triage first (a red flag is answered, so it counts as `none`), then commands, keywords and set
phrases, then the classifier; what is left is small talk or a question (`none`). `--before`
leaves the classifier out, as the bot was before it. MENU counts as `topics` (the main menu's
first choice). `--examples` scores the classifier alone, each example left out in turn.
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from content.intent_examples import load_intents  # noqa: E402
from handlers.conversation.answer import Answerer  # noqa: E402
from handlers.conversation.intent_classifier import NONE, IntentClassifier  # noqa: E402
from handlers.conversation.intents import Intent, intent_of  # noqa: E402
from handlers.conversation.small_talk import small_talk  # noqa: E402
from handlers.triage import Category, triage  # noqa: E402

Row = tuple[str, str, str, str]  # text, lang, expected, got


def label_of(answerer: Answerer, text: str, *, guess: bool = True) -> str:
    """Return the label the bot acts on for one message."""
    flag = triage(text, answerer.rules)
    if flag is not None and flag.category is not Category.CHECK:
        return NONE
    match = intent_of(text, answerer.guess_request if guess else None)
    if match is not None:
        if match.intent is Intent.LANGUAGE:
            return f"language:{match.value}" if match.value else "language"
        return "topics" if match.intent is Intent.MENU else match.intent.value
    kind = small_talk(text, answerer.guess_request(text) if guess else None)
    return str(kind) if kind is not None else NONE


def report(rows: list[Row], show_wrong: bool) -> None:
    """Print accuracy per label and language, confusion with none, and the false-intent rate."""
    by: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for _, lang, want, got in rows:
        by[(want, lang)].append(want == got)
    for (label, lang), results in sorted(by.items()):
        print(f"{label:13} {lang}: {sum(results):3}/{len(results):3} = {_rate(results)}")
    asks = [r for r in rows if r[2] != NONE]
    questions = [r for r in rows if r[2] == NONE]
    for lang in sorted({r[1] for r in rows}):
        own = [r[2] == r[3] for r in rows if r[1] == lang]
        print(f"all {lang}: {sum(own)}/{len(own)} = {_rate(own)}")
    right = [r[2] == r[3] for r in rows]
    print(f"all: {sum(right)}/{len(right)} = {_rate(right)}")
    missed = [r for r in asks if r[3] == NONE]
    print(f"requests left as questions (to none): {len(missed)}/{len(asks)}")
    wrong = [r for r in asks if r[3] not in {NONE, r[2]}]
    print(f"requests taken for another request: {len(wrong)}/{len(asks)}")
    hijacked = [r for r in questions if r[3] != NONE]
    print(f"false-intent rate on none rows (from none): {len(hijacked)}/{len(questions)}")
    if show_wrong:
        for text, lang, want, got in sorted(r for r in rows if r[2] != r[3]):
            print(f"  {want} -> {got} | {lang} | {text}")
    print("confusions:", dict(Counter((r[2], r[3]) for r in rows if r[2] != r[3]).most_common(8)))


def _rate(results: list[bool]) -> str:
    return f"{sum(results) / len(results):.3f}" if results else "-"


def leave_one_out() -> list[Row]:
    """Classify every example with the classifier built from all the others."""
    examples = load_intents(ROOT / "content")
    classifier = IntentClassifier.from_labels(examples)
    texts = [text for texts in examples.values() for text in texts]
    rows = []
    for i, (text, label) in enumerate(zip(texts, classifier.labels, strict=True)):
        guess = classifier.guess(text, skip=i)
        rows.append((text, "-", label, guess.label if guess else NONE))
    return rows


def main(argv: list[str]) -> None:
    """Score a file of labelled rows, or the examples by leave-one-out."""
    if "--examples" in argv:
        report(leave_one_out(), "--wrong" in argv)
        return
    answerer = Answerer.from_directory(ROOT / "content")
    path = Path(next(a for a in argv if not a.startswith("--")))
    lines = path.read_text(encoding="utf-8").splitlines()
    guess = "--before" not in argv
    rows = []
    for line in filter(None, lines):
        row = json.loads(line)
        got = label_of(answerer, row["text"], guess=guess)
        rows.append((row["text"], row["lang"], row["expect"], got))
    report(rows, "--wrong" in argv)


if __name__ == "__main__":
    main(sys.argv[1:])
