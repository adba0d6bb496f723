"""Requests in plain words guessed by the classifier: held-out accuracy, examples, and safety."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.db.models import Address, Patient
from bot.db.session import Database
from content.intent_examples import check_intents, load_intents
from handlers.alerts import LogAlerts
from handlers.conversation.answer import Answerer
from handlers.conversation.conversation import Conversation
from handlers.conversation.intents import Intent, intent_of
from handlers.conversation.onboarding import Onboarding
from handlers.conversation.pipeline import Pipeline
from handlers.messages import Channel, InboundMessage, ReplyKind
from handlers.wording import say
from tests.conftest import FakeClock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "eval"))
from score_intents import label_of  # noqa: E402

DEV = ROOT / "tests" / "eval" / "intents_dev.jsonl"
# Examples an earlier, surer reading takes another way on purpose, or by a set phrase.
EXCEPTIONS = {
    # The opt-out rules answer with how to stop when unsure: the safe side of a STOP.
    "Le ruego que me den de baja de estos avisos.": "how_to_stop",
    "cancelar suscripción": "how_to_stop",
    "desuscribirme": "how_to_stop",
    "stop the daily tips but keep everything else": "how_to_stop",
    # "no me manden mas" is a clear opt-out to the rules, whatever "kmo ago" asks.
    "kmo ago para q no me manden mas msj": "stop",
    # Set phrases: "real person" asks for one, "this in spanish" and "habla español" switch.
    "you a real person or what": "human",
    "why is this in spanish?? english!!": "language:es",
    "¿el acupunturista habla español?": "language:es",
    "what can i ask about acupuncture and stuff, show me the list": "help",
    # The FAQ's "para qué sirve" (what is acupuncture for) outscores the guess: "bot" is a word
    # the answers do not know, which the search lets a clear leader carry (a known weakness).
    "para qué sirve este bot": "none",
    # The FAQ fits better than the request: the booking answer, and "helo" read as a typo of
    # a word in the needles answer (as before the classifier).
    "What time is my appointment tomorrow?": "none",
    "¿Tengo alguna cita agendada?": "none",
    "helo": "none",
    # Too far from the other examples of their label to clear the margin over questions.
    "ayuda por favor, no le entiendo a esto": "none",
    "en español plis q no le entiendo": "none",
}
DEV_FLOOR = 0.73  # measured 132/178 = 0.742 (before the classifier: 81/178 = 0.455)
LANG_FLOOR = 0.72  # measured en 0.730, es 0.753
MAX_FALSE_INTENTS = 1  # of the 50 questions in the dev set, measured 1


@pytest.fixture(scope="module")
def dev_rows() -> list[dict[str, str]]:
    return [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line]


def test_the_dev_set_is_held_out_from_the_examples(dev_rows: list[dict[str, str]]) -> None:
    # Verbatim: the bank itself has a few pairs that fold alike ("menu" and "menú").
    examples = {text for texts in load_intents(ROOT / "content").values() for text in texts}
    assert [row["text"] for row in dev_rows if row["text"] in examples] == []


def test_the_dev_set_is_understood_at_its_floor_and_questions_stay_questions(
    answerer: Answerer, dev_rows: list[dict[str, str]]
) -> None:
    got = [(row, label_of(answerer, row["text"])) for row in dev_rows]
    right = [row["expect"] == label for row, label in got]
    assert sum(right) / len(right) >= DEV_FLOOR
    for lang in ("en", "es"):
        own = [row["expect"] == label for row, label in got if row["lang"] == lang]
        assert sum(own) / len(own) >= LANG_FLOOR
    hijacked = [row["text"] for row, label in got if row["expect"] == "none" and label != "none"]
    assert len(hijacked) <= MAX_FALSE_INTENTS


def test_every_example_is_read_as_its_own_label_but_the_documented_ones(
    answerer: Answerer,
) -> None:
    wrong = {
        text: label_of(answerer, text)
        for label, texts in load_intents(ROOT / "content").items()
        for text in texts
        if label_of(answerer, text) != label
    }
    assert {text: got for text, got in wrong.items() if EXCEPTIONS.get(text) != got} == {}


@pytest.mark.parametrize(
    "question",
    [
        "can acupuncture help me stop smoking",
        "can I start acupuncture while on blood thinners",
        "thanks but how much is cupping",
        "translate good morning to french",
    ],
)
def test_a_question_the_faq_answers_is_not_a_request(answerer: Answerer, question: str) -> None:
    assert intent_of(question, answerer.guess_request) is None
    assert answerer.answer(question).kind in {ReplyKind.FAQ, ReplyKind.FALLBACK}


def test_content_check_names_an_unknown_label_and_an_example_under_two(tmp_path: Path) -> None:
    (tmp_path / "intents").mkdir()
    (tmp_path / "intents" / "en.yaml").write_text(
        "human: [get me a person]\nstop: [Get me a person!]\nfarewell: [bye]\n", "utf-8"
    )
    (tmp_path / "intents" / "es.yaml").write_text("human: [una persona]\n", "utf-8")
    problems = [p.message for p in check_intents(tmp_path)]
    assert problems == [
        "example 'Get me a person!' is under 'human' too",
        "unknown label 'farewell'",
    ]


@pytest.fixture
def pipeline(db: Database, answerer: Answerer, clock: FakeClock) -> Pipeline:
    conversation = Conversation(db, answerer, clock=clock, alerts=LogAlerts())
    zone = "America/Los_Angeles"
    onboarding = Onboarding(answerer.content, zone)
    return Pipeline(db, conversation, onboarding=onboarding, clock=clock, clinic_zone=zone)


async def _say(pipeline: Pipeline, clock: FakeClock, text: str) -> list[str]:
    replies = await pipeline.handle(InboundMessage("tel:+15035550101", Channel.SMS, text, clock()))
    return [reply.sms for reply in replies]


async def test_a_guessed_erase_request_erases_nothing_and_triage_comes_first(
    db: Database, pipeline: Pipeline, clock: FakeClock, answerer: Answerer
) -> None:
    guessed = intent_of("i want to be forgotten", answerer.guess_request)
    assert guessed is not None and guessed.intent is Intent.FORGET and guessed.guessed
    [elsewhere] = await _say(pipeline, clock, "i want to be forgotten")
    assert elsewhere == answerer.content.message("privacy_forget_elsewhere", "en").sms
    red = "I have crushing chest pain and can't breathe, i want to be forgotten"
    replies = await _say(pipeline, clock, red)
    assert replies[0] == answerer.content.message("red_flag_emergency", "en").sms
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Patient)) == 1


async def test_a_guessed_opt_out_in_a_chat_is_told_the_command_and_stops_nothing(
    db: Database, pipeline: Pipeline, clock: FakeClock, answerer: Answerer
) -> None:
    urn = "telegram:5550102"
    message = InboundMessage(urn, Channel.TELEGRAM, "enough, leave me be", clock())
    replies = await pipeline.handle(message)
    assert say(answerer.content, "chat_how_to_stop", "en").text in [r.text for r in replies]
    async with db.session() as session:
        when = await session.scalar(select(Address.opted_out_at).where(Address.urn == urn))
    assert when is None
