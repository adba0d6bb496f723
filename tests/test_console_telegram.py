"""`/console` in a private chat: staff get a single-use sign-in link, anyone else /help."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.channels.telegram import TelegramOptions
from bot.console.auth import LINK_LIFETIME, token_hash
from bot.console.models import ConsoleLink
from bot.db.models import Address, MessageLog, StaffRole, TicketPost
from bot.db.session import Database
from handlers.conversation.answer import Answerer
from handlers.staff.roles import add_staff
from tests.conftest import FakeClock
from tests.console_support import HTTPS, running_console, token_of
from tests.telegram_fake import BASE_URL, TOKEN, FakeBotApi, Harness

PATIENT_USER = 5550001  # the private_text payload's sender
# The console beside a Telegram bot on the fake Bot API.
WITH_TELEGRAM: dict[str, object] = {
    "telegram_bot_token": TOKEN,
    "telegram_base_url": BASE_URL,
    "public_url": HTTPS,
    "telegram_webhook_secret": "console-secret",
    "scheduler_enabled": False,
}


async def test_console_gives_staff_a_link_and_others_the_help(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    async with Harness.running(db, answerer, clock) as harness:
        [refused] = await harness.say("/console")
        assert refused.text.startswith(answerer.content.message("help", "en").text[:40])
        async with db.session() as session, session.begin():
            await add_staff(session, PATIENT_USER, StaffRole.STAFF, actor="cli", now=clock())
        [reply] = await harness.say("/console")
    link = reply.text.splitlines()[-1]
    assert link.startswith("http://127.0.0.1:8080/console/signin?t=")
    async with db.session() as session:
        [stored] = list(await session.scalars(select(ConsoleLink)))
    assert stored.token_hash == token_hash(token_of(link)) and token_of(link) not in repr(
        stored.__dict__
    )
    assert stored.telegram_user_id == PATIENT_USER
    assert stored.expires_at - stored.created_at == LINK_LIFETIME


async def test_an_erasure_in_the_console_removes_the_staff_groups_posts(
    database_url: str,
) -> None:
    api = FakeBotApi()
    settings = WITH_TELEGRAM
    options = TelegramOptions(request=api)
    async with running_console(database_url, telegram=options, **settings) as console:
        await asyncio.wait_for(console.app.state.telegram.ready.wait(), timeout=30)
        async with console.app.state.services.db.session() as session, session.begin():
            session.add(TicketPost(ticket_id=console.ids["ticket"], chat_id=-100, message_id=77))
        async with console.signed_in() as client:
            path = f"/console/patients/{console.ids['ana']}/erase"
            assert (await client.post(path, data={"confirm": "ERASE"})).status_code == 303
    # Done in the background, as /forget does; the Application awaits it when it stops.
    [deleted] = api.sent("deleteMessage")
    assert deleted.params == {"chat_id": -100, "message_id": 77}


async def test_a_console_answer_is_checked_like_the_staff_groups(database_url: str) -> None:
    api = FakeBotApi()
    settings = {**WITH_TELEGRAM, "store_message_bodies": True}
    options = TelegramOptions(request=api)
    async with running_console(database_url, telegram=options, **settings) as console:
        await asyncio.wait_for(console.app.state.telegram.ready.wait(), timeout=30)
        path = f"/console/tickets/{console.ids['ticket']}/reply"
        async with console.signed_in() as client:
            sent = await client.post(path, data={"text": "Thursday at 3 works."})
            assert sent.headers["location"].endswith("sent=sent")
            db = console.app.state.services.db
            async with db.session() as session, session.begin():
                address = await session.scalar(
                    select(Address).where(Address.patient_id == console.ids["ana"])
                )
                assert address is not None
                address.opted_out_at = address.created_at  # Ana sent /stop
            refused = await client.post(path, data={"text": "Are you still there?"})
            assert refused.headers["location"].endswith("sent=opted_out")
        async with db.session() as session:
            logged = list(await session.scalars(select(MessageLog.body)))
    assert [m.params["text"] for m in api.sent("sendMessage")] == ["Thursday at 3 works."]
    assert "Thursday at 3 works." in logged  # STORE_MESSAGE_BODIES keeps what staff wrote
