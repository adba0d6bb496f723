"""Every log record of a flow on both channels, at DEBUG: no phone numbers, bodies or tokens."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bot.channels.base import ChannelSender
from bot.channels.sms.client import TwilioRest
from bot.channels.sms.sender import SmsSender
from bot.db.models import Address, Broadcast, ConsentCategory
from bot.logs import QUIET_LIBRARIES, configure_logging
from handlers.delivery.consent import opt_in
from scheduler.outbox import PlannedDelivery, insert_planned
from scheduler.runtime import build_scheduler
from tests.conftest import FakeClock
from tests.sms_support import ACCOUNT_SID, PATIENT, payload, post_signed
from tests.sms_support import TOKEN as TWILIO_TOKEN
from tests.telegram_fake import TOKEN, FakeBotApi
from tests.telegram_fake import payload as update
from tests.test_fuzz_webhooks import SECRET, both_channels, running_app

CONTACT_PHONE = "+15035550177"  # the number the Telegram contact shares
BODIES = {
    "telegram_question": "how long do cupping marks last zebrafish",
    "telegram_red_flag": "I have crushing chest pain and my left arm is numb quokka",
    "sms_question": "do you take my insurance narwhal",
    "sms_red_flag": "never had chest pain like this before axolotl",
    "broadcast": "Closed Friday for the staff retreat pangolin",
}
SECRETS = [TOKEN, TOKEN.split(":")[1], TWILIO_TOKEN, SECRET]


def phone_forms(e164: str) -> list[str]:
    """Return the ways a US number may be written: E.164, national, digits."""
    digits = e164.removeprefix("+1")
    area, exchange, line = digits[:3], digits[3:6], digits[6:]
    return [
        e164,
        e164[1:],
        digits,
        f"({area}) {exchange}-{line}",
        f"{area}-{exchange}-{line}",
        f"{area} {exchange} {line}",
    ]


class Capture(logging.Handler):
    """Keep the full text of every record: message, arguments and traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        if record.stack_info:
            text += "\n" + record.stack_info
        self.texts.append(text)


@pytest.fixture
def captured() -> Iterator[Capture]:
    """Configure logging as `clinicbot run` does with LOG_LEVEL=DEBUG, and capture it all."""
    root = logging.getLogger()
    handlers, levels = (
        list(root.handlers),
        {name: logging.getLogger(name).level for name in ("", *QUIET_LIBRARIES)},
    )
    capture = Capture()
    configure_logging("DEBUG")
    for name in ("bot", "handlers", "scheduler", "content", "starlette", "uvicorn"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    root.addHandler(capture)
    try:
        yield capture
    finally:
        root.handlers[:] = handlers
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        for name in ("bot", "handlers", "scheduler", "content", "starlette", "uvicorn"):
            logging.getLogger(name).setLevel(logging.NOTSET)


class TwilioAccepts(AsyncHttpClient):  # type: ignore[misc]
    """A Twilio transport that accepts every message."""

    def __init__(self) -> None:
        super().__init__(None, True, None)
        self.sent: list[dict[str, Any]] = []

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        self.sent.append(dict(kwargs.get("data") or {}))
        sid = f"SM{len(self.sent):032x}"
        return Response(201, json.dumps({"sid": sid, "status": "queued"}), {})

    async def close(self) -> None:
        return None


async def test_a_flow_on_both_channels_logs_no_numbers_bodies_or_tokens(
    tmp_path: Path, clock: FakeClock, captured: Capture
) -> None:
    clock.now = datetime(2026, 3, 3, 19, 0, tzinfo=UTC)  # 11:00 in Portland: not quiet hours
    api = FakeBotApi()
    settings = both_channels(f"sqlite+aiosqlite:///{tmp_path / 'logs.db'}")
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with running_app(settings, api, clock) as (app, client):
        ids = iter(range(500_000_000, 500_000_100))
        contact = update("contact", update_id=next(ids))
        contact["message"]["contact"]["phone_number"] = CONTACT_PHONE
        for data in (
            update("command_start", update_id=next(ids)),
            contact,
            update("private_text", text=BODIES["telegram_question"], update_id=next(ids)),
            update("private_text", text=BODIES["telegram_red_flag"], update_id=next(ids)),
        ):
            assert (await client.post("/telegram", json=data, headers=headers)).status_code == 200
        for number, body in enumerate(
            ("hello", "YES", BODIES["sms_question"], BODIES["sms_red_flag"])
        ):
            sid = f"SM{number:032x}"
            form = payload("inbound", Body=body, MessageSid=sid, SmsMessageSid=sid, SmsSid=sid)
            assert (await post_signed(client, "/sms/inbound", form)).status_code == 200
        status = payload("status_failed_21610")
        assert (await post_signed(client, "/sms/status", status)).status_code in (200, 204)

        # A scheduler tick sending a broadcast to both patients through the real senders.
        services = app.state.services
        twilio = TwilioAccepts()
        rest = TwilioRest(Client(ACCOUNT_SID, TWILIO_TOKEN, http_client=twilio), twilio)  # type: ignore[arg-type]
        sms_sender = SmsSender(rest, services.conversation.answerer.content, app.state.sms.config)
        senders: dict[str, ChannelSender] = {
            "telegram": app.state.telegram.sender(),
            "tel": sms_sender,
        }
        scheduler = build_scheduler(settings, services, senders, clock=clock)
        async with services.db.session() as session, session.begin():
            addresses = list(await session.scalars(select(Address)))
            broadcast = Broadcast(
                created_by="cli",
                texts=json.dumps({"en": BODIES["broadcast"]}),
                audience="{}",
                send_at=clock.now,
                created_at=clock.now,
                updated_at=clock.now,
            )
            session.add(broadcast)
            await session.flush()
            patients = {a.patient_id for a in addresses}
            for patient in patients:
                await opt_in(
                    session, patient, (ConsentCategory.ANNOUNCEMENTS,), source="test", now=clock()
                )
            await insert_planned(
                session,
                [
                    PlannedDelivery(
                        f"broadcast:{a.patient_id}:{a.scheme}",
                        a.patient_id,
                        "broadcast",
                        f"broadcast:{broadcast.id}",
                        clock.now,
                        None,
                    )
                    for a in addresses
                    if a.scheme in ("telegram", "tel") and a.urn != f"tel:{CONTACT_PHONE}"
                ],
                clock.now,
            )
        report = await scheduler.tick()
        assert report.claimed >= 2
    assert any(BODIES["broadcast"] in call.text for call in api.sent())
    assert any(BODIES["broadcast"] in str(sent.get("Body")) for sent in twilio.sent)

    logs = "\n".join(captured.texts)
    assert "red flag" in logs and "delivery" in logs  # the flow did log, by id
    forbidden = [*phone_forms(PATIENT), *phone_forms(CONTACT_PHONE), *BODIES.values(), *SECRETS]
    leaks = [word for word in forbidden if word in logs]
    assert leaks == [], [line for line in captured.texts if any(w in line for w in leaks)][:5]
    for body in BODIES.values():  # nor any distinctive word of a body
        assert body.split()[-1] not in logs
