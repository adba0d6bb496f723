"""Intents in commands, keywords and plain words, and the language the patient is answered in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db.models import Patient
from bot.db.session import Database
from handlers.alerts import LogAlerts
from handlers.conversation.answer import Answerer
from handlers.conversation.conversation import Conversation
from handlers.conversation.intents import Intent, intent_of
from handlers.conversation.onboarding import Onboarding
from handlers.conversation.pipeline import Pipeline
from handlers.messages import Channel, InboundMessage
from handlers.patients.language_memory import clear_language, reply_language
from tests.conftest import FakeClock

BLIND = Path(__file__).parent / "eval" / "faq_dev.jsonl"


@pytest.mark.parametrize(
    ("text", "intent", "value"),
    [
        ("/stop", Intent.STOP, None),
        ("/reminders@clinic_bot", Intent.REMINDERS, None),
        ("/nonsense", Intent.HELP, None),
        ("STOP", Intent.STOP, None),
        ("Alto", Intent.STOP, None),
        ("please stop texting me", Intent.STOP, None),
        ("how do I stop the reminders?", Intent.HOW_TO_STOP, None),
        ("START", Intent.START, None),
        ("SÍ", Intent.YES, None),
        ("MORE", Intent.MORE, None),
        ("más", Intent.MORE, None),
        ("can I talk to a real person please", Intent.HUMAN, None),
        ("I want to speak to someone", Intent.HUMAN, None),
        ("quiero hablar con una persona", Intent.HUMAN, None),
        ("are you a robot?", Intent.BOT, None),
        ("¿eres un robot?", Intent.BOT, None),
        ("español", Intent.LANGUAGE, "es"),
        ("and in english please?", Intent.LANGUAGE, "en"),
        ("habla inglés?", Intent.LANGUAGE, "en"),
        ("what can you do", Intent.HELP, None),
        ("menu", Intent.MENU, None),
    ],
)
def test_commands_keywords_and_plain_words(text: str, intent: Intent, value: str | None) -> None:
    found = intent_of(text)
    assert found is not None and found.intent is intent and found.value == value


@pytest.mark.parametrize(
    "text",
    [
        "does acupuncture hurt",
        "should I stop my blood thinner before cupping?",
        "I want to talk to someone about my pain and how it affects my life at work and home",
        "is it safe to talk to my doctor about acupuncture",
        "do you have spanish speaking practitioners on saturdays and is there parking nearby",
        "TIPS ON",
    ],
)
def test_questions_are_not_taken_for_requests(text: str) -> None:
    assert intent_of(text) is None


def test_the_blind_dev_sets_requests_are_understood_and_questions_left_alone() -> None:
    rows = [json.loads(line) for line in BLIND.read_text(encoding="utf-8").splitlines() if line]
    asks = [row for row in rows if row["group"] == "intent"]
    small_talk = {"intent.thanks", "intent.greeting"}  # answered by the core's small talk
    understood = []
    for row in asks:
        found = intent_of(row["text"])
        want = row["topic"].removeprefix("intent.")
        if row["topic"] in small_talk:
            understood.append(found is None)
        else:
            got = found.intent.value if found else None
            understood.append(got == want or (want == "help" and got == "menu"))
    assert sum(understood) / len(asks) >= 0.95
    questions = [row["text"] for row in rows if row["group"] != "intent"]
    assert [text for text in questions if intent_of(text) is not None] == []


def test_the_remembered_language_changes_only_on_clear_evidence() -> None:
    assert clear_language("hola, ¿cuánto cuesta una sesión?") == "es"
    assert clear_language("ok") is None and clear_language("10") is None
    assert reply_language(None, "does it hurt", clear_language("does it hurt")) == "en"
    assert reply_language("es", "ok", None) == "es"
    assert reply_language("en", "gracias", "es") == "en"  # one word is not a switch
    assert reply_language("en", "SÍ", "es", keyword=True) == "es"
    assert reply_language("en", "cuánto cuesta", "es") == "es"


async def test_a_mixed_language_conversation_gets_no_reply_in_the_wrong_language(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    conversation = Conversation(db, answerer, clock=clock, alerts=LogAlerts())
    zone = "America/Los_Angeles"
    pipeline = Pipeline(
        db,
        conversation,
        onboarding=Onboarding(answerer.content, zone),
        clock=clock,
        clinic_zone=zone,
    )
    said = [
        ("hola, ¿cuánto cuesta una sesión?", "es"),
        ("SÍ", "es"),
        ("ok", "es"),
        ("¿duele la acupuntura?", "es"),
        ("10", "es"),
        ("how long do the needles stay in?", "en"),
        ("thanks", "en"),
        ("en español por favor", "es"),
        ("gracias", "es"),
        ("do you take insurance", "en"),
        ("HELP", "en"),
    ]
    wrong = []
    for text, expected in said:
        message = InboundMessage("tel:+15035550100", Channel.SMS, text, clock())
        replies = await pipeline.handle(message)
        wrong += [(text, reply.lang) for reply in replies if reply.lang != expected]
    assert wrong == []
    async with db.session() as session:
        patient = (await session.scalars(select(Patient))).one()
    assert patient.language == "en"  # the last clear message was English
