"""Onboarding over the real PTB stack: end to end, resuming after a restart, shared contacts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.db.models import Address, Consent, Patient, ReminderPreference
from bot.db.session import Database
from handlers.conversation.answer import Answerer
from tests.conftest import FakeClock
from tests.telegram_fake import Harness, payload

CHAT = 5550001


@pytest.fixture
async def tg(db: Database, answerer: Answerer, clock: FakeClock) -> AsyncIterator[Harness]:
    async with Harness.running(db, answerer, clock) as harness:
        yield harness


async def _patient(db: Database) -> Patient:
    async with db.session() as session:
        return (
            await session.execute(
                select(Patient).join(Address).where(Address.urn == f"telegram:{CHAT}")
            )
        ).scalar_one()


async def test_start_welcomes_and_asks_the_language_with_buttons(tg: Harness) -> None:
    calls = await tg.send("command_start")
    assert [c.method for c in calls] == ["sendMessage", "sendMessage"]
    assert "not medical advice" in calls[0].text and "911" in calls[0].text
    assert calls[1].buttons == [("English", "ob:language:en"), ("Español", "ob:language:es")]


async def test_onboarding_end_to_end_records_every_choice(tg: Harness, db: Database) -> None:
    await tg.send("command_start")
    steps = [
        "ob:language:es",
        "ob:consent_appointments:yes",
        "ob:consent_tips:yes",
        "ob:consent_announcements:no",
        "ob:tips:exercise",
        "ob:tips:meditation",
        "ob:tips:done",
        "ob:time:evening",
    ]
    for data in steps:
        calls = await tg.press(data)
        assert calls[0].method == "answerCallbackQuery" and "text" not in calls[0].params
        assert calls[1].method == "editMessageText"  # the question is replaced in place
    assert "Europe" in calls[1].text or "America/Los_Angeles" in calls[1].text
    calls = await tg.say("Europe/Madrid")  # a typed time zone
    assert calls[-1].params["reply_markup"]["keyboard"][0][0]["request_contact"] is True
    assert "Compartir" in calls[-1].buttons[0][0]
    calls = await tg.send("contact")
    assert "guardamos su número" in calls[0].text
    assert calls[1].params["reply_markup"] == {"remove_keyboard": True}
    assert "/help" in calls[1].text and calls[2].buttons  # done, then the menu
    patient = await _patient(db)
    assert (patient.language, patient.timezone, patient.onboarding_step) == (
        "es",
        "Europe/Madrid",
        "done",
    )
    async with db.session() as session:
        consents = dict((await session.execute(select(Consent.category, Consent.granted))).all())
        prefs = (await session.scalars(select(ReminderPreference))).all()
        urns = set((await session.scalars(select(Address.urn))).all())
    assert consents == {"appointments": True, "tips": True, "announcements": False}
    assert {p.category for p in prefs if p.enabled} == {"exercise", "meditation"}
    assert {p.local_time for p in prefs} == {"18:00"}
    assert urns == {f"telegram:{CHAT}", "tel:+15035550199"}


async def test_declining_tips_skips_the_tip_questions(tg: Harness) -> None:
    await tg.send("command_start")
    for data in ("ob:language:en", "ob:consent_appointments:yes", "ob:consent_tips:no"):
        await tg.press(data)
    calls = await tg.press("ob:consent_announcements:yes")
    assert "time zone America/Los_Angeles" in calls[1].text
    calls = await tg.press("ob:timezone:keep")
    assert calls[-1].buttons[-1][0] == "Skip"
    calls = await tg.say("Skip")
    assert calls[0].params["reply_markup"] == {"remove_keyboard": True}
    assert "All set" in calls[0].text


async def test_onboarding_resumes_after_a_restart(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    async with Harness.running(db, answerer, clock) as first:
        await first.send("command_start")
        await first.press("ob:language:en")
        await first.press("ob:consent_appointments:yes")
    async with Harness.running(db, answerer, clock) as second:  # a new process
        second._update_id = 300_000_000  # Telegram's ids keep growing across our restarts
        calls = await second.send("command_start")
        assert len(calls) == 1 and "between-visit tips" in calls[0].text
        calls = await second.press("ob:consent_tips:no")
        assert "announcements" in calls[1].text


async def test_stale_and_forged_onboarding_buttons_change_nothing(
    tg: Harness, db: Database
) -> None:
    await tg.send("command_start")
    await tg.press("ob:language:en")
    for data in ("ob:language:es", "ob:tips:bogus", "ob:consent_appointments:maybe", "zz:1"):
        calls = await tg.press(data)
        assert [c.method for c in calls] == ["answerCallbackQuery"]
        assert calls[0].params["text"] == "That button is out of date."
    assert (await _patient(db)).language == "en"


async def test_a_contact_that_is_not_the_senders_is_refused(tg: Harness, db: Database) -> None:
    await tg.send("command_start")
    other = payload("contact", update_id=300_000_001)
    other["message"]["contact"]["user_id"] = 7777
    calls = await tg.process(other)
    assert "your own number" in calls[0].text
    async with db.session() as session:
        assert (await session.scalars(select(Address.urn))).all() == [f"telegram:{CHAT}"]


async def test_a_shared_number_joins_the_clinics_existing_record(
    tg: Harness, db: Database, clock: FakeClock
) -> None:
    async with db.session() as session, session.begin():
        known = Patient(name="Ana R", created_at=clock(), updated_at=clock())
        session.add(known)
        await session.flush()
        session.add(
            Address(
                patient_id=known.id,
                urn="tel:+15035550199",
                scheme="tel",
                reachable=True,
                created_at=clock(),
            )
        )
        known_id = known.id
    await tg.send("command_start")
    await tg.send("contact")
    assert (await _patient(db)).id == known_id
    async with db.session() as session:
        assert len((await session.scalars(select(Patient))).all()) == 1


async def test_start_from_a_known_patient_shows_the_menu(tg: Harness) -> None:
    await tg.send("command_start")
    for data in ("ob:language:en", "ob:consent_appointments:no", "ob:consent_tips:no"):
        await tg.press(data)
    await tg.press("ob:consent_announcements:no")
    await tg.press("ob:timezone:keep")
    await tg.say("skip")
    calls = await tg.send("command_start")
    assert len(calls) == 1
    assert [b[1] for b in calls[0].buttons] == [
        "menu:topics",
        "menu:reminders",
        "menu:appointments",
        "human",
    ]


async def test_a_nul_in_a_first_name_is_stored_replaced(tg: Harness, db: Database) -> None:
    """PostgreSQL refuses NUL in text: a name with one got no reply at all."""
    update = payload("command_start", update_id=190000001)
    update["message"]["from"]["first_name"] = "A\x00na"
    update["message"]["chat"]["first_name"] = "A\x00na"
    calls = await tg.process(update)
    assert [call.method for call in calls] == ["sendMessage", "sendMessage"]
    assert (await _patient(db)).name in ("A\ufffdna", "A\ufffdna Ruiz")
