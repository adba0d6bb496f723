"""Two texts at once from one patient: both are answered and neither is lost (no 500).

Each pair is sent concurrently to a patient who has no consent or preference rows yet (so both
transactions would insert the same rows), many times; the final state must be what sending
the two one after the other, in the order they committed, leaves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from itertools import count

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from bot.app import Services
from bot.db.models import Address, Consent, ConsentEvent, Patient, ReminderPreference
from tests.conftest import FakeClock
from tests.sms_support import payload, post_signed, running_sms_app

TRIALS = 50
PAIRS = [
    ("YES", "STOP"),
    ("STOP", "START"),
    ("TIPS ON", "STOP"),
    ("STOP", "UNSTOP"),
    ("TIPS EXERCISE ON", "YES"),
]
State = tuple[tuple[tuple[str, bool], ...], bool, tuple[str, ...]]

_sid = count()
_number = count(100)


@pytest.fixture
async def app(database_url: str, clock: FakeClock) -> AsyncIterator[tuple[Starlette, Services]]:
    async with running_sms_app(database_url, clock) as app:
        yield app


async def _text(client: httpx.AsyncClient, phone: str, body: str) -> httpx.Response:
    sid = f"SM{next(_sid):032x}"
    params = payload(
        "inbound", From=phone, Body=body, MessageSid=sid, SmsMessageSid=sid, SmsSid=sid
    )
    return await post_signed(client, "/sms/inbound", params)


async def _patient(services: Services, clock: FakeClock) -> tuple[str, int]:
    """A known number (say, from an appointment import) just asked the consent question."""
    phone = f"+1503555{next(_number):04d}"
    async with services.db.session() as session, session.begin():
        now = clock()
        patient = Patient(
            created_at=now, updated_at=now, pending_question="consent", pending_since=now
        )
        session.add(patient)
        session.add(Address(urn=f"tel:{phone}", scheme="tel", created_at=clock(), patient=patient))
        await session.flush()
        return phone, patient.id


async def _state(services: Services, patient_id: int) -> tuple[State, str | None]:
    async with services.db.session() as session:
        consents = await session.execute(
            select(Consent.category, Consent.granted)
            .where(Consent.patient_id == patient_id)
            .order_by(Consent.category)
        )
        opted_out = await session.scalar(
            select(Address.opted_out_at).where(Address.patient_id == patient_id)
        )
        tips = await session.scalars(
            select(ReminderPreference.category)
            .where(ReminderPreference.patient_id == patient_id, ReminderPreference.enabled)
            .order_by(ReminderPreference.category)
        )
        last = await session.scalar(
            select(ConsentEvent.source)
            .where(ConsentEvent.patient_id == patient_id)
            .order_by(ConsentEvent.id.desc())
            .limit(1)
        )
    state = (tuple((c, g) for c, g in consents), opted_out is not None, tuple(tips))
    return state, last


@pytest.mark.parametrize(("first", "second"), PAIRS)
async def test_two_texts_at_once_lose_nothing(
    app: tuple[Starlette, Services], clock: FakeClock, first: str, second: str
) -> None:
    services = app[1]
    transport = httpx.ASGITransport(app=app[0])
    async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.5:8080") as client:
        # What each order leaves, one text after the other.
        orders: list[tuple[State, str | None]] = []
        for a, b in ((first, second), (second, first)):
            phone, patient_id = await _patient(services, clock)
            for body in (a, b):
                assert (await _text(client, phone, body)).status_code == 200
            orders.append(await _state(services, patient_id))
        # SQLite has one writer per process: the pairs queue anyway, so a few trials do.
        trials = TRIALS if services.db.engine.dialect.name == "postgresql" else 5
        for _ in range(trials):
            phone, patient_id = await _patient(services, clock)
            responses = await asyncio.gather(
                _text(client, phone, first), _text(client, phone, second)
            )
            assert [r.status_code for r in responses] == [200, 200]
            state, last = await _state(services, patient_id)
            # The state one of the two orders leaves, and the one whose last write matches.
            assert (state, last) in orders, (first, second, state, last)
