"""The /broadcast wizard and /broadcasts over the real PTB stack and the fake Bot API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.db.models import AuditEntry, Broadcast, ConsentCategory, Delivery, StaffRole
from bot.db.patients import find_or_create_patient
from bot.db.session import Database
from handlers.conversation.answer import Answerer
from handlers.delivery.consent import opt_in
from handlers.staff.roles import add_staff
from tests.conftest import FakeClock
from tests.telegram_fake import Call, Harness

STAFF_ID = 5550001  # the sender of every captured payload


@pytest.fixture
async def tg(db: Database, answerer: Answerer, clock: FakeClock) -> AsyncIterator[Harness]:
    async with Harness.running(db, answerer, clock) as harness:
        yield harness


async def _staff_and_patients(db: Database, clock: FakeClock) -> None:
    async with db.session() as session, session.begin():
        await add_staff(session, STAFF_ID, StaffRole.STAFF, actor="cli", now=clock())
        for urn, lang in (("telegram:7001", "en"), ("tel:+15550007002", "es")):
            patient, _, _ = await find_or_create_patient(session, urn, now=clock())
            patient.language = lang
            await opt_in(session, patient.id, tuple(ConsentCategory), source="test", now=clock())


def _data(call: Call, label: str) -> str:
    return next(data for text, data in call.buttons if text == label)


async def test_patients_do_not_see_staff_commands(tg: Harness) -> None:
    for command in ("/broadcast", "/broadcasts"):
        [call] = await tg.send("command_start", text=command)
        assert "/topics" in call.text  # the unknown-command reply
    calls = await tg.press("bc:x:1")
    assert [c.method for c in calls] == ["answerCallbackQuery"]


async def test_wizard_end_to_end_then_list_and_cancel(
    tg: Harness, db: Database, clock: FakeClock
) -> None:
    await _staff_and_patients(db, clock)
    [call] = await tg.send("command_start", text="/broadcast")
    assert "text in English" in call.text
    [call] = await tg.say("x" * 5000)
    assert "the limit is 1000" in call.text
    [call] = await tg.say("We are **closed** on Friday.")
    old_button = _data(call, "English for everyone")
    [call] = await tg.say("Cerramos el viernes.")
    calls = await tg.press(_data(call, "Everyone who agreed"))
    assert [c.method for c in calls] == ["answerCallbackQuery", "sendMessage"]
    shown = calls[1].text
    assert "1 on Telegram, 1 by SMS" in shown and "Responda STOP" in shown
    assert "GSM-7 segment" in shown
    calls = await tg.press(_data(calls[1], "Send now"))
    assert "Send to 2 patients" in calls[1].text
    calls = await tg.press(_data(calls[1], "Confirm"))
    assert "Broadcast #1 is queued" in calls[1].text
    calls = await tg.press(old_button)  # a button of a finished draft
    assert calls[0].params.get("text", "").startswith("This button has expired")
    calls = await tg.press("bc:zzzz")
    assert [c.method for c in calls] == ["answerCallbackQuery"]
    async with db.session() as session:
        broadcast = (await session.scalars(select(Broadcast))).one()
        channels = sorted(c for c in await session.scalars(select(Delivery.channel)) if c)
    assert json.loads(broadcast.texts) == {
        "en": "We are **closed** on Friday.",
        "es": "Cerramos el viernes.",
    }
    assert broadcast.created_by == f"staff:{STAFF_ID}" and broadcast.report_chat_id == STAFF_ID
    assert channels == ["tel", "telegram"]

    [call] = await tg.send("command_start", text="/broadcasts")
    assert "#1 scheduled" in call.text
    calls = await tg.press(_data(call, "Cancel #1"))
    assert "Broadcast #1 cancelled: 2 messages" in calls[1].text
    calls = await tg.press(_data(call, "Cancel #1"))
    assert "already cancelled" in calls[1].text
    async with db.session() as session:
        actions = list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions[-2:] == ["broadcast.create", "broadcast.cancel"]


async def test_schedule_by_typed_time_and_a_tag_audience(
    tg: Harness, db: Database, clock: FakeClock
) -> None:
    await _staff_and_patients(db, clock)
    await tg.send("command_start", text="/broadcast")
    [call] = await tg.say("Holiday hours next week.")
    calls = await tg.press(_data(call, "English for everyone"))
    calls = await tg.press(_data(calls[1], "By tag..."))
    [call] = await tg.say("two words")
    assert "bad tag" in call.text
    [call] = await tg.say("nobody")
    assert "0 on Telegram, 0 by SMS" in call.text
    calls = await tg.press(_data(call, "Discard"))
    assert "discarded" in calls[1].text

    await tg.send("command_start", text="/broadcast")
    [call] = await tg.say("Holiday hours next week.")
    calls = await tg.press(_data(call, "English for everyone"))
    calls = await tg.press(_data(calls[1], "Type an audience..."))
    [call] = await tg.say("lang=es;channel=sms")
    assert "0 on Telegram, 1 by SMS" in call.text
    calls = await tg.press(_data(call, "Schedule"))
    assert "America/Los_Angeles" in calls[1].text
    [call] = await tg.say("2020-01-01 09:00")
    assert "in the past" in call.text
    [call] = await tg.say("2026-03-05 09:00")
    assert "Send to 1 patients (0 Telegram, 1 SMS) 2026-03-05 09:00 PST?" in call.text
    calls = await tg.press(_data(call, "Confirm"))
    assert "queued 2026-03-05 09:00 PST" in calls[1].text
    async with db.session() as session:
        broadcast = (await session.scalars(select(Broadcast))).one()
    assert broadcast.send_at.isoformat() == "2026-03-05T17:00:00+00:00"


async def test_a_removed_staff_member_loses_the_wizard(
    tg: Harness, db: Database, clock: FakeClock
) -> None:
    await _staff_and_patients(db, clock)
    [call] = await tg.send("command_start", text="/broadcast")
    from handlers.staff.roles import remove_staff

    async with db.session() as session, session.begin():
        await remove_staff(session, STAFF_ID, actor="cli", now=clock())
    [call] = await tg.say("how long do cupping marks last")
    assert "Broadcast" not in call.text and "text" not in call.text.lower()[:20]
    [call] = await tg.send("command_start", text="/broadcast")
    assert "/topics" in call.text
