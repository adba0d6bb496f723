"""Hand-off to staff on both channels: tickets, routing, staff answers, /close, after hours."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from itertools import count

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from twilio.rest import Client

from bot.app import Services, open_services
from bot.channels.sms.channel import SmsChannel
from bot.channels.sms.client import TwilioRest
from bot.channels.sms.config import SmsConfig
from bot.channels.sms.sender import SmsSender
from bot.db.models import Appointment, AuditEntry, Patient, Ticket, TicketPost, TicketStatus
from bot.db.session import Database
from handlers.conversation.answer import Answerer
from handlers.staff.alerts import StaffAlerts
from tests.conftest import FakeClock
from tests.sms_support import ACCOUNT_SID, PATIENT, TOKEN, payload, post_signed, sms_settings
from tests.staff_support import (
    STAFF_CHAT,
    STRANGER,
    RecordingTwilio,
    group_update,
    staff_harness,
    to_chat,
    to_group,
)
from tests.telegram_fake import Harness

OPEN_HOURS = 18  # 18:00 UTC is 10:00 in Portland on 2 March 2026: the clinic is open
_ids = count(300_000_001)


async def _header_post(db: Database, ticket_id: int) -> int:
    async with db.session() as session:
        first = await session.scalar(
            select(TicketPost.message_id)
            .where(TicketPost.ticket_id == ticket_id)
            .order_by(TicketPost.id)
            .limit(1)
        )
    assert first is not None
    return int(first)


async def _staff(harness: Harness, text: str, **kwargs: int) -> None:
    await harness.process(group_update(next(_ids), text, **kwargs))


async def _ticket(db: Database) -> Ticket:
    async with db.session() as session:
        return (await session.scalars(select(Ticket))).one()


async def _actions(db: Database) -> list[str]:
    async with db.session() as session:
        return list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


async def test_a_telegram_patient_is_handed_to_staff_and_back(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    clock.now = clock.now.replace(hour=OPEN_HOURS)
    async with staff_harness(db, answerer, clock) as (harness, _):
        await harness.say("/human")
        [opened] = to_chat(harness)
        assert "passed this to our team" in opened and "closed right now" not in opened
        ticket = await _ticket(db)
        assert (ticket.status, ticket.reason, ticket.channel) == ("open", "human", "telegram")
        assert to_group(harness) == [
            f"Ticket #{ticket.id} · Ana · Telegram · human\n"
            "Reply to this message to answer the patient; reply /close to end the ticket."
        ]
        # While the ticket is open the patient's words go to staff, with no automated reply.
        calls = await harness.say("how long do cupping marks last")
        assert [int(c.params["chat_id"]) for c in calls] == [STAFF_CHAT]
        assert to_group(harness)[-1] == f"#{ticket.id} Ana: how long do cupping marks last"
        header = await _header_post(db, ticket.id)
        # A stranger in the group is ignored; a staff reply reaches the patient's chat.
        assert await harness.process(group_update(next(_ids), "hi", user_id=STRANGER)) == []
        await _staff(harness, "They fade in 3 to 7 days. See you Tuesday!", reply_to=header)
        assert to_chat(harness)[-1] == "They fade in 3 to 7 days. See you Tuesday!"
        await harness.say("/human")  # asking again while open says so, no second ticket
        assert "already connected" in to_chat(harness)[-1]
        await _staff(harness, "/close", reply_to=header)
        assert "closed this conversation" in to_chat(harness)[-1]
        assert to_group(harness)[-1] == f"Ticket #{ticket.id} closed by Mei."
        # Closed: the bot answers again, and staff replies to the old post are refused.
        await harness.say("how long do cupping marks last")
        assert "cupping" in to_chat(harness)[-1].lower()
        await _staff(harness, "one more thing", reply_to=header)
        assert to_group(harness)[-1] == f"There is no open ticket #{ticket.id}."
    ticket = await _ticket(db)
    assert ticket.status == TicketStatus.CLOSED and ticket.closed_by == "staff:7001"
    # The refused reply to a closed ticket changed nothing, so it is not in the audit log.
    assert await _actions(db) == ["staff.add", "ticket.opened", "ticket.replied", "ticket.closed"]


async def test_red_flags_are_answered_first_while_a_ticket_is_open(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    async with staff_harness(db, answerer, clock) as (harness, _):
        await harness.say("/human")
        ticket = await _ticket(db)
        await harness.say("crushing pain in my chest")
        assert "Call 911" in to_chat(harness)[-1]  # the patient is told at once
        alert = to_group(harness)[-1]
        assert alert.startswith(f"Red flag (emergency) · Ana · Telegram · #{ticket.id}")
        assert "chest" not in " ".join(to_group(harness))  # minimal: no symptoms, no words


async def test_the_after_hours_notice_says_when_to_expect_an_answer(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    # 15:00 UTC on Monday 2 March is 07:00 in Portland: closed until 09:00.
    async with staff_harness(db, answerer, clock) as (harness, _):
        await harness.say("/human")
        assert "expect an answer from Mon 2 Mar, 09:00" in to_chat(harness)[-1]
        await _staff(harness, "/close 1")
        clock.now = clock.now.replace(day=8, hour=OPEN_HOURS)  # Sunday: closed all day
        await harness.say("/human")
        assert "expect an answer from Mon 9 Mar, 09:00" in to_chat(harness)[-1]


async def test_close_by_number_and_its_mistakes(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    async with staff_harness(db, answerer, clock) as (harness, _):
        await harness.say("/human")
        await _staff(harness, "/close")
        assert to_group(harness)[-1].startswith("Reply /close to a ticket's message")
        await _staff(harness, "/close 99")
        assert to_group(harness)[-1] == "There is no open ticket #99."
        # Numbers no ticket can have (past 32 bits, past 64 bits, not ASCII) are unknown too,
        # not a database overflow that leaves staff without a reply.
        for number in ("3000000000", "99999999999999999999999", "\u00b2", "0"):
            await _staff(harness, f"/close {number}")
            assert to_group(harness)[-1] == f"There is no open ticket #{number}."
        await _staff(harness, "/close@clinic_test_bot 1")
        assert to_group(harness)[-1] == "Ticket #1 closed by Mei."
        await _staff(harness, "/close 1")
        assert to_group(harness)[-1] == "There is no open ticket #1."


# SMS: the patient texts the Twilio webhook; staff answer from the Telegram group.


SmsRig = tuple[httpx.AsyncClient, Services, StaffAlerts, RecordingTwilio, SmsSender]


@pytest.fixture
async def sms_app(database_url: str, clock: FakeClock) -> AsyncIterator[SmsRig]:
    settings = sms_settings(database_url)
    alerts = StaffAlerts(clock=clock)
    services = await open_services(settings, clock=clock, alerts=alerts)
    channel = SmsChannel(settings, clock=clock)
    await channel.start(services)
    twilio = RecordingTwilio()
    # The SMS channel's sender, over a transport that records instead of reaching Twilio.
    sender = SmsSender(
        TwilioRest(Client(ACCOUNT_SID, TOKEN, http_client=twilio), twilio),
        services.conversation.answerer.content,
        SmsConfig.from_settings(settings),
    )
    transport = httpx.ASGITransport(app=Starlette(routes=channel.routes()))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.5") as client:
            yield client, services, alerts, twilio, sender
    finally:
        await channel.close()
        await services.close()


_sids = count()


async def _text(client: httpx.AsyncClient, body: str) -> list[str]:
    sid = f"SM{next(_sids):032x}"
    params = payload("inbound", Body=body, MessageSid=sid, SmsMessageSid=sid, SmsSid=sid)
    response = await post_signed(client, "/sms/inbound", params)
    assert response.status_code == 200
    found = re.findall(r"<Message[^>]*>(.*?)</Message>", response.text, re.DOTALL)
    return [html.unescape(reply) for reply in found]


async def test_an_sms_patient_is_handed_to_staff_and_back(
    sms_app: SmsRig, answerer: Answerer, clock: FakeClock
) -> None:
    client, services, alerts, twilio, sender = sms_app
    clock.now = clock.now.replace(hour=OPEN_HOURS)
    conversation = services.conversation
    async with staff_harness(
        services.db, answerer, clock, conversation=conversation, alerts=alerts, sms=sender
    ) as (harness, _):
        replies = await _text(client, "HUMAN")
        assert any("Our team will answer you here by text" in reply for reply in replies)
        ticket = await _ticket(services.db)
        assert (ticket.channel, ticket.reason) == ("sms", "human")
        assert to_group(harness)[0].startswith(f"Ticket #{ticket.id} · patient ")
        assert await _text(client, "can I bring my daughter along?") == []  # staff answer
        assert to_group(harness)[-1].endswith(": can I bring my daughter along?")
        header = await _header_post(services.db, ticket.id)
        await _staff(harness, "Of course, she is welcome.", reply_to=header)
        [form] = twilio.sent
        assert form["To"] == PATIENT
        assert form["Body"] == "Of course, she is welcome."  # a reply: no footer, no holding
        replies = await _text(client, "crushing pain in my chest")
        assert "911" in replies[0]  # red flags are still answered first, by SMS
        assert to_group(harness)[-1].startswith("Red flag (emergency) · patient ")
        await _staff(harness, f"/close {ticket.id}")
        assert "Text HUMAN any time" in twilio.sent[-1]["Body"]
    assert (await _ticket(services.db)).status == TicketStatus.CLOSED


async def test_a_telegram_reschedule_button_opens_a_ticket_for_staff(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    clock.now = clock.now.replace(hour=OPEN_HOURS)
    async with staff_harness(db, answerer, clock) as (harness, _):
        await harness.say("hello")  # the patient exists
        async with db.session() as session, session.begin():
            patient = (await session.scalars(select(Patient))).one()
            visit = Appointment(
                patient_id=patient.id,
                starts_at=clock() + timedelta(days=2),
                created_at=clock(),
                updated_at=clock(),
            )
            session.add(visit)
        await harness.press(f"appt:reschedule:{visit.id}")
        ticket = await _ticket(db)
        assert (ticket.reason, ticket.channel) == ("reschedule", "telegram")
        posts = to_group(harness)
        assert any(f"#{ticket.id}" in post and "reschedul" in post.lower() for post in posts)
        await harness.press(f"appt:reschedule:{visit.id + 99}")  # forged: no second ticket
    async with db.session() as session:
        assert len((await session.scalars(select(Ticket))).all()) == 1
