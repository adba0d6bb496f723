"""The answering path's fallback: suggestions only when the message is about the clinic."""

from __future__ import annotations

import pytest

from handlers.answer import HUMAN_PAYLOAD, TOPIC_PREFIX, Answerer
from handlers.messages import ReplyKind


@pytest.mark.parametrize(
    "text", ["whats the weather tomorrow", "how do i make banana bread", "who won the game"]
)
def test_off_topic_gets_the_plain_fallback_and_a_human(answerer: Answerer, text: str) -> None:
    reply = answerer.answer(text)
    assert reply.kind is ReplyKind.FALLBACK
    assert [option.payload for option in reply.options] == [HUMAN_PAYLOAD]


def test_a_vague_clinic_question_gets_close_topics_and_a_human(answerer: Answerer) -> None:
    reply = answerer.answer("can u help w my back")
    assert reply.kind in {ReplyKind.FALLBACK, ReplyKind.FAQ}
    payloads = [option.payload for option in reply.options]
    assert payloads[-1] == HUMAN_PAYLOAD
    assert (
        f"{TOPIC_PREFIX}conditions.back_pain" in payloads or reply.topic == "conditions.back_pain"
    )


def test_the_json_contract(answerer: Answerer) -> None:
    data = answerer.answer("¿duele la acupuntura?").as_json()
    assert {"kind", "topic", "category", "lang", "score", "text", "sms"} <= set(data)
    assert (data["kind"], data["topic"], data["lang"]) == ("faq", "acupuncture.pain", "es")


def test_an_overdose_gets_911_and_poison_control_from_the_clinic_facts(answerer: Answerer) -> None:
    reply = answerer.answer("I took a whole bottle of my pain pills")
    assert (reply.kind, reply.category, reply.rule) == (
        "red_flag",
        "emergency",
        "poisoning.overdose_taken",
    )
    poison = answerer.content.clinic["poison_control"]
    assert poison in reply.text and poison in reply.sms and "911" in reply.sms


def test_the_safety_net_puts_a_careful_word_before_the_closest_answer(answerer: Answerer) -> None:
    reply = answerer.answer("i feel dizzy today, how long do the cupping marks last?")
    assert reply.category == "check" and reply.kind == "faq"
    assert reply.topic == "cupping.marks"
    careful = answerer.content.message("red_flag_check", "en")
    assert reply.text.startswith(careful.text + "\n\n")
