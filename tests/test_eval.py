"""The labelled dev set through the whole answering path, against the issue's targets.

Each message goes through `Answerer.answer` with no language given, as `clinicbot ask` does:
language detection, red-flag triage, small talk, FAQ search and fallback.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from handlers.conversation.answer import Answerer, Reply

ROOT = Path(__file__).resolve().parents[1]


def _rows(group: str, name: str = "dev.jsonl") -> list[dict[str, Any]]:
    lines = (ROOT / "tests" / "eval" / name).read_text(encoding="utf-8").splitlines()
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


def test_the_median_first_reply_fits_a_phone_screen(replies: dict[str, Reply]) -> None:
    # Issue #15: the median first reply on Telegram (the Markdown text) is at most 350 characters.
    assert statistics.median(len(reply.text) for reply in replies.values()) <= 350


# The blind texting-style set (tests/eval/faq_dev.jsonl, written without seeing the content):
# topic rows by topic id, intent rows (answered by the conversation pipeline, not here) and
# off-topic rows. First run, before tuning on it: en 200/218, es 113/121.
FAQ_DEV = "faq_dev.jsonl"
FAQ_DEV_TOP1 = {"en": 0.97, "es": 0.99}


@pytest.fixture(scope="module")
def faq_replies(answerer: Answerer) -> dict[str, Reply]:
    rows = [row for group in ("topic", "intent", "off_topic") for row in _rows(group, FAQ_DEV)]
    return {row["text"]: answerer.answer(row["text"]) for row in rows}


@pytest.mark.parametrize("lang", ["en", "es"])
def test_blind_dev_top1_accuracy(faq_replies: dict[str, Reply], lang: str) -> None:
    rows = [row for row in _rows("topic", FAQ_DEV) if row["lang"] == lang]
    wrong = [
        (row["text"], row["topic"], faq_replies[row["text"]].topic)
        for row in rows
        if (faq_replies[row["text"]].kind, faq_replies[row["text"]].topic) != ("faq", row["topic"])
    ]
    assert 1 - len(wrong) / len(rows) >= FAQ_DEV_TOP1[lang], wrong


def test_blind_dev_intents_are_rarely_answered_with_a_topic(
    faq_replies: dict[str, Reply],
) -> None:
    rows = _rows("intent", FAQ_DEV)
    answered = [row["text"] for row in rows if faq_replies[row["text"]].kind == "faq"]
    assert len(answered) / len(rows) <= 0.10, answered


def test_blind_dev_off_topic_messages_fall_back(faq_replies: dict[str, Reply]) -> None:
    rows = _rows("off_topic", FAQ_DEV)
    assert all(faq_replies[row["text"]].kind == "fallback" for row in rows)
