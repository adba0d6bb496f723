"""Edges: media, groups, edits, duplicate updates, unknown chats, blocking and unblocking."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import event, select
from telegram import Update

from bot.channels.telegram import patient
from bot.db.models import Address, Patient, ProcessedUpdate
from bot.db.session import Database
from handlers.conversation.answer import Answerer
from tests.conftest import FakeClock
from tests.telegram_fake import Harness, payload


@pytest.fixture
async def tg(db: Database, answerer: Answerer, clock: FakeClock) -> AsyncIterator[Harness]:
    async with Harness.running(db, answerer, clock) as harness:
        yield harness


@pytest.mark.parametrize("kind", ["photo", "sticker", "voice", "document", "location"])
async def test_media_get_one_polite_text_reply(tg: Harness, kind: str) -> None:
    [call] = await tg.send(kind)
    assert call.method == "sendMessage" and "only read text" in call.text


async def test_groups_get_a_pointer_on_start_and_silence_otherwise(
    tg: Harness, db: Database
) -> None:
    [call] = await tg.send("group_command")
    assert "private chat" in call.text and call.params["chat_id"] == -1001234567890
    assert await tg.send("group_message") == []
    async with db.session() as session:
        assert (await session.scalars(select(Patient))).all() == []  # nobody discussed


async def test_edited_messages_get_no_second_reply(tg: Harness) -> None:
    assert len(await tg.send("private_text")) == 1
    assert await tg.send("edited_message") == []


async def test_a_duplicate_update_id_is_handled_once(tg: Harness) -> None:
    assert len(await tg.send("private_text", update_id=42)) == 1
    assert await tg.send("private_text", update_id=42) == []


async def test_a_text_message_is_recorded_with_its_reply_in_one_transaction(
    tg: Harness, db: Database
) -> None:
    await tg.say("hi")
    begun: list[object] = []
    engine, record = db.engine.sync_engine, begun.append
    event.listen(engine, "begin", record)
    try:
        [call] = await tg.send("private_text", update_id=77, text="does acupuncture hurt?")
    finally:
        event.remove(engine, "begin", record)
    assert "needle" in call.text.lower() and len(begun) == 1
    assert await tg.send("private_text", update_id=77, text="does acupuncture hurt?") == []
    async with db.session() as session:
        updates = await session.scalars(select(ProcessedUpdate.external_id))
        assert "77" in set(updates)


async def test_a_text_message_no_handler_claims_is_recorded_after_the_handlers(
    tg: Harness, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed: list[int] = []

    async def fails(update: Update, context: object) -> None:
        failed.append(update.update_id)
        raise RuntimeError("the handler failed before its transaction")

    swapped = [
        handler
        for handlers in tg.app.handlers.values()
        for handler in handlers
        if getattr(handler, "callback", None) is patient.message
    ]
    for handler in swapped:
        monkeypatch.setattr(handler, "callback", fails)
    assert await tg.send("private_text", update_id=78) == []
    assert failed == [78]
    async with db.session() as session:
        updates = set(await session.scalars(select(ProcessedUpdate.external_id)))
    assert "78" in updates  # so a resend is dropped, as for every other update


async def test_a_button_from_an_unknown_chat_is_answered_gently(tg: Harness) -> None:
    calls = await tg.press("rem:pause")
    assert [c.method for c in calls] == ["answerCallbackQuery"]
    assert calls[0].params["text"] == "That button is out of date."


async def test_blocking_marks_unreachable_and_writing_again_restores(
    tg: Harness, db: Database
) -> None:
    await tg.send("command_start")
    assert await tg.send("my_chat_member_kicked") == []

    async def reachable() -> bool:
        async with db.session() as session:
            address = (await session.scalars(select(Address))).one()
            return address.reachable

    assert not await reachable()
    assert await tg.send("my_chat_member_member") == []
    assert await reachable()
    await tg.send("my_chat_member_kicked")
    await tg.say("hello again")
    assert await reachable()


async def test_long_answers_are_split_below_the_limit(tg: Harness) -> None:
    from bot.channels.telegram.replies import send_all
    from handlers.messages import OutboundMessage, QuickReply, ReplyKind

    text = "\n\n".join(f"Paragraph {i} " + "word " * 150 for i in range(12))
    message = OutboundMessage(
        text=text, sms="", kind=ReplyKind.FAQ, lang="en", options=(QuickReply("A", "human"),)
    )
    before = len(tg.api.calls)
    await send_all(tg.app.bot, 5550001, [message])
    calls = tg.api.calls[before:]
    assert len(calls) > 1 and all(len(c.text) <= 4096 for c in calls)
    assert [bool(c.buttons) for c in calls] == [False] * (len(calls) - 1) + [True]
    assert "".join(c.text for c in calls).count("Paragraph") == 12
    assert payload("private_text")["message"]["chat"]["type"] == "private"
