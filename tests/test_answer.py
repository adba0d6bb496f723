"""The answering path's fallback: suggestions only when the message is about the clinic."""

from __future__ import annotations

import pytest

from handlers.conversation.answer import HUMAN_PAYLOAD, MORE_PREFIX, TOPIC_PREFIX, Answerer
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


OFF_TOPIC = [
    "whats the weather tomorrow",
    "how do i make banana bread",
    "who won the game",
    "recommend a podcast",
    "what is the capital of france",
    "cual es la capital de peru",
]


def test_fallback_wording_is_deterministic_and_varies(answerer: Answerer) -> None:
    first = [answerer.answer(text).text for text in OFF_TOPIC]
    assert first == [answerer.answer(text).text for text in OFF_TOPIC]  # no randomness
    assert len(set(first)) >= 2  # not one sentence word for word
    # The same message again, after a miss, reads differently.
    text = OFF_TOPIC[0]
    assert answerer.answer(text, "en", misses=1).text != answerer.answer(text, "en").text


def test_the_second_miss_in_a_row_offers_a_human_first(answerer: Answerer) -> None:
    keys = ("fallback_human", "fallback_human_2")
    for lang, text in (("en", "how do i make banana bread"), ("es", "cual es la capital de peru")):
        first = answerer.answer(text, lang, misses=0)
        second = answerer.answer(text, lang, misses=1)
        assert first.kind is second.kind is ReplyKind.FALLBACK
        assert first.options[-1].payload == HUMAN_PAYLOAD
        assert second.options[0].payload == HUMAN_PAYLOAD
        assert second.text in {answerer.content.message(k, lang).text for k in keys}
        assert first.text not in {answerer.content.message(k, lang).text for k in keys}


def test_a_fallback_offers_two_close_topics_at_most(answerer: Answerer) -> None:
    for text in ("can u help w my back", "needles", "cupping?", "insurance medicare medicaid"):
        reply = answerer.answer(text)
        if reply.kind is ReplyKind.FALLBACK:
            topics = [o for o in reply.options if o.payload.startswith(TOPIC_PREFIX)]
            assert len(topics) <= 2, text


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("can acupuncture help me lose weight", "conditions.weight_loss"),
        ("does acupunture hurt", "acupuncture.pain"),
        ("i have a cold should i still come", "visit.when_sick"),
        ("tengo medicaid", "billing.medicaid"),
        ("aceptan medicare", "billing.medicare"),
        ("do i need to change my medication", "medication"),
        ("r u open 2day", "clinic.hours_location"),
        ("how many sesh", "sessions.count"),
    ],
)
def test_the_right_topic_not_a_neighbour(answerer: Answerer, text: str, topic: str) -> None:
    reply = answerer.answer(text)
    assert (reply.kind, reply.topic) == (ReplyKind.FAQ, topic)


@pytest.mark.parametrize(
    "text", ["quiero hablar con una persona", "stop texting me pls", "español por favor"]
)
def test_words_shared_with_no_clinic_topic_are_not_answered_with_one(
    answerer: Answerer, text: str
) -> None:
    # "persona" and "español" appear on the practitioners' page, but say nothing clinical.
    assert answerer.answer(text).kind is not ReplyKind.FAQ


def test_two_questions_answer_the_first_and_offer_the_second(answerer: Answerer) -> None:
    for text, lang in (
        ("how much is a follow up visit and do you take insurance", "en"),
        ("cuanto cuesta la consulta? y aceptan seguro", "es"),
    ):
        reply = answerer.answer(text)
        assert (reply.kind, reply.topic, reply.lang) == (ReplyKind.FAQ, "pricing", lang)
        payloads = [option.payload for option in reply.options]
        assert payloads[:2] == [f"{MORE_PREFIX}pricing", f"{TOPIC_PREFIX}billing.insurance"]


def test_a_runner_up_nearly_as_close_is_offered_beside_more(answerer: Answerer) -> None:
    found = 0
    for text in (
        "can i get acupuncture with a pacemaker",
        "is electro acupuncture ok with my implant",
    ):
        reply = answerer.answer(text)
        assert reply.kind is ReplyKind.FAQ and reply.options[0].payload.startswith(MORE_PREFIX)
        found += f"{TOPIC_PREFIX}acupuncture.electro" in [o.payload for o in reply.options[1:2]]
        found += f"{TOPIC_PREFIX}safety.pacemaker" in [o.payload for o in reply.options[1:2]]
    assert found >= 1
