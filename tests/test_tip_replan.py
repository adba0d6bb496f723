"""Tips start when the patient asks: a change inside the planned window is replanned at once.

The scheduler plans tips about a day ahead from a watermark; these tests first let it plan,
then change a patient's settings inside that window, with the clock moved by hand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from itertools import count

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from bot.app import Services
from bot.db.models import Delivery, Patient
from bot.db.session import Database
from handlers.conversation.answer import Answerer
from handlers.patients import preferences
from handlers.patients.reminder_commands import ReminderChange, apply_change
from tests.conftest import FakeClock
from tests.sms_support import payload, post_signed, running_sms_app
from tests.telegram_fake import Harness
from tests.test_scheduler import LA, Rig, _patient, _rig

_sid = count()


@pytest.fixture
def rig(db: Database, clock: FakeClock, answerer: Answerer) -> Rig:
    return _rig(db, clock, answerer)


async def _tips(db: Database, patient_id: int | None = None) -> list[tuple[str, str, str | None]]:
    query = select(Delivery.due_at, Delivery.status, Delivery.reason, Delivery.reference)
    if patient_id is not None:
        query = query.where(Delivery.patient_id == patient_id)
    async with db.session() as session:
        rows = await session.execute(
            query.where(Delivery.kind == "tip").order_by(Delivery.due_at, Delivery.reference)
        )
        return [
            (f"{due.astimezone(LA):%m-%d %H:%M}", status, reason)
            for due, status, reason, _ in rows
        ]


async def _button(rig: Rig, patient_id: int, payload: str, answerer: Answerer) -> None:
    async with rig.db.session() as session, session.begin():
        patient = await session.get(Patient, patient_id)
        assert patient is not None
        found = await preferences.apply(
            session, answerer.content, patient, payload, clinic_zone=LA.key, now=rig.clock()
        )
        assert found is not None


async def test_a_telegram_patient_changing_time_gets_the_new_time_not_both(
    rig: Rig, answerer: Answerer
) -> None:
    rig.clock.now = datetime(2026, 5, 1, 15, 0, tzinfo=UTC)  # Fri 08:00 PDT
    ana = await _patient(rig, "telegram:801", at="09:00")
    ben = await _patient(rig, "telegram:802", at="09:00")
    await rig.scheduler.tick()  # plans today 09:00 and tomorrow 09:00 for both
    assert len(await _tips(rig.db)) == 4
    rig.clock.advance(minutes=10)
    await _button(rig, ana, "rem:time:midday", answerer)
    await rig.scheduler.tick()
    assert await _tips(rig.db, ana) == [
        ("05-01 09:00", "cancelled", "replanned"),
        ("05-01 12:00", "pending", None),
        ("05-02 09:00", "cancelled", "replanned"),
    ]  # Saturday 12:00 is past the window (26 h): a later tick plans it as usual
    # Only hers: Ben's plan is as it was.
    assert await _tips(rig.db, ben) == [
        ("05-01 09:00", "pending", None),
        ("05-02 09:00", "pending", None),
    ]
    for _ in range(8 * 6):  # ticks every 10 minutes through the day
        rig.clock.advance(minutes=10)
        await rig.scheduler.tick()
    sent = [(f"{row[0]}", row[1]) for row in await _tips(rig.db, ana) if row[1] == "sent"]
    assert sent == [("05-01 12:00", "sent")]
    assert [urn for urn, _ in rig.telegram.sent] == ["telegram:802", "telegram:801"]


async def test_changing_back_restores_the_cancelled_rows_without_duplicates(
    rig: Rig, answerer: Answerer
) -> None:
    rig.clock.now = datetime(2026, 5, 1, 15, 0, tzinfo=UTC)  # 08:00 PDT
    ana = await _patient(rig, "telegram:811", at="18:00")
    await rig.scheduler.tick()
    await _button(rig, ana, "rem:time:midday", answerer)
    await rig.scheduler.tick()
    await _button(rig, ana, "rem:time:evening", answerer)
    await rig.scheduler.tick()
    assert await _tips(rig.db, ana) == [
        ("05-01 12:00", "cancelled", "replanned"),
        ("05-01 18:00", "pending", None),
    ]


async def test_a_new_zone_moves_planned_tips_and_a_pause_is_checked_when_sending(
    rig: Rig, answerer: Answerer
) -> None:
    rig.clock.now = datetime(2026, 5, 1, 15, 0, tzinfo=UTC)  # 08:00 PDT, 11:00 EDT
    ana = await _patient(rig, "telegram:821", at="12:00")
    await rig.scheduler.tick()
    async with rig.db.session() as session, session.begin():
        patient = await session.get(Patient, ana)
        assert patient is not None
        change = ReminderChange(zone="America/New_York")
        await apply_change(
            session, patient, change, actor="test", source="test", now=rig.clock(),
            record_consent=False,
        )  # fmt: skip
    await rig.scheduler.tick()
    # 12:00 in New York is 09:00 in Los Angeles.
    assert [row for row in await _tips(rig.db, ana) if row[1] == "pending"] == [
        ("05-01 09:00", "pending", None),
        ("05-02 09:00", "pending", None),
    ]
    await _button(rig, ana, "rem:pause", answerer)
    rig.clock.advance(hours=1, minutes=5)
    await rig.scheduler.tick()
    assert [row for row in await _tips(rig.db, ana) if row[1] != "cancelled"] == [
        ("05-01 09:00", "skipped", "paused"),
        ("05-02 09:00", "pending", None),
    ]
    assert rig.telegram.sent == []


@pytest.fixture
async def sms_app(
    database_url: str, clock: FakeClock
) -> AsyncIterator[tuple[Starlette, Services]]:
    async with running_sms_app(database_url, clock) as app:
        yield app


async def _text(client: httpx.AsyncClient, phone: str, body: str) -> None:
    sid = f"SM{next(_sid):032x}"
    params = payload(
        "inbound", From=phone, Body=body, MessageSid=sid, SmsMessageSid=sid, SmsSid=sid
    )
    response = await post_signed(client, "/sms/inbound", params)
    assert response.status_code == 200


async def test_an_sms_patient_who_sets_tips_for_later_today_gets_them_today(
    sms_app: tuple[Starlette, Services], clock: FakeClock, answerer: Answerer
) -> None:
    app, services = sms_app
    clock.now = datetime(2026, 5, 1, 22, 0, tzinfo=UTC)  # Fri 15:00 PDT, the clinic's zone
    rig = _rig(services.db, clock, answerer)
    await rig.scheduler.tick()  # the window is planned up to tomorrow evening
    phone = "+15035550123"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://bot.clinic.example") as c:
        await _text(c, phone, "hi, what are your hours?")
        await _text(c, phone, "YES")
        await _text(c, phone, "TIPS ON")
        await rig.scheduler.tick()  # plans tomorrow 09:00, the default time
        clock.advance(minutes=1)
        await _text(c, phone, "TIPS 15:30")
    await rig.scheduler.tick()
    clock.now = datetime(2026, 5, 1, 22, 30, tzinfo=UTC)  # 15:30 PDT
    report = await rig.scheduler.tick()
    assert report.claimed == 3  # exercise, diet and meditation, all at 15:30 today
    assert {urn for urn, _ in rig.sms.sent} == {f"tel:{phone}"}
    tips = await _tips(services.db)
    assert [row for row in tips if row[1] == "sent"] == [("05-01 15:30", "sent", None)] * 3
    # TIPS ON planned tomorrow 09:00 (the default time); TIPS 15:30 cancelled it, unsent.
    assert [row for row in tips if row[0] == "05-02 09:00"] == [
        ("05-02 09:00", "cancelled", "replanned")
    ] * 3
    assert [row for row in tips if row[1] == "pending"] == [("05-02 15:30", "pending", None)] * 3


async def test_over_telegram_a_new_time_from_the_buttons_replaces_the_old_one(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 5, 1, 14, 0, tzinfo=UTC)  # Fri 07:00 PDT
    rig = _rig(db, clock, answerer)
    async with Harness.running(db, answerer, clock) as tg:
        await tg.send("command_start")
        for data in (
            "ob:language:en",
            "ob:consent_appointments:yes",
            "ob:consent_tips:yes",
            "ob:consent_announcements:yes",
            "ob:tips:diet",
            "ob:tips:done",
            "ob:time:morning",  # 09:00
            "ob:timezone:keep",
        ):
            await tg.press(data)
        await rig.scheduler.tick()
        assert {row[0] for row in await _tips(db) if row[1] == "pending"} == {"05-01 09:00"}
        clock.advance(minutes=30)
        await tg.press("rem:time:evening")  # 18:00
    for _ in range(2 * 24):  # a tick every 30 minutes, through the whole day
        await rig.scheduler.tick()
        clock.advance(minutes=30)
    tips = await _tips(db)
    assert [row[0] for row in tips if row[1] == "sent"] == ["05-01 18:00"]  # not 09:00 as well
    assert ("05-01 09:00", "cancelled", "replanned") in tips
    assert len(rig.telegram.sent) == 1
