"""Short answer first: the short form with "More", the full answer on request, and its button."""

from __future__ import annotations

import pytest

from bot.db.session import Database
from content.check import MAX_SHORT_CHARS
from handlers.alerts import AlertSink
from handlers.conversation.answer import HUMAN_PAYLOAD, MORE_PREFIX, TOPIC_PREFIX, Answerer
from handlers.conversation.conversation import Conversation
from handlers.messages import Channel, InboundMessage, ReplyKind
from tests.conftest import FakeClock


class NoAlerts:
    """An AlertSink for conversations that raise none."""

    async def red_flag(self, *, patient_id: int, category: str, channel: Channel) -> None:
        raise AssertionError("no red flag expected")


def test_the_first_reply_is_the_short_form_with_more_first(answerer: Answerer) -> None:
    reply = answerer.answer("does acupuncture hurt")
    answer = answerer.content.answer("acupuncture.pain", "en")
    assert answer is not None and reply.topic == "acupuncture.pain"
    assert reply.text == f"**{answer.title}**\n\n{answer.short}"
    assert answer.body not in reply.text
    more = reply.options[0]
    assert (more.label, more.payload) == ("More", f"{MORE_PREFIX}acupuncture.pain")
    assert reply.options[-1].payload == HUMAN_PAYLOAD
    assert reply.sms == answer.sms  # SMS keeps its own text


def test_the_more_label_is_in_the_patients_language(answerer: Answerer) -> None:
    reply = answerer.answer("¿duele la acupuntura?")
    assert reply.lang == "es" and reply.options[0].label == "Ver más"


def test_more_gives_the_full_answer_with_related_topics_and_a_human(answerer: Answerer) -> None:
    full = answerer.more("cupping.marks", "es")
    answer = answerer.content.answer("cupping.marks", "es")
    assert full is not None and answer is not None
    assert full.kind is ReplyKind.FAQ and full.topic == "cupping.marks" and full.lang == "es"
    assert full.text == f"**{answer.title}**\n\n{answer.body}"
    payloads = [option.payload for option in full.options]
    assert payloads == [*(TOPIC_PREFIX + r for r in answer.related), HUMAN_PAYLOAD]
    assert answerer.more("no.such.topic", "en") is None


def test_every_topic_is_shorter_first_than_in_full(answerer: Answerer) -> None:
    for lang, answers in answerer.content.answers.items():
        for topic, answer in answers.items():
            short, full = answerer.topic(topic, lang), answerer.more(topic, lang)
            assert short is not None and full is not None
            assert len(answer.short) <= MAX_SHORT_CHARS, (lang, topic)
            assert len(short.text) < len(full.text), (lang, topic)


def test_a_related_topic_button_also_gives_the_short_form(answerer: Answerer) -> None:
    reply = answerer.topic("billing.medicare", "en")
    assert reply is not None
    assert reply.options[0].payload == f"{MORE_PREFIX}billing.medicare"


@pytest.fixture
def conversation(db: Database, answerer: Answerer, clock: FakeClock) -> Conversation:
    alerts: AlertSink = NoAlerts()
    return Conversation(db, answerer, clock=clock, alerts=alerts)


def _pick(clock: FakeClock, payload: str) -> InboundMessage:
    return InboundMessage(
        address="telegram:2002",
        channel=Channel.TELEGRAM,
        text=None,
        received_at=clock(),
        payload=payload,
    )


async def test_picking_more_in_a_conversation_gives_the_full_answer(
    conversation: Conversation, answerer: Answerer, clock: FakeClock
) -> None:
    [first] = await conversation.handle(_pick(clock, f"{TOPIC_PREFIX}visit.when_sick"))
    assert first.options[0].payload == f"{MORE_PREFIX}visit.when_sick"
    [full] = await conversation.handle(_pick(clock, first.options[0].payload))
    answer = answerer.content.answer("visit.when_sick", "en")
    assert answer is not None
    assert full.kind is ReplyKind.FAQ and full.topic == "visit.when_sick"
    assert answer.body in full.text and answer.body not in first.text


async def test_a_forged_more_button_gets_the_fallback(
    conversation: Conversation, clock: FakeClock
) -> None:
    [reply] = await conversation.handle(_pick(clock, f"{MORE_PREFIX}no.such.topic"))
    assert reply.kind is ReplyKind.FALLBACK
