"""Sending: Forbidden marks unreachable, RetryAfter and 5xx retry, per-chat pacing, rendering."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.channels.base import SendStatus
from bot.channels.telegram.ratelimit import ChatPacer, ClinicRateLimiter, EvenPacer
from bot.channels.telegram.render import split_text, to_html
from bot.channels.telegram.sender import TelegramSender
from bot.db.models import Address
from bot.db.session import Database
from handlers.conversation.answer import Answerer
from handlers.delivery.sending import Checked
from handlers.messages import OutboundMessage, ReplyKind
from tests.conftest import FakeClock
from tests.telegram_fake import FakeMonotonic, Harness

URN = "telegram:5550001"
MESSAGE = OutboundMessage(text="**Tip:** stretch <gently>", sms="", kind=ReplyKind.FAQ, lang="en")


@pytest.fixture
async def tg(db: Database, answerer: Answerer, clock: FakeClock) -> AsyncIterator[Harness]:
    async with Harness.running(db, answerer, clock) as harness:
        await harness.send("command_start")
        yield harness


@pytest.fixture
def sender(tg: Harness) -> TelegramSender:
    return TelegramSender(tg.app.bot, sleep=tg.monotonic.sleep)


async def test_a_send_returns_the_message_id(tg: Harness, sender: TelegramSender) -> None:
    outcome = await sender.send(URN, MESSAGE)
    assert outcome.status is SendStatus.SENT and outcome.external_id
    assert tg.api.calls[-1].text == "<b>Tip:</b> stretch &lt;gently&gt;"


async def test_forbidden_is_unreachable_and_the_core_stops_sending(
    tg: Harness, sender: TelegramSender, db: Database, clock: FakeClock
) -> None:
    tg.api.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    assert (await sender.send(URN, MESSAGE)).status is SendStatus.UNREACHABLE
    async with db.session() as session:
        address = (await session.scalars(select(Address))).one()
    assert address.reachable  # the transport writes nothing
    checked = Checked(sender, db, clock=clock)
    tg.api.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    assert (await checked.send(URN, MESSAGE)).status is SendStatus.UNREACHABLE
    calls = len(tg.api.calls)
    outcome = await checked.send(URN, MESSAGE)
    assert (outcome.status, outcome.error) == (SendStatus.WITHDRAWN, "unreachable")
    assert len(tg.api.calls) == calls  # not sent to again until they write
    async with db.session() as session:
        address = (await session.scalars(select(Address))).one()
    assert (address.reachable, address.unreachable_reason) == (False, "telegram:forbidden")


async def test_retry_after_is_honoured_then_reported(tg: Harness, sender: TelegramSender) -> None:
    tg.api.fail("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    assert (await sender.send(URN, MESSAGE)).status is SendStatus.SENT
    assert 7.0 in tg.monotonic.sleeps
    for _ in range(3):
        tg.api.fail("sendMessage", 429, "Too Many Requests: retry after 9", retry_after=9)
    outcome = await sender.send(URN, MESSAGE)
    # The outbox pauses the whole bot for every process on this (scheduler.lanes).
    assert (outcome.status, outcome.retry_after) == (SendStatus.RATE_LIMITED, 9.0)


async def test_server_errors_are_retried_with_backoff(tg: Harness, sender: TelegramSender) -> None:
    tg.api.fail("sendMessage", 502, "Bad Gateway")
    assert (await sender.send(URN, MESSAGE)).status is SendStatus.SENT
    for _ in range(3):
        tg.api.fail("sendMessage", 500, "Internal Server Error")
    outcome = await sender.send(URN, MESSAGE)
    assert outcome.status is SendStatus.RETRY and outcome.error == "NetworkError"
    assert tg.monotonic.sleeps.count(1.0) >= 2 and 2.0 in tg.monotonic.sleeps


async def test_bad_requests_fail_and_bad_urns_are_refused(
    tg: Harness, sender: TelegramSender
) -> None:
    tg.api.fail("sendMessage", 400, "Bad Request: can't parse entities")
    assert (await sender.send(URN, MESSAGE)).status is SendStatus.FAILED
    assert (await sender.send("tel:+15035550199", MESSAGE)).status is SendStatus.FAILED


async def test_the_pacer_keeps_one_second_between_messages_to_a_chat() -> None:
    clock = FakeMonotonic()
    pacer = ChatPacer(1.0, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        await pacer.wait("chat-a")
    await pacer.wait("chat-b")
    assert clock.sleeps == [1.0, 1.0]


def test_html_is_escaped_and_bold_and_links_survive() -> None:
    assert to_html("**a** & [site](https://x.example/a?b=1&c=2)") == (
        '<b>a</b> &amp; <a href="https://x.example/a?b=1&amp;amp;c=2">site</a>'
    )
    parts = split_text("x" * 9000)
    assert len(parts) > 1 and all(len(p) <= 4096 for p in parts)


async def test_sends_to_many_chats_are_spaced_evenly_never_a_burst() -> None:
    clock = FakeMonotonic()
    limiter = ClinicRateLimiter(
        overall_max_rate=30,
        pacer=ChatPacer(1.0, clock=clock, sleep=clock.sleep),
        overall=EvenPacer(1 / 30 + 0.001, clock=clock, sleep=clock.sleep),
        sleep=clock.sleep,
    )
    sent_at: list[float] = []

    async def send_message(*args: Any, **kwargs: Any) -> bool:
        sent_at.append(clock())
        return True

    await limiter.initialize()
    for chat in range(90):
        await limiter.process_request(
            send_message, (), {}, "sendMessage", {"chat_id": chat, "text": "x"}, None
        )
    await limiter.shutdown()
    per_second = [sum(1 for t in sent_at if second <= t < second + 1) for second in range(3)]
    assert max(per_second) <= 30  # PTB's own limiter alone lets 30 through at once, then 30 more
    assert min(b - a for a, b in itertools.pairwise(sent_at)) >= 1 / 30


async def test_the_outboxs_sends_skip_the_process_pacer_the_shared_lanes_pace_them(
    tg: Harness,
) -> None:
    paced = TelegramSender(tg.app.bot, sleep=tg.monotonic.sleep, paced=True)
    before = list(tg.monotonic.sleeps)
    for _ in range(3):
        assert (await paced.send(URN, MESSAGE)).status is SendStatus.SENT
    assert tg.monotonic.sleeps == before  # no per-chat wait in this process
    unpaced = TelegramSender(tg.app.bot, sleep=tg.monotonic.sleep)
    await unpaced.send(URN, MESSAGE)
    await unpaced.send(URN, MESSAGE)
    assert len(tg.monotonic.sleeps) > len(before)  # other sends still wait their turn
