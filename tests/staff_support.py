"""Helpers for the staff tests: the Telegram harness wired to a staff group, group updates."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from twilio.http import AsyncHttpClient
from twilio.http.response import Response

from bot.channels.telegram.staff_group import ReplySender, connect_staff_group
from bot.db.models import StaffRole
from bot.db.session import Database
from handlers.conversation.answer import Answerer
from handlers.conversation.conversation import Conversation
from handlers.staff.alerts import AlertDetail, StaffAlerts
from handlers.staff.roles import add_staff
from tests.conftest import FakeClock
from tests.telegram_fake import BOT_USER, Harness

STAFF_CHAT = -1001234567890
STAFF_USER = 7001
STRANGER = 7002
PATIENT_CHAT = 5550001  # the private_text payload's chat


def group_update(
    update_id: int,
    text: str,
    *,
    user_id: int = STAFF_USER,
    message_id: int = 900,
    reply_to: int | None = None,
) -> dict[str, Any]:
    """Build a staff-group message update, optionally a reply to the bot's post `reply_to`."""
    chat = {"id": STAFF_CHAT, "title": "Clinic staff", "type": "supergroup"}
    message: dict[str, Any] = {
        "message_id": message_id,
        "from": {"id": user_id, "is_bot": False, "first_name": "Mei"},
        "chat": chat,
        "date": 1772463600,
        "text": text,
    }
    if text.startswith("/"):
        command = text.split()[0]
        message["entities"] = [{"offset": 0, "length": len(command), "type": "bot_command"}]
    if reply_to is not None:
        message["reply_to_message"] = {
            "message_id": reply_to,
            "from": BOT_USER,
            "chat": chat,
            "date": 1772463600,
            "text": "Ticket",
        }
    return {"update_id": update_id, "message": message}


class RecordingTwilio(AsyncHttpClient):  # type: ignore[misc]
    """A Twilio transport that accepts every message and remembers its form."""

    def __init__(self) -> None:
        super().__init__(None, True, None)
        self.sent: list[dict[str, Any]] = []

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        self.sent.append(dict(kwargs.get("data") or {}))
        body = {"sid": f"SM{len(self.sent):032x}", "status": "queued"}
        return Response(201, json.dumps(body), {})

    async def close(self) -> None:
        return None


async def make_staff(db: Database, clock: FakeClock, user_id: int = STAFF_USER) -> None:
    """Add a staff member."""
    async with db.session() as session, session.begin():
        await add_staff(session, user_id, StaffRole.STAFF, actor="test", now=clock.now)


@asynccontextmanager
async def staff_harness(
    db: Database,
    answerer: Answerer,
    clock: FakeClock,
    *,
    detail: AlertDetail = AlertDetail.MINIMAL,
    conversation: Conversation | None = None,
    alerts: StaffAlerts | None = None,
    sms: ReplySender | None = None,
) -> AsyncIterator[tuple[Harness, StaffAlerts]]:
    """The real PTB stack over the fake Bot API, with the staff group connected."""
    alerts = alerts or StaffAlerts(detail=detail, clock=clock)
    async with Harness.running(db, answerer, clock) as harness:
        chosen = conversation or Conversation(db, answerer, clock=clock, alerts=alerts)
        harness.deps = dataclasses.replace(harness.deps, conversation=chosen)
        harness.deps.install(harness.app.bot_data)
        connect_staff_group(
            harness.app, harness.deps, chat_id=STAFF_CHAT, alerts=alerts, ready=None, sms=sms
        )
        await make_staff(db, clock)
        yield harness, alerts


def to_group(harness: Harness) -> list[str]:
    """Return the texts the bot posted to the staff group."""
    return [c.text for c in harness.api.sent() if int(c.params["chat_id"]) == STAFF_CHAT]


def to_chat(harness: Harness, chat_id: int = PATIENT_CHAT) -> list[str]:
    """Return the texts the bot sent to a private chat."""
    return [c.text for c in harness.api.sent() if int(c.params["chat_id"]) == chat_id]
