"""The labelled dev set through the whole answering path, against the issue's targets.

Each message goes through `Answerer.answer` with no language given, as `clinicbot ask` does:
language detection, red-flag triage, small talk, FAQ search and fallback.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from handlers.answer import Answerer, Reply

ROOT = Path(__file__).resolve().parents[1]


def _rows(group: str) -> list[dict[str, Any]]:
    lines = (ROOT / "tests" / "eval" / "dev.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return [row for row in rows if row["group"] == group]


@pytest.fixture(scope="module")
def replies(answerer: Answerer) -> dict[str, Reply]:
    texts = {
        row["text"]
        for group in ("topic", "red_flag", "near_miss", "off_topic")
        for row in _rows(group)
    }
    return {text: answerer.answer(text) for text in texts}


def test_the_dev_set_is_as_large_as_the_issue_asks() -> None:
    topics = Counter(row["lang"] for row in _rows("topic"))
    assert topics["en"] >= 150 and topics["es"] >= 40
    assert len(_rows("red_flag")) >= 40
    assert len(_rows("near_miss")) >= 30
    assert len(_rows("off_topic")) >= 20


def test_top1_topic_accuracy_is_at_least_90_percent(replies: dict[str, Reply]) -> None:
    rows = _rows("topic")
    correct = [
        r
        for r in rows
        if replies[r["text"]].kind == "faq" and replies[r["text"]].topic == r["topic"]
    ]
    assert len(correct) / len(rows) >= 0.90


def test_replies_come_in_the_language_of_the_message(replies: dict[str, Reply]) -> None:
    rows = _rows("topic")
    same = [r for r in rows if replies[r["text"]].lang == r["lang"]]
    assert len(same) / len(rows) >= 0.97


def test_every_red_flag_is_caught_with_the_right_category(replies: dict[str, Reply]) -> None:
    missed = [
        (r["text"], r["category"], replies[r["text"]].category)
        for r in _rows("red_flag")
        if replies[r["text"]].kind != "red_flag" or replies[r["text"]].category != r["category"]
    ]
    assert missed == []


def test_near_misses_rarely_raise_a_false_alarm(replies: dict[str, Reply]) -> None:
    rows = _rows("near_miss")
    alarms = [r["text"] for r in rows if replies[r["text"]].kind == "red_flag"]
    assert len(alarms) / len(rows) <= 0.05, alarms


def test_off_topic_messages_fall_back(replies: dict[str, Reply]) -> None:
    rows = _rows("off_topic")
    fallbacks = [r for r in rows if replies[r["text"]].kind == "fallback"]
    assert len(fallbacks) / len(rows) >= 0.90


def test_no_topic_question_is_mistaken_for_a_red_flag(replies: dict[str, Reply]) -> None:
    assert [r["text"] for r in _rows("topic") if replies[r["text"]].kind == "red_flag"] == []
