"""Outbound SMS: the real twilio SDK against Twilio's OpenAPI description (Prism) and fakes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bot.app import Services, open_services
from bot.channels.base import SendStatus
from bot.channels.sms.client import RedirectingAsyncHttpClient, TwilioRest
from bot.channels.sms.config import SmsConfig
from bot.channels.sms.sender import SmsSender
from bot.db.models import Address, MessageLog
from bot.db.patients import find_or_create_patient
from content.sms import count_segments
from handlers.delivery.consent import refusal, stop_everything
from handlers.delivery.sending import Checked
from handlers.messages import OutboundMessage, ReplyKind
from tests.conftest import FakeClock
from tests.sms_support import ACCOUNT_SID, PATIENT, SERVICE_SID, TOKEN, sms_settings

URN = f"tel:{PATIENT}"
NOON_PORTLAND = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)


class RecordingClient(RedirectingAsyncHttpClient):
    """The real redirecting client, remembering each request's form."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        self.sent.append((method, self.target(url), dict(kwargs.get("data") or {})))
        response: Response = await super().request(method, url, *args, **kwargs)
        return response


class FakeTwilio(AsyncHttpClient):  # type: ignore[misc]
    """A transport that answers from a script: (status, JSON body) or an exception."""

    def __init__(self, *answers: tuple[int, dict[str, Any]] | Exception) -> None:
        super().__init__(None, True, None)
        self.answers = list(answers)
        self.calls = 0
        self.bodies: list[str] = []

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        self.calls += 1
        self.bodies.append(str((kwargs.get("data") or {}).get("Body", "")))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return Response(answer[0], json.dumps(answer[1]), {})

    async def close(self) -> None:
        return None


@pytest.fixture
async def services(database_url: str, clock: FakeClock) -> AsyncIterator[Services]:
    opened = await open_services(sms_settings(database_url), clock=clock)
    async with opened.db.session() as session, session.begin():
        await find_or_create_patient(session, URN, now=clock.now)
    try:
        yield opened
    finally:
        await opened.close()


def _sender(services: Services, http: Any, **settings: object) -> SmsSender:
    config = SmsConfig.from_settings(sms_settings(services.settings.database_url, **settings))
    rest = TwilioRest(Client(ACCOUNT_SID, TOKEN, http_client=http), http)
    return SmsSender(rest, services.conversation.answerer.content, config)


def _checked(services: Services, http: Any, clock: FakeClock) -> Checked:
    """The SMS transport behind the core's send-time check and recording (direct sends)."""
    return Checked(_sender(services, http), services.db, clock=clock)


async def _messages(services: Services) -> list[MessageLog]:
    async with services.db.session() as session:
        return list((await session.scalars(select(MessageLog))).all())


def _tip(text: str = "Remember your stretches today.") -> OutboundMessage:
    return OutboundMessage(text=text, sms=text, kind=ReplyKind.TIP, lang="en")


async def test_the_sdk_posts_a_valid_message_to_twilios_api(
    prism: str, services: Services, clock: FakeClock
) -> None:
    clock.now = NOON_PORTLAND
    http = RecordingClient(prism)
    try:
        outcome = await _sender(services, http).send(URN, _tip())
    finally:
        await http.close()
    assert outcome.status is SendStatus.SENT and outcome.external_id
    [(method, url, form)] = http.sent
    assert method == "POST"
    assert url == f"{prism}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert form["To"] == PATIENT
    assert form["MessagingServiceSid"] == SERVICE_SID and "From" not in form
    assert form["StatusCallback"] == "https://bot.clinic.example/sms/status"
    assert form["Body"].startswith("Willow Creek Acupuncture & Cupping: Remember")
    assert form["Body"].endswith("Reply STOP to opt out.")
    assert await _messages(services) == []  # a transport writes nothing


async def test_a_from_number_is_used_without_a_messaging_service(
    prism: str, services: Services, clock: FakeClock
) -> None:
    clock.now = NOON_PORTLAND
    http = RecordingClient(prism)
    try:
        sender = _sender(
            services,
            http,
            twilio_messaging_service_sid=None,
            twilio_from_number="(503) 555-0100",
        )
        outcome = await sender.send(URN, _tip(), reply=True)
    finally:
        await http.close()
    assert outcome.status is SendStatus.SENT
    [(_, _, form)] = http.sent
    assert form["From"] == "+15035550100" and "MessagingServiceSid" not in form
    assert form["Body"] == "Remember your stretches today."  # a reply is sent as written


async def test_long_automated_text_is_kept_within_two_segments(services: Services) -> None:
    http = FakeTwilio((201, {"sid": "SM" + "1" * 32}))
    await _sender(services, http).send(URN, _tip("Breathe slowly. " * 60))
    [body] = http.bodies
    assert count_segments(body).count <= 2 and body.endswith("Reply STOP to opt out.")


async def test_the_core_sends_nothing_to_opted_out_numbers(
    services: Services, clock: FakeClock
) -> None:
    async with services.db.session() as session, session.begin():
        address = (await session.scalars(select(Address))).one()
        await stop_everything(session, address.patient_id, source="sms:stop", now=clock.now)
    http = FakeTwilio()
    outcome = await _checked(services, http, clock).send(URN, _tip())
    assert (outcome.status, outcome.error) == (SendStatus.WITHDRAWN, "opted_out")
    assert http.calls == 0


@pytest.mark.parametrize(
    ("code", "status", "reachable", "opted_out"),
    [
        (21610, SendStatus.OPTED_OUT, True, True),
        (21211, SendStatus.UNREACHABLE, False, False),
        (21614, SendStatus.UNREACHABLE, False, False),
        (21408, SendStatus.FAILED, True, False),
    ],
)
async def test_twilio_errors_map_to_outcomes_and_the_core_marks_the_address(
    services: Services,
    clock: FakeClock,
    code: int,
    status: SendStatus,
    reachable: bool,
    opted_out: bool,
) -> None:
    answer = (400, {"code": code, "message": "no", "status": 400})
    outcome = await _sender(services, FakeTwilio(answer)).send(URN, _tip())
    assert outcome.status is status and outcome.error == str(code)
    async with services.db.session() as session:
        address = (await session.scalars(select(Address))).one()
    assert address.reachable and address.opted_out_at is None  # the transport wrote nothing
    outcome = await _checked(services, FakeTwilio(answer), clock).send(URN, _tip())
    assert outcome.status is status
    async with services.db.session() as session:
        address = (await session.scalars(select(Address))).one()
    assert address.reachable is reachable
    assert (address.opted_out_at is not None) is opted_out
    if opted_out:  # a carrier's STOP is a STOP: every consent withdrawn
        async with services.db.session() as session:
            assert await refusal(session, URN, None) == "opted_out"
    assert [m.status for m in await _messages(services)] == [str(status)]


async def test_rate_limits_pause_the_sender_and_connection_failures_retry_later(
    services: Services,
) -> None:
    refused = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("h", 1, False, False, None, None, None),
        OSError("refused"),
    )
    http = FakeTwilio((429, {"code": 20429, "message": "Too Many Requests", "status": 429}))
    outcome = await _sender(services, http).send(URN, _tip())
    # Not retried here: the outbox pauses this sender for every process (scheduler.lanes).
    assert outcome.status is SendStatus.RATE_LIMITED and outcome.retry_after and http.calls == 1
    http = FakeTwilio(refused)
    outcome = await _sender(services, http).send(URN, _tip())
    assert (outcome.status, outcome.error, http.calls) == (SendStatus.RETRY, "network", 1)


async def test_server_errors_and_timeouts_are_never_re_posted(services: Services) -> None:
    for answer in ((500, {"code": 20500, "message": "oops", "status": 500}), TimeoutError()):
        http = FakeTwilio(answer)
        outcome = await _sender(services, http).send(URN, _tip())
        assert outcome.status is SendStatus.RETRY and http.calls == 1


async def test_a_malformed_address_fails_without_a_request(services: Services) -> None:
    http = FakeTwilio()
    outcome = await _sender(services, http).send("tel:555", _tip())
    assert outcome.status is SendStatus.FAILED and outcome.error == "invalid_address"
    assert http.calls == 0


def test_segments_of_a_fitted_message() -> None:
    from handlers.conversation.sms_keywords import fit_automated

    body = fit_automated("Ñandú " * 100, clinic_name="Clinic", opt_out="Reply STOP to opt out.")
    assert count_segments(body).count <= 2 and body.endswith("Reply STOP to opt out.")
