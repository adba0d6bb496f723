"""`clinicbot chat`: the terminal is a full channel on the one pipeline, driven as a patient."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select

from bot.channels.terminal import TerminalChat
from bot.db.models import ConsentEvent, Patient
from bot.db.session import Database
from handlers.alerts import LogAlerts
from handlers.conversation.answer import Answerer
from handlers.conversation.conversation import Conversation
from handlers.conversation.onboarding import Onboarding
from handlers.conversation.pipeline import Pipeline
from tests.conftest import FakeClock

ZONE = "America/Los_Angeles"


class Terminal:
    """A patient at the keyboard: type a line, read what the bot printed since."""

    def __init__(self, db: Database, answerer: Answerer, clock: FakeClock, tmp: Path) -> None:
        conversation = Conversation(db, answerer, clock=clock, alerts=LogAlerts())
        onboarding = Onboarding(answerer.content, ZONE)
        pipeline = Pipeline(db, conversation, onboarding=onboarding, clock=clock, clinic_zone=ZONE)
        self.shown: list[str] = []
        self.chat = TerminalChat(
            pipeline, clock=clock, read=self._read, write=self.shown.append, downloads=tmp
        )
        self._lines: Iterator[str] = iter(())

    def _read(self, prompt: str) -> str:
        line = next(self._lines, None)
        if line is None:
            raise EOFError  # the end of what this step typed
        return line

    async def type(self, *lines: str) -> str:
        """Type lines (then end of input); return everything the bot printed for them."""
        before = len(self.shown)
        self._lines = iter(lines)
        await self.chat.run()
        return "\n".join(self.shown[before + 1 :])  # past the greeting


def _number_of(output: str, label: str) -> str:
    """Return the number shown before a choice's label."""
    for line in output.splitlines():
        number, _, rest = line.strip().partition(". ")
        if number.isdigit() and rest.startswith(label):
            return number
    raise AssertionError(f"no choice {label!r} in {output!r}")


async def test_the_greeting_shows_examples_and_how_to_leave(
    db: Database, answerer: Answerer, clock: FakeClock, tmp_path: Path
) -> None:
    terminal = Terminal(db, answerer, clock, tmp_path)
    await terminal.type()
    greeting = terminal.shown[0]
    assert "Does acupuncture hurt?" in greeting and "/quit" in greeting and "Ctrl-C" in greeting
    assert terminal.shown[-1] == ""  # end of input leaves quietly


async def test_onboarding_with_consent_by_numbers_and_words(
    db: Database, answerer: Answerer, clock: FakeClock, tmp_path: Path
) -> None:
    t = Terminal(db, answerer, clock, tmp_path)
    out = await t.type("/start")
    assert "(type a number to choose)" in out
    out = await t.type(_number_of(out, "English"))
    out = await t.type("yes")  # appointment reminders: a typed yes answers the question
    out = await t.type(_number_of(out, "Yes"))  # tips
    out = await t.type(_number_of(out, "No"))  # announcements
    out = await t.type(_number_of(out, "Done"))
    out = await t.type(_number_of(out, "Morning"))
    out = await t.type(_number_of(out, "Keep"))
    out = await t.type(_number_of(out, "Share"))  # no verified number here: skipped
    assert "Talk to our team" in out  # the menu: onboarding is done
    async with db.session() as session:
        events = (await session.scalars(select(ConsentEvent))).all()
        patient = (await session.scalars(select(Patient))).one()
    granted = {e.category: e.granted for e in events}
    assert granted == {"appointments": True, "tips": True, "announcements": False}
    assert patient.onboarding_step == "done" and patient.language == "en"


async def test_tips_language_person_and_bot_in_plain_words(
    db: Database, answerer: Answerer, clock: FakeClock, tmp_path: Path
) -> None:
    t = Terminal(db, answerer, clock, tmp_path)
    out = await t.type("/reminders")
    assert "Exercise" in out and "(type a number to choose)" in out
    out = await t.type("TIPS EXERCISE ON")
    assert "Exercise" in out
    out = await t.type("español")
    assert "español" in out.lower() or "idioma" in out.lower()
    out = await t.type("¿duele la acupuntura?")
    assert "(escriba un número para elegir)" in out
    out = await t.type("in english please")
    out = await t.type("can I talk to a real person please")
    assert "555-0142" in out  # no staff group: the clinic's phone
    out = await t.type("are you a robot?")
    assert "automated assistant" in out and "not a person" in out


async def test_answers_more_stop_start_and_red_flags(
    db: Database, answerer: Answerer, clock: FakeClock, tmp_path: Path
) -> None:
    t = Terminal(db, answerer, clock, tmp_path)
    first = await t.type("do cupping marks go away?")
    assert first.startswith("bot> ") and "**" not in first
    more = await t.type("MORE")
    assert "cupping" in more.lower()
    stopped = await t.type("STOP")
    assert "medicine" not in stopped.lower()
    async with db.session() as session:
        events = (await session.scalars(select(ConsentEvent))).all()
    assert events and not any(e.granted for e in events)
    assert "Which language" in await t.type("/start")  # never onboarded: it begins
    red = await t.type("I can't feel my legs and I wet myself")
    assert "911" in red


async def test_appointments_my_data_and_forget(
    db: Database, answerer: Answerer, clock: FakeClock, tmp_path: Path
) -> None:
    t = Terminal(db, answerer, clock, tmp_path)
    assert "appointment" in (await t.type("/appointments")).lower()
    out = await t.type("/mydata")
    saved = json.loads((tmp_path / "my-data.json").read_text(encoding="utf-8"))
    assert "my-data.json" in out and saved["patient"]["id"]
    out = await t.type("/forget")
    out = await t.type(_number_of(out, "Yes"))
    assert "erased" in out
    async with db.session() as session:
        assert (await session.scalars(select(Patient))).all() == []
