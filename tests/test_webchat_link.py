"""Linking a web chat to a patient's record with a one-time code sent to their phone."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bot.channels.base import SendOutcome, SendStatus
from bot.channels.webchat.identity import token_hash
from bot.db.models import Address, MessageLog, Patient
from bot.db.patients import find_or_create_patient
from handlers.messages import OutboundMessage
from tests.conftest import FakeClock
from tests.test_webchat_http import (
    OWN,
    count,
    database,
    events,
    running,
    say,
    start_chat,
    stream,
    webchat_app,
    webchat_settings,
)

PHONE = "tel:+15035550123"


class Outbox:
    """Stands in for the SMS and Telegram senders: records what would be sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, OutboundMessage]] = []

    def __call__(
        self, scheme: str
    ) -> Callable[[str, OutboundMessage], Awaitable[SendOutcome]] | None:
        async def send(urn: str, message: OutboundMessage) -> SendOutcome:
            self.sent.append((urn, message))
            return SendOutcome(SendStatus.SENT, external_id="SM1")

        return send if scheme == "tel" else None

    def code(self) -> str:
        found = re.search(r"\b(\d{6})\b", self.sent[-1][1].sms)
        assert found is not None, self.sent[-1][1].sms
        return found.group(1)


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
async def setup(
    tmp_path: Path, outbox: Outbox, clock: FakeClock
) -> AsyncIterator[tuple[httpx.AsyncClient, int]]:
    app, _ = webchat_app(
        webchat_settings(tmp_path),
        send_to=outbox,
        clock=clock,
        keepalive=0.05,
        lifetime=0.3,
        burst=100,  # the message pace is tested elsewhere
    )
    async with running(app) as client:
        async with database(client).session() as session, session.begin():
            owner, _, _ = await find_or_create_patient(session, PHONE, now=clock(), name="Ana")
            owner.language = "es"
        yield client, owner.id


async def link(client: httpx.AsyncClient, token: str, **body: str) -> httpx.Response:
    return await client.post(
        "/webchat/link", json=body, headers={"origin": OWN, "x-webchat-token": token}
    )


async def test_a_visitor_links_the_chat_to_their_record_with_the_code_sent_by_sms(
    setup: tuple[httpx.AsyncClient, int], outbox: Outbox
) -> None:
    client, owner_id = setup
    db = database(client)
    token = await start_chat(client)
    await say(client, token, "what is cupping", "msg-00000001")
    assert await count(db, Patient) == 2  # the visitor is a patient of their own so far

    asked = await link(client, token, contact="(503) 555-0123")
    assert asked.status_code == 200, asked.text
    assert [urn for urn, _ in outbox.sent] == [PHONE]
    assert "código" in outbox.sent[0][1].sms  # in the patient's language
    code = outbox.code()
    wrong = "000000" if code != "000000" else "111111"
    refused = await link(client, token, code=wrong)
    assert refused.status_code == 400
    assert refused.json() == {"error": "that code is not right"}

    linked = await link(client, token, code=code)
    assert linked.json() == {"linked": True}
    async with db.session() as session:
        urns = set(
            await session.scalars(select(Address.urn).where(Address.patient_id == owner_id))
        )
        logged = await session.scalar(
            select(func.count()).select_from(MessageLog).where(MessageLog.patient_id == owner_id)
        )
    assert urns == {PHONE, f"web:{token_hash(token)}"}
    assert await count(db, Patient) == 1  # merged into the known record
    assert logged == 2  # the visitor's message and its reply came along
    transcript = [line["text"] for _, line in events(await stream(client, token))]
    assert transcript[0] == "what is cupping"  # the transcript stayed
    assert (await link(client, token, code=code)).status_code == 400  # it works once


async def test_an_unknown_number_gets_the_same_answer_and_no_message(
    setup: tuple[httpx.AsyncClient, int], outbox: Outbox
) -> None:
    client, _ = setup
    token = await start_chat(client)
    known = await link(client, token, contact="+1 503 555 0123")
    unknown = await link(client, token, contact="+1 503 555 0199")
    assert unknown.status_code == known.status_code == 200
    assert unknown.json() == known.json()
    assert [urn for urn, _ in outbox.sent] == [PHONE]


async def test_a_visitor_who_never_wrote_joins_the_record_without_a_second_patient(
    setup: tuple[httpx.AsyncClient, int], outbox: Outbox
) -> None:
    client, owner_id = setup
    token = await start_chat(client)
    await link(client, token, contact="+15035550123")
    assert (await link(client, token, code=outbox.code())).json() == {"linked": True}
    await say(client, token, "what is cupping", "msg-00000001")
    db = database(client)
    assert await count(db, Patient) == 1
    async with db.session() as session:
        owner = await session.scalar(
            select(Address.patient_id).where(Address.urn == f"web:{token_hash(token)}")
        )
    assert owner == owner_id


async def test_codes_expire_are_spent_by_five_wrong_tries_and_are_rationed(
    setup: tuple[httpx.AsyncClient, int], outbox: Outbox, clock: FakeClock
) -> None:
    client, _ = setup
    token = await start_chat(client)
    await link(client, token, contact="+15035550123")
    clock.advance(minutes=11)
    expired = await link(client, token, code=outbox.code())
    assert expired.json() == {"error": "no code is waiting for this chat; ask for a new one"}

    await link(client, token, contact="+15035550123")
    code = outbox.code()
    wrong = "000000" if code != "000000" else "111111"
    answers = [(await link(client, token, code=wrong)).json()["error"] for _ in range(5)]
    assert answers[-1] == "too many wrong codes; ask for a new one"
    assert (await link(client, token, code=code)).status_code == 400  # spent

    await link(client, token, contact="+15035550123")
    rationed = await link(client, token, contact="+15035550123")
    assert rationed.status_code == 429  # three codes an hour
    clock.advance(hours=1)
    assert (await link(client, token, contact="+15035550123")).status_code == 200


@pytest.mark.parametrize("contact", ["hello", "12", "telegram:abc", "+1 555"])
async def test_a_contact_that_is_no_address_gets_one_line(
    setup: tuple[httpx.AsyncClient, int], contact: str
) -> None:
    client, _ = setup
    token = await start_chat(client)
    response = await link(client, token, contact=contact)
    assert response.status_code == 400
    assert response.json() == {"error": "not a phone number: write it with its country code"}
