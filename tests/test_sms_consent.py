"""SMS consent: START gives back what the patient had agreed to, opt-outs in plain words."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from itertools import count

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from bot.app import Services
from bot.db.models import Address, Consent, ConsentCategory, Patient
from bot.db.patients import set_consent
from handlers.patients.preferences import stop as telegram_stop
from tests.conftest import FakeClock
from tests.sms_support import PATIENT, payload, post_signed, running_sms_app

URN = f"tel:{PATIENT}"
_sid = count()


@pytest.fixture
async def app(database_url: str, clock: FakeClock) -> AsyncIterator[tuple[Starlette, Services]]:
    async with running_sms_app(database_url, clock) as app:
        yield app


@pytest.fixture
async def client(app: tuple[Starlette, Services]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app[0])
    async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.5:8080") as c:
        yield c


async def text(client: httpx.AsyncClient, body: str) -> list[str]:
    """Send one signed inbound SMS and return the reply texts from the TwiML."""
    sid = f"SM{next(_sid):032x}"
    params = payload("inbound", Body=body, MessageSid=sid, SmsMessageSid=sid, SmsSid=sid)
    response = await post_signed(client, "/sms/inbound", params)
    assert response.status_code == 200
    found = re.findall(r"<Message[^>]*>(.*?)</Message>", response.text, re.DOTALL)
    return [html.unescape(reply) for reply in found]


async def consents(services: Services) -> dict[str, bool]:
    async with services.db.session() as session:
        rows = await session.execute(select(Consent.category, Consent.granted))
        return {str(category): granted for category, granted in rows}


async def opted_out(services: Services) -> bool:
    async with services.db.session() as session:
        when = await session.scalar(select(Address.opted_out_at).where(Address.urn == URN))
    return when is not None


async def _onboarded(services: Services, clock: FakeClock) -> int:
    """A Telegram patient who agreed to appointment messages only, and shared this number."""
    async with services.db.session() as session, session.begin():
        patient = Patient(created_at=clock(), updated_at=clock(), language="en")
        session.add(patient)
        session.add_all(
            [
                Address(
                    urn="telegram:4242", scheme="telegram", created_at=clock(), patient=patient
                ),
                Address(urn=URN, scheme="tel", created_at=clock(), patient=patient),
            ]
        )
        await session.flush()
        for category in ConsentCategory:
            granted = category is ConsentCategory.APPOINTMENTS
            await set_consent(
                session,
                patient.id,
                category,
                granted=granted,
                source="telegram:onboarding",
                now=clock(),
            )
        return patient.id


@pytest.mark.parametrize("back", ["START", "unstop", "YES"])
async def test_start_restores_only_what_was_agreed_before_the_stop(
    client: httpx.AsyncClient, app: tuple[Starlette, Services], clock: FakeClock, back: str
) -> None:
    services = app[1]
    await _onboarded(services, clock)
    await text(client, "STOP")
    assert not any((await consents(services)).values()) and await opted_out(services)
    clock.advance(minutes=5)
    [reply] = await text(client, back)
    assert "choices you had made before" in reply
    assert await consents(services) == {
        "appointments": True,
        "tips": False,  # declined in Telegram onboarding: stays declined
        "announcements": False,
    }
    assert not await opted_out(services)


async def test_start_after_a_telegram_stop_restores_the_same(
    client: httpx.AsyncClient, app: tuple[Starlette, Services], clock: FakeClock
) -> None:
    services = app[1]
    patient_id = await _onboarded(services, clock)
    async with services.db.session() as session, session.begin():
        await telegram_stop(session, patient_id, channel="telegram", now=clock())
    await text(client, "START")
    assert await consents(services) == {
        "appointments": True,
        "tips": False,
        "announcements": False,
    }


@pytest.mark.parametrize("back", ["START", "YES"])
async def test_start_from_someone_who_never_chose_grants_what_the_welcome_offers(
    client: httpx.AsyncClient, app: tuple[Starlette, Services], back: str
) -> None:
    services = app[1]
    await text(client, "STOP")  # the very first text
    [reply] = await text(client, back)
    assert "You'll get appointment reminders and tips" in reply
    assert await consents(services) == dict.fromkeys(map(str, ConsentCategory), True)
    assert not await opted_out(services)


async def test_stop_start_stop_start_keeps_the_original_choice(
    client: httpx.AsyncClient, app: tuple[Starlette, Services], clock: FakeClock
) -> None:
    services = app[1]
    await _onboarded(services, clock)
    for _ in range(2):
        await text(client, "STOP")
        await text(client, "START")
    assert await consents(services) == {
        "appointments": True,
        "tips": False,
        "announcements": False,
    }


@pytest.mark.parametrize(
    ("words", "confirmation"),
    [
        ("STOP please", "You're unsubscribed"),
        ("please stop texting me", "You're unsubscribed"),
        ("no more texts", "You're unsubscribed"),
        ("unsubscribe me", "You're unsubscribed"),
        ("ya no me manden mensajes", "Se ha dado de baja"),
        ("no quiero más mensajes", "Se ha dado de baja"),
    ],
)
async def test_an_opt_out_in_words_is_a_stop(
    client: httpx.AsyncClient, app: tuple[Starlette, Services], words: str, confirmation: str
) -> None:
    await text(client, "hi")
    await text(client, "YES")
    [reply] = await text(client, words)
    assert reply.startswith(confirmation)
    assert not any((await consents(app[1])).values()) and await opted_out(app[1])


@pytest.mark.parametrize(
    ("words", "how"),
    [
        ("stop the reminders please", "To stop all texts from Willow Creek"),
        ("how do I unsubscribe?", "To stop all texts from Willow Creek"),
        ("no más recordatorios", "Para dejar de recibir todos los mensajes"),
    ],
)
async def test_an_unsure_opt_out_is_told_how_to_stop(
    client: httpx.AsyncClient, app: tuple[Starlette, Services], words: str, how: str
) -> None:
    await text(client, "hi")
    await text(client, "YES")
    [reply] = await text(client, words)
    assert reply.startswith(how) and "reply STOP" in reply.replace("responda STOP", "reply STOP")
    assert all((await consents(app[1])).values()) and not await opted_out(app[1])


@pytest.mark.parametrize(
    "question", ["should I stop taking ibuprofen?", "¿Debo dejar de tomar ibuprofeno?"]
)
async def test_a_question_about_stopping_something_else_is_answered(
    client: httpx.AsyncClient, app: tuple[Starlette, Services], question: str
) -> None:
    await text(client, "hi")
    await text(client, "YES")
    [reply] = await text(client, question)
    assert "unsubscribed" not in reply and "baja" not in reply and "STOP to stop" not in reply
    assert all((await consents(app[1])).values()) and not await opted_out(app[1])
