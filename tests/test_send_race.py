"""A STOP confirmed while a message waits its turn in the pacer stops that message.

The pacers are injected: each turn first lets a patient's STOP through (the real webhook or
/stop), exactly when the message would otherwise have gone, so no test sleeps.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from itertools import count
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bot.app import Services
from bot.channels.base import SendStatus
from bot.channels.sms.client import TwilioRest
from bot.channels.sms.config import SmsConfig
from bot.channels.sms.sender import SmsSender
from bot.channels.telegram.ratelimit import ChatPacer
from bot.channels.telegram.sender import TelegramSender
from bot.db.models import Address, ConsentCategory, Delivery, DeliveryStatus, Patient
from bot.db.patients import find_or_create_patient
from bot.db.session import Database
from handlers.answer import Answerer
from handlers.audience import Audience
from handlers.broadcasts import create_broadcast
from handlers.consent import opt_in
from handlers.messages import OutboundMessage, ReplyKind
from handlers.preferences import stop
from handlers.quiet_hours import QuietHours
from scheduler.dispatch import Dispatcher
from scheduler.outbox import claim_due
from tests.conftest import FakeClock
from tests.scheduler_support import LA, RULES, TIPS
from tests.sms_support import (
    ACCOUNT_SID,
    TOKEN,
    payload,
    post_signed,
    running_sms_app,
)
from tests.telegram_fake import FakeMonotonic, Harness

DAYTIME = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)  # 10:00 in Los Angeles
PHONES = [f"+1503555{2000 + n:04d}" for n in range(12)]
_sid = count()


class RecordingTwilio(AsyncHttpClient):  # type: ignore[misc]
    """Accepts every message; remembers who got one and who had confirmed STOP by then."""

    def __init__(self, confirmed: set[str]) -> None:
        super().__init__(None, True, None)
        self.confirmed = confirmed
        self.posted: list[tuple[str, frozenset[str]]] = []

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        self.posted.append((str(kwargs["data"]["To"]), frozenset(self.confirmed)))
        return Response(201, json.dumps({"sid": f"SM{next(_sid):032x}"}), {})

    async def close(self) -> None:
        return None


class TurnPacer:
    """One send at a time; before each turn, `before_turn(n)` runs (a STOP arrives)."""

    def __init__(self, before_turn: Callable[[int], Awaitable[None]]) -> None:
        self._before, self._lock, self.turns = before_turn, asyncio.Lock(), 0

    async def __aenter__(self) -> None:
        async with self._lock:
            await self._before(self.turns)
            self.turns += 1

    async def __aexit__(self, *exc: object) -> None:
        return None


@pytest.fixture
async def sms_app(
    database_url: str, clock: FakeClock
) -> AsyncIterator[tuple[Starlette, Services]]:
    clock.now = DAYTIME
    async with running_sms_app(database_url, clock) as app:
        yield app


async def _text(client: httpx.AsyncClient, phone: str, body: str) -> list[str]:
    sid = f"SM{next(_sid):032x}"
    params = payload(
        "inbound", From=phone, Body=body, MessageSid=sid, SmsMessageSid=sid, SmsSid=sid
    )
    response = await post_signed(client, "/sms/inbound", params)
    assert response.status_code == 200
    found = re.findall(r"<Message[^>]*>(.*?)</Message>", response.text, re.DOTALL)
    return [html.unescape(reply) for reply in found]


async def test_no_broadcast_sms_goes_out_after_a_confirmed_stop(
    sms_app: tuple[Starlette, Services], clock: FakeClock
) -> None:
    app, services = sms_app
    async with services.db.session() as session, session.begin():
        for phone in PHONES:
            patient, _, _ = await find_or_create_patient(session, f"tel:{phone}", now=clock())
            patient.language, patient.timezone = "en", "America/Los_Angeles"
            await opt_in(session, patient.id, source="test", now=clock())
        await create_broadcast(
            session,
            {"en": "Closed Friday."},
            Audience(),
            send_at=clock(),
            actor="cli",
            now=clock(),
        )
    confirmed: set[str] = set()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.5:8080") as client:

        async def stop_arrives(turn: int) -> None:
            # Every patient texts STOP as the broadcast begins, one per pacer turn, in an
            # order unrelated to the sending order.
            phone = PHONES[(turn * 5) % len(PHONES)]
            [reply] = await _text(client, phone, "STOP")
            assert "unsubscribed" in reply
            confirmed.add(phone)

        http = RecordingTwilio(confirmed)
        sender = SmsSender(
            TwilioRest(Client(ACCOUNT_SID, TOKEN, http_client=http), http),
            services.db,
            services.conversation.answerer.content,
            SmsConfig.from_settings(services.settings),
            clock=clock,
            pace=TurnPacer(stop_arrives),
        )
        dispatcher = Dispatcher(
            services.db, services.conversation.answerer.content, TIPS, RULES, {"tel": sender},
            clock=clock, clinic_zone=LA, quiet=QuietHours(),
        )  # fmt: skip
        async with services.db.session() as session, session.begin():
            ids = await claim_due(session, clock(), 100)
        statuses = await dispatcher.dispatch_batch(ids, concurrency=len(PHONES))
    after_stop = [to for to, stopped in http.posted if to in stopped]
    assert after_stop == []
    assert http.posted  # some went before their patient's STOP: the race was real
    async with services.db.session() as session:
        rows = (await session.execute(select(Delivery.status, Delivery.reason))).all()
    skipped = [reason for status, reason in rows if status == DeliveryStatus.SKIPPED]
    assert len(skipped) + len(http.posted) == len(PHONES) == len(statuses)
    assert set(skipped) == {"opted_out"}


class StopWhileWaiting(ChatPacer):
    """Per-chat pacing as usual; while a chat's message waits, the patient sends /stop."""

    def __init__(self, monotonic: FakeMonotonic) -> None:
        super().__init__(clock=monotonic, sleep=monotonic.sleep)
        self.during_wait: Callable[[], Awaitable[None]] | None = None

    async def wait(self, chat: object) -> None:
        if self.during_wait is not None:
            arrive, self.during_wait = self.during_wait, None
            await arrive()
        await super().wait(chat)


@pytest.mark.parametrize("kind", ["broadcast", "tip", "nudge"])
async def test_no_telegram_message_goes_out_after_stop(
    db: Database, answerer: Answerer, clock: FakeClock, kind: str
) -> None:
    monotonic = FakeMonotonic()
    pacer = StopWhileWaiting(monotonic)
    async with Harness.running(db, answerer, clock, pacer=pacer) as tg:
        await tg.send("command_start")
        async with db.session() as session, session.begin():
            patient = (await session.scalars(select(Patient))).one()
            await opt_in(session, patient.id, source="test", now=clock())
        sender = TelegramSender(tg.app.bot, tg.deps, sleep=monotonic.sleep)
        consent = {
            "broadcast": ConsentCategory.ANNOUNCEMENTS,
            "tip": ConsentCategory.TIPS,
            "nudge": ConsentCategory.APPOINTMENTS,
        }[kind]
        message = OutboundMessage(
            text="Closed Friday.",
            sms="Closed Friday.",
            kind=ReplyKind(kind),
            lang="en",
            consent=consent,
        )
        async with db.session() as session:
            chat = (await session.scalars(select(Address.urn))).one()
        assert (await sender.send(chat, message)).status is SendStatus.SENT

        async def stop_arrives() -> None:
            async with db.session() as session, session.begin():
                await stop(session, patient.id, channel="telegram", now=clock())

        pacer.during_wait = stop_arrives
        calls = len(tg.api.calls)
        outcome = await sender.send(chat, message)
        assert (outcome.status, outcome.error) == (SendStatus.WITHDRAWN, "no_consent")
        assert len(tg.api.calls) == calls
        # Messages that need no consent (a staff answer, a reply) still go.
        reply = OutboundMessage(text="We hear you.", sms="", kind=ReplyKind.HUMAN, lang="en")
        assert (await sender.send(chat, reply)).status is SendStatus.SENT
