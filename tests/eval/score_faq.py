"""Score a labelled FAQ set: top-1 topic accuracy per language, intents and off-topic rows.

    .venv/bin/python tests/eval/score_faq.py tests/eval/faq_dev.jsonl [--wrong]

Each message goes through `Answerer.answer` with no language given, as `clinicbot ask` does.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from handlers.conversation.answer import Answerer  # noqa: E402


def main(path: Path, show_wrong: bool) -> None:
    """Print the figures for one set of labelled rows."""
    answerer = Answerer.from_directory(ROOT / "content")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    right: dict[str, list[bool]] = defaultdict(list)
    wrong, intents, off_topic, lengths = [], [], [], []
    for row in rows:
        reply = answerer.answer(row["text"])
        lengths.append(len(reply.text))
        if row["group"] == "topic":
            ok = (reply.kind, reply.topic) == ("faq", row["topic"])
            right[row["lang"]].append(ok)
            if not ok:
                got = f"{reply.kind} {reply.topic or ''}"
                wrong.append((row["lang"], row["topic"], got, row["text"]))
        elif row["group"] == "intent":
            intents.append(reply.kind == "faq")
        elif row["group"] == "off_topic":
            off_topic.append(reply.kind == "fallback")
    for lang, results in sorted(right.items()):
        print(f"top-1 {lang}: {sum(results)}/{len(results)} = {sum(results) / len(results):.4f}")
    if intents:
        print(f"intent rows answered with a topic: {sum(intents)}/{len(intents)}")
    if off_topic:
        print(f"off-topic rows that fell back: {sum(off_topic)}/{len(off_topic)}")
    print(f"median first reply: {statistics.median(lengths)} characters")
    if show_wrong:
        for item in wrong:
            print(*item, sep=" | ")


if __name__ == "__main__":
    main(Path(sys.argv[1]), "--wrong" in sys.argv[2:])
