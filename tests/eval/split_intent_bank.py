"""Split the blind intent bank into the classifier's examples and a held-out dev set, once.

    .venv/bin/python tests/eval/split_intent_bank.py BANK.jsonl

Within each label and language the rows are ordered by the CRC-32 of their text and every
fourth goes to tests/eval/intents_dev.jsonl; the rest become content/intents/{lang}.yaml. The
same bank always gives the same split. Dev rows are for measuring: never copy them into the
examples.
"""

from __future__ import annotations

import json
import sys
import zlib
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEV_SHARE = 4  # every fourth row of a label is held out
HEADER = """\
# What patients write when they ask the bot to do something, by intent ({lang}).
# The intent classifier (handlers/conversation/intent_classifier.py) compares a short
# message with these examples; `none` holds questions and stories that only look like
# requests and must be answered instead. Add real phrasings freely; never copy rows of
# tests/eval/intents_dev.jsonl.
# Labels: {labels}.
"""


def main(bank: Path) -> None:
    """Write the examples files and the dev set."""
    rows = [json.loads(line) for line in bank.read_text(encoding="utf-8").splitlines() if line]
    groups: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        groups[(row["lang"], row["expect"])].append(row)
    examples: dict[str, dict[str, list[str]]] = defaultdict(dict)
    dev = []
    for (lang, label), members in groups.items():
        ordered = sorted(members, key=lambda r: zlib.crc32(r["text"].encode()))
        kept = [r["text"] for i, r in enumerate(ordered) if i % DEV_SHARE != DEV_SHARE - 1]
        dev += [r for i, r in enumerate(ordered) if i % DEV_SHARE == DEV_SHARE - 1]
        examples[lang][label] = kept
    labels = sorted({label for _, label in groups})
    for lang, by_label in sorted(examples.items()):
        path = ROOT / "content" / "intents" / f"{lang}.yaml"
        body = yaml.safe_dump(
            {label: by_label[label] for label in labels if label in by_label},
            allow_unicode=True,
            sort_keys=False,
            width=100,
        )
        path.write_text(HEADER.format(lang=lang, labels=", ".join(labels)) + body, "utf-8")
    order = {row["text"]: i for i, row in enumerate(rows)}
    dev.sort(key=lambda r: order[r["text"]])
    lines = [json.dumps(row, ensure_ascii=False) for row in dev]
    (ROOT / "tests" / "eval" / "intents_dev.jsonl").write_text("\n".join(lines) + "\n", "utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
