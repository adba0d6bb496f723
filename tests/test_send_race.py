"""A STOP confirmed while a broadcast is under way stops the rest of it.

The outbox decides every row in the transaction that claims it, right before posting
(scheduler.dispatch). Here each post lets a patient's STOP through (the real SMS webhook, or
/stop on Telegram) while the broadcast is going out, so no test sleeps or times anything.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
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
from bot.channels.base import ChannelSender, SendOutcome, SendStatus
from bot.channels.sms.client import TwilioRest
from bot.channels.sms.config import SmsConfig
from bot.channels.sms.sender import SmsSender
from bot.channels.telegram.sender import TelegramSender
from bot.db.models import Address, ConsentCategory, Delivery, DeliveryStatus, Patient
from bot.db.patients import find_or_create_patient
from bot.db.session import Database
from handlers.conversation.answer import Answerer
from handlers.delivery.consent import opt_in
from handlers.delivery.sending import Checked
from handlers.messages import OutboundMessage, ReplyKind
from handlers.patients.preferences import stop
from handlers.staff.audience import Audience
from handlers.staff.broadcasts import create_broadcast
from handlers.time.quiet_hours import QuietHours
from scheduler.dispatch import Dispatcher
from scheduler.lanes import Limit, SenderLimits
from tests.conftest import FakeClock
from tests.scheduler_support import LA, RULES, TIPS
from tests.sms_support import (
    ACCOUNT_SID,
    TOKEN,
    payload,
    post_signed,
    running_sms_app,
)
from tests.telegram_fake import Harness

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


class StopDuringPost:
    """A sender that lets a STOP arrive while each message is under way (before it answers).

    A STOP that arrives after a row was decided and before its post is, by nature, too
    late for that one message; everything decided after it must honour it.
    """

    def __init__(self, sender: ChannelSender, during: Callable[[int], Awaitable[None]]) -> None:
        self._sender, self._during, self.posts = sender, during, 0

    async def send(self, urn: str, message: OutboundMessage) -> SendOutcome:
        turn, self.posts = self.posts, self.posts + 1
        outcome = await self._sender.send(urn, message)
        await self._during(turn)
        return outcome


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
            # Patients text STOP while the broadcast goes out, one during each post, in an
            # order unrelated to the sending order.
            phone = PHONES[(turn * 5) % len(PHONES)]
            if phone in confirmed:
                return
            [reply] = await _text(client, phone, "STOP")
            assert "unsubscribed" in reply
            confirmed.add(phone)

        http = RecordingTwilio(confirmed)
        transport = SmsSender(
            TwilioRest(Client(ACCOUNT_SID, TOKEN, http_client=http), http),
            services.conversation.answerer.content,
            SmsConfig.from_settings(services.settings),
        )
        sender = StopDuringPost(transport, stop_arrives)
        # One lane with a tiny window: one message per wave, so every wave is a fresh check.
        limits = {"tel": SenderLimits(Limit("tel:test", 1, timedelta(milliseconds=1)))}
        dispatcher = Dispatcher(
            services.db, services.conversation.answerer.content, TIPS, RULES, {"tel": sender},
            clock=clock, clinic_zone=LA, quiet=QuietHours(), limits=limits,
        )  # fmt: skip
        statuses = await dispatcher.drain()
    after_stop = [to for to, stopped in http.posted if to in stopped]
    assert after_stop == []
    assert http.posted  # some went before their patient's STOP: the race was real
    async with services.db.session() as session:
        rows = (await session.execute(select(Delivery.status, Delivery.reason))).all()
    skipped = [reason for status, reason in rows if status == DeliveryStatus.SKIPPED]
    assert skipped  # and some were stopped by it
    assert len(skipped) + len(http.posted) == len(PHONES) == sum(statuses.values())
    assert set(skipped) == {"no_consent"}  # a STOP withdraws every category


async def test_no_telegram_broadcast_goes_out_after_stop(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    clock.now = DAYTIME
    async with Harness.running(db, answerer, clock) as tg:
        await tg.send("command_start")
        async with db.session() as session, session.begin():
            patient = (await session.scalars(select(Patient))).one()
            patient.language = "en"
            await opt_in(session, patient.id, source="test", now=clock())
            for text in ("Closed Friday.", "Open Saturday.", "New hours."):
                await create_broadcast(
                    session, {"en": text}, Audience(), send_at=clock(), actor="cli", now=clock()
                )
        async with db.session() as session:
            chat = (await session.scalars(select(Address.urn))).one()

        async def stop_arrives(turn: int) -> None:
            if turn == 0:  # /stop while the first broadcast is being posted
                async with db.session() as session, session.begin():
                    await stop(session, patient.id, channel="telegram", now=clock())

        transport = TelegramSender(tg.app.bot)
        dispatcher = Dispatcher(
            db, answerer.content, TIPS, RULES,
            {"telegram": StopDuringPost(transport, stop_arrives)},
            clock=clock, clinic_zone=LA, quiet=QuietHours(),
        )  # fmt: skip
        calls = len(tg.api.calls)
        await dispatcher.drain(concurrency=1)
        assert len(tg.api.calls) == calls + 1  # only the one under way when /stop came
        async with db.session() as session:
            rows = (await session.execute(select(Delivery.status, Delivery.reason))).all()
        assert sorted(rows) == [
            ("sent", None),
            ("skipped", "no_consent"),
            ("skipped", "no_consent"),
        ]
        # Messages that need no consent (a staff answer) still go, through the core's check.
        reply = OutboundMessage(text="We hear you.", sms="", kind=ReplyKind.HUMAN, lang="en")
        checked = Checked(transport, db, clock=clock)
        assert (await checked.send(chat, reply)).status is SendStatus.SENT
        withdrawn = OutboundMessage(
            text="Tip", sms="", kind=ReplyKind.TIP, lang="en", consent=ConsentCategory.TIPS
        )
        outcome = await checked.send(chat, withdrawn)
        assert (outcome.status, outcome.error) == (SendStatus.WITHDRAWN, "no_consent")
