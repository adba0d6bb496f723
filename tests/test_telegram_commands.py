"""Each command over the real PTB stack: help, topics, reminders, appointments, privacy, stop."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db.models import Appointment, AuditEntry, Consent, Patient
from bot.db.session import Database
from handlers.conversation.answer import Answerer
from handlers.patients.privacy import forget_button, forget_key
from tests.conftest import FakeClock
from tests.telegram_fake import TOKEN, Harness


@pytest.fixture
async def tg(db: Database, answerer: Answerer, clock: FakeClock) -> AsyncIterator[Harness]:
    async with Harness.running(db, answerer, clock) as harness:
        yield harness


async def _onboarded(tg: Harness) -> None:
    await tg.send("command_start")
    for data in (
        "ob:language:en",
        "ob:consent_appointments:yes",
        "ob:consent_tips:yes",
        "ob:consent_announcements:yes",
        "ob:tips:done",
        "ob:time:morning",
        "ob:timezone:keep",
    ):
        await tg.press(data)
    await tg.say("Skip")


async def test_free_text_gets_the_answer_with_topic_and_staff_buttons(tg: Harness) -> None:
    [call] = await tg.say("how long do cupping marks last")
    assert "<b>" in call.text and call.params["parse_mode"] == "HTML"
    assert ("Talk to our team", "human") in call.buttons


async def test_red_flags_come_first_even_while_a_time_zone_is_expected(tg: Harness) -> None:
    await _onboarded(tg)
    await tg.press("rem:zone")
    [call] = await tg.say("I have crushing chest pain")
    assert "911" in call.text


async def test_help_lists_the_commands(tg: Harness) -> None:
    [call] = await tg.send("command_start", text="/help")
    assert "/reminders" in call.text and "/forget" in call.text


async def test_unknown_commands_get_help(tg: Harness) -> None:
    [call] = await tg.send("command_start", text="/frobnicate")
    assert "/topics" in call.text


async def test_topics_browse_in_place_and_answer(tg: Harness) -> None:
    [call] = await tg.send("command_start", text="/topics")
    assert "1 of" in call.text and ("Next", "browse:2") in call.buttons
    calls = await tg.press("browse:2")
    assert [c.method for c in calls] == ["answerCallbackQuery", "editMessageText"]
    topic = next(data for _, data in calls[1].buttons if data.startswith("browse:t:"))
    calls = await tg.press(topic)
    assert (
        calls[1].method == "editMessageText" and ("Back to topics", "browse:2") in calls[1].buttons
    )
    calls = await tg.press("browse:t:no.such.topic:1")
    assert calls[1].method == "editMessageText"  # a polite "not sure", never an error
    calls = await tg.press("browse:999")
    assert [c.method for c in calls] == ["answerCallbackQuery"]


async def test_reminders_toggle_days_time_pause_and_time_zone(tg: Harness, db: Database) -> None:
    await _onboarded(tg)
    [call] = await tg.send("command_start", text="/reminders")
    assert "Reminders are on." in call.text
    for data in ("rem:tip:diet", "rem:days:weekdays", "rem:time:midday", "rem:pause"):
        calls = await tg.press(data)
        assert calls[1].method == "editMessageText"
    assert "✓ Diet" in [b[0] for b in calls[1].buttons]
    assert "Weekdays" in calls[1].text and "12:00" in calls[1].text and "paused" in calls[1].text
    await tg.press("rem:zone")
    [call] = await tg.say("Mars/Olympus")
    assert call.text.startswith("I don't know the time zone")
    await tg.press("rem:zone")
    [call] = await tg.say("America/New_York")
    assert "America/New_York" in call.text
    async with db.session() as session:
        patient = (await session.scalars(select(Patient))).one()
    assert patient.timezone == "America/New_York" and patient.reminders_paused


async def test_appointments_confirm_and_reschedule(
    tg: Harness, db: Database, clock: FakeClock
) -> None:
    await _onboarded(tg)
    [call] = await tg.send("command_start", text="/appointments")
    assert "no upcoming appointments" in call.text
    async with db.session() as session, session.begin():
        patient = (await session.scalars(select(Patient))).one()
        visit = Appointment(
            patient_id=patient.id,
            starts_at=clock() + timedelta(days=1),
            practitioner="Dr. Mei Lin",
            created_at=clock(),
            updated_at=clock(),
        )
        session.add(visit)
    [call] = await tg.send("command_start", text="/appointments")
    assert "Tue 3 Mar, 07:00" in call.text and "Mei" not in call.text
    assert [data for _, data in call.buttons] == [
        f"appt:confirm:{visit.id}",
        f"appt:reschedule:{visit.id}",
    ]
    calls = await tg.press(f"appt:confirm:{visit.id}")
    assert "Thanks Ana, your visit on Tue 3 Mar, 07:00 is confirmed." in calls[1].text
    calls = await tg.press(f"appt:reschedule:{visit.id}")
    assert "change your visit" in calls[1].text
    calls = await tg.press(f"appt:confirm:{visit.id + 99}")
    assert "no longer available" in calls[1].text
    async with db.session() as session:
        actions = (await session.scalars(select(AuditEntry.action))).all()
    assert "appointment.confirmed" in actions and "appointment.reschedule_requested" in actions


async def test_language_human_and_stop_then_start(tg: Harness, db: Database) -> None:
    await _onboarded(tg)
    [call] = await tg.send("command_start", text="/language")
    calls = await tg.press("lang:es")
    assert "español" in calls[1].text
    [call] = await tg.send("command_start", text="/human")
    assert "(503) 555-0142" in call.text
    [call] = await tg.send("command_start", text="/stop")
    assert "No le enviaremos" in call.text
    async with db.session() as session:
        granted = (await session.scalars(select(Consent.granted))).all()
    assert not any(granted)
    calls = await tg.send("command_start")
    assert "Bienvenido de nuevo" in calls[0].text
    async with db.session() as session:
        granted = (await session.scalars(select(Consent.granted))).all()
    assert all(granted)


async def test_mydata_sends_a_json_document(tg: Harness) -> None:
    await _onboarded(tg)
    [call] = await tg.send("command_start", text="/mydata")
    assert call.method == "sendDocument"


async def test_forget_erases_after_confirmation_and_is_audited(tg: Harness, db: Database) -> None:
    await _onboarded(tg)
    [call] = await tg.send("command_start", text="/forget")
    [yes, no] = [d for _, d in call.buttons]
    assert yes.startswith("forget:yes:") and len(yes.encode()) <= 64 and no == "forget:no"
    calls = await tg.press("forget:no")
    assert "Nothing was erased" in calls[1].text
    calls = await tg.press(yes)
    assert "erased" in calls[1].text
    async with db.session() as session:
        assert (await session.scalars(select(Patient))).all() == []
        audit = (await session.scalars(select(AuditEntry))).all()
    assert [(a.action, a.detail is not None) for a in audit] == [("patient.erased", True)]
    calls = await tg.press(yes)  # a stale button after erasure
    assert [c.method for c in calls] == ["answerCallbackQuery"]


async def _forget_button(tg: Harness) -> str:
    [call] = await tg.send("command_start", text="/forget")
    return next(d for _, d in call.buttons if d.startswith("forget:yes"))


async def _other_chats_button(tg: Harness, db: Database) -> str:
    async with db.session() as session:
        patient = (await session.scalars(select(Patient))).one()
    return forget_button(forget_key(TOKEN), "telegram:987654321", patient, tg.clock())


@pytest.mark.parametrize("forgery", ["bare", "altered", "other_chat", "expired", "other_key"])
async def test_a_forged_or_stale_erase_button_erases_nothing(
    tg: Harness, db: Database, clock: FakeClock, forgery: str
) -> None:
    await _onboarded(tg)
    fresh = await _forget_button(tg)
    if forgery == "bare":
        button = "forget:yes"  # the old, unsigned button
    elif forgery == "altered":
        button = fresh[:-2] + ("AA" if not fresh.endswith("AA") else "BB")
    elif forgery == "other_chat":
        button = await _other_chats_button(tg, db)
    elif forgery == "other_key":
        async with db.session() as session:
            patient = (await session.scalars(select(Patient))).one()
        button = forget_button(forget_key("another-token"), "telegram:5550001", patient, clock())
    else:
        button = fresh
        clock.advance(minutes=11)
    calls = await tg.press(button)
    assert [c.text for c in calls if c.method != "answerCallbackQuery"] == [
        "This button has expired. Send /forget again to erase your data."
    ]
    async with db.session() as session:
        assert len((await session.scalars(select(Patient))).all()) == 1
        assert (await session.scalars(select(AuditEntry))).all() == []
    calls = await tg.press(await _forget_button(tg))  # a fresh /forget still works
    assert "erased" in calls[1].text


async def test_an_erase_button_never_erases_a_later_record(tg: Harness, db: Database) -> None:
    await _onboarded(tg)
    button = await _forget_button(tg)
    assert "erased" in (await tg.press(button))[1].text
    await _onboarded(tg)  # the same chat comes back: a new record
    calls = await tg.press(button)
    assert "expired" in calls[-1].text
    async with db.session() as session:
        assert len((await session.scalars(select(Patient))).all()) == 1


async def test_export_holds_the_patients_rows(tg: Harness, db: Database) -> None:
    from handlers.patients.privacy import export, export_json

    await _onboarded(tg)
    async with db.session() as session:
        patient = (await session.scalars(select(Patient))).one()
        data = json.loads(export_json(await export(session, patient.id)))
    assert data["patient"]["language"] == "en"
    assert {row["category"] for row in data["consents"]} == {
        "appointments",
        "tips",
        "announcements",
    }
    assert data["addresses"][0]["urn"] == "telegram:5550001"
