"""`clinicbot chat`: the terminal channel drives the same core as every other channel."""

from __future__ import annotations

from bot.channels.terminal import TerminalChat
from bot.db.session import Database
from handlers.alerts import LogAlerts
from handlers.answer import Answerer
from handlers.conversation import Conversation
from tests.conftest import FakeClock


async def test_a_patient_chats_picks_a_topic_and_quits(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    typed = iter(["hi", "do cupping marks go away?", "1", "/quit", "never read"])
    shown: list[str] = []

    def read(prompt: str) -> str:
        return next(typed)

    conversation = Conversation(db, answerer, clock=clock, alerts=LogAlerts())
    await TerminalChat(conversation, clock=clock, read=read, write=shown.append).run()
    greeting, answer, picked = shown[1:]
    assert "not medical advice" in greeting and "911" in greeting
    assert answer.startswith("bot> What are the round marks from cupping")
    assert "  1. " in answer and "(type a number to choose)" in answer
    assert "**" not in answer
    assert picked.startswith("bot> ") and picked != answer
    assert next(typed) == "never read"


async def test_end_of_input_leaves_quietly(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    def read(prompt: str) -> str:
        raise EOFError

    shown: list[str] = []
    conversation = Conversation(db, answerer, clock=clock, alerts=LogAlerts())
    await TerminalChat(conversation, clock=clock, read=read, write=shown.append).run()
    assert shown[-1] == ""
