"""The conversation core: one path for every channel, with safety events and a private log."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from bot.db.models import Address, MessageLog, PainScore, Patient, SafetyEvent
from bot.db.session import Database
from bot.logs import configure_logging
from handlers.conversation.answer import Answerer
from handlers.conversation.conversation import Conversation
from handlers.messages import Channel, InboundMessage, ReplyKind
from tests.conftest import FakeClock


class RecordingAlerts:
    """An AlertSink that keeps what it was told."""

    def __init__(self) -> None:
        self.red_flags: list[tuple[int, str, Channel]] = []

    async def red_flag(self, *, patient_id: int, category: str, channel: Channel) -> None:
        self.red_flags.append((patient_id, category, channel))


@pytest.fixture
def alerts() -> RecordingAlerts:
    return RecordingAlerts()


@pytest.fixture
def conversation(
    db: Database, answerer: Answerer, clock: FakeClock, alerts: RecordingAlerts
) -> Conversation:
    return Conversation(db, answerer, clock=clock, alerts=alerts)


def _message(
    clock: FakeClock,
    text: str | None,
    *,
    address: str = "telegram:1001",
    payload: str | None = None,
) -> InboundMessage:
    return InboundMessage(
        address=address, channel=Channel.TELEGRAM, text=text, received_at=clock(), payload=payload
    )


async def test_a_question_gets_the_clinic_answer_and_is_logged_without_its_text(
    conversation: Conversation, db: Database, clock: FakeClock
) -> None:
    [reply] = await conversation.handle(_message(clock, "how long do the cupping marks last"))
    assert reply.kind is ReplyKind.FAQ and reply.topic == "cupping.marks"
    assert any(option.payload == "human" for option in reply.options)
    async with db.session() as session:
        logged = (
            (await session.execute(select(MessageLog).order_by(MessageLog.id))).scalars().all()
        )
    assert [(m.direction, m.status, m.kind, m.topic) for m in logged] == [
        ("in", "received", None, None),
        ("out", "replied", "faq", "cupping.marks"),
    ]
    assert all(m.body is None for m in logged)


async def test_bodies_are_stored_only_when_configured(
    db: Database, answerer: Answerer, clock: FakeClock, alerts: RecordingAlerts
) -> None:
    conversation = Conversation(db, answerer, clock=clock, alerts=alerts, store_bodies=True)
    await conversation.handle(_message(clock, "do you take insurance"))
    async with db.session() as session:
        bodies = (
            (await session.execute(select(MessageLog.body).order_by(MessageLog.id)))
            .scalars()
            .all()
        )
    assert bodies[0] == "do you take insurance" and bodies[1]


async def test_a_red_flag_is_answered_recorded_and_alerted_without_faq_content(
    conversation: Conversation, db: Database, clock: FakeClock, alerts: RecordingAlerts
) -> None:
    [reply] = await conversation.handle(
        _message(
            clock,
            "hi, since yesterday i'm numb between my legs and can't pee, "
            "can i still come thursday?",
        )
    )
    assert reply.kind is ReplyKind.RED_FLAG and reply.category == "emergency"
    assert "911" in reply.text and "911" in reply.sms
    assert reply.topic is None and reply.options == ()
    async with db.session() as session:
        events = (await session.execute(select(SafetyEvent))).scalars().all()
        patient_id = await session.scalar(select(Patient.id))
    assert [(e.category, e.channel, e.patient_id) for e in events] == [
        ("emergency", "telegram", patient_id)
    ]
    assert alerts.red_flags == [(patient_id, "emergency", Channel.TELEGRAM)]


async def test_a_present_symptom_no_rule_names_gets_a_careful_word_and_is_recorded(
    conversation: Conversation, db: Database, clock: FakeClock, alerts: RecordingAlerts
) -> None:
    [reply] = await conversation.handle(
        _message(
            clock, "i have been throwing up since this morning, how long do cupping marks last"
        )
    )
    assert reply.category == "check"
    assert reply.text.startswith("I can't tell from a message how serious this is.")
    assert "911" in reply.sms
    async with db.session() as session:
        events = (await session.execute(select(SafetyEvent))).scalars().all()
    assert [(e.category, e.rule) for e in events] == [("check", "check.symptom")]
    assert alerts.red_flags == []  # the safety net is recorded, not alerted


async def test_the_same_address_is_the_same_patient(
    conversation: Conversation, db: Database, clock: FakeClock
) -> None:
    await conversation.handle(_message(clock, "hello"))
    await conversation.handle(_message(clock, "how much is a visit"))
    await conversation.handle(_message(clock, "hello", address="tel:+15035550199"))
    async with db.session() as session:
        patients = (await session.execute(select(Patient))).scalars().all()
    assert len(patients) == 2


async def test_writing_again_makes_an_unreachable_address_reachable(
    conversation: Conversation, db: Database, clock: FakeClock
) -> None:
    await conversation.handle(_message(clock, "hello"))
    async with db.session() as session, session.begin():
        address = await session.scalar(select(Address))
        assert address is not None
        address.reachable, address.unreachable_reason = False, "blocked"
    await conversation.handle(_message(clock, "hello again"))
    async with db.session() as session:
        address = await session.scalar(select(Address))
    assert address is not None and address.reachable and address.unreachable_reason is None


@pytest.mark.parametrize("text", [None, "", "   "])
async def test_a_sticker_or_empty_message_gets_a_polite_reply(
    conversation: Conversation, clock: FakeClock, text: str | None
) -> None:
    [reply] = await conversation.handle(_message(clock, text))
    assert reply.kind is ReplyKind.NON_TEXT and "text" in reply.text


async def test_quick_replies_stale_buttons_and_a_human(
    conversation: Conversation, clock: FakeClock
) -> None:
    [reply] = await conversation.handle(_message(clock, None, payload="topic:cupping.marks"))
    assert reply.kind is ReplyKind.FAQ and reply.topic == "cupping.marks"
    [stale] = await conversation.handle(_message(clock, None, payload="topic:retired.topic"))
    assert stale.kind is ReplyKind.FALLBACK
    [forged] = await conversation.handle(_message(clock, None, payload="x" * 500))
    assert forged.kind is ReplyKind.FALLBACK
    [human] = await conversation.handle(_message(clock, None, payload="human"))
    assert human.kind is ReplyKind.HUMAN and "(503) 555-0142" in human.text


async def test_a_five_thousand_character_message_is_answered(
    conversation: Conversation, clock: FakeClock
) -> None:
    [reply] = await conversation.handle(
        _message(clock, "does acupuncture hurt? " + "blah " * 1000)
    )
    assert reply.kind in {ReplyKind.FAQ, ReplyKind.FALLBACK}
    [flag] = await conversation.handle(
        _message(clock, "blah " * 1000 + " and now i have chest pain")
    )
    assert flag.kind is ReplyKind.RED_FLAG  # triage reads the whole message


async def test_logs_carry_ids_never_text_or_phone_numbers(
    conversation: Conversation, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    configure_logging("DEBUG")
    caplog.set_level(logging.DEBUG)
    secret = "my neighbour Bob says needles are reused"
    await conversation.handle(_message(clock, secret, address="tel:+15035550123"))
    await conversation.handle(
        _message(clock, "suddenly i can't feel my legs", address="tel:+15035550123")
    )
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "patient=" in logged and "reply=red_flag" in logged
    for private in ("Bob", "neighbour", "reused", "legs", "+15035550123", "5035550123"):
        assert private not in logged


async def _asked_for_a_pain_score(
    conversation: Conversation, db: Database, clock: FakeClock
) -> None:
    """Make a patient who was just asked the day-after 0-10 question (appointment 7)."""
    await conversation.handle(_message(clock, "hello"))
    async with db.session() as session, session.begin():
        patient = await session.scalar(select(Patient))
        assert patient is not None
        patient.pending_question, patient.pending_since = "pain_score:7", clock()


async def test_a_pain_score_answers_the_day_after_question_once(
    conversation: Conversation, db: Database, clock: FakeClock
) -> None:
    await _asked_for_a_pain_score(conversation, db, clock)
    clock.advance(hours=2)
    [thanks] = await conversation.handle(_message(clock, "about a 4"))
    assert thanks.kind is ReplyKind.PAIN_SCORE and "4/10" in thanks.text
    [later] = await conversation.handle(_message(clock, "5"))
    assert later.kind is not ReplyKind.PAIN_SCORE  # the question was answered already
    async with db.session() as session:
        scores = (await session.execute(select(PainScore.score, PainScore.appointment_id))).all()
        pending = await session.scalar(select(Patient.pending_question))
    assert [tuple(row) for row in scores] == [(4, None)]  # appointment 7 does not exist
    assert pending is None


async def test_a_red_flag_beats_a_pending_pain_score(
    conversation: Conversation, db: Database, clock: FakeClock
) -> None:
    await _asked_for_a_pain_score(conversation, db, clock)
    [reply] = await conversation.handle(_message(clock, "10, and now I can't feel my legs"))
    assert reply.kind is ReplyKind.RED_FLAG and reply.category == "emergency"
