"""The scheduler end to end: tips and nudges at the right local time, once, with consent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from bot.channels.base import SendOutcome, SendStatus
from bot.db.models import (
    Address,
    Appointment,
    AppointmentStatus,
    Broadcast,
    BroadcastStatus,
    ConsentCategory,
    Delivery,
    DeliveryStatus,
    Patient,
    ReminderPreference,
)
from bot.db.patients import find_or_create_patient
from bot.db.session import Database
from handlers.conversation.answer import Answerer
from handlers.delivery.consent import opt_in, stop_everything
from handlers.time.quiet_hours import QuietHours
from scheduler.dispatch import Dispatcher
from scheduler.outbox import PlannedDelivery, insert_planned
from scheduler.planner import replan_appointment
from scheduler.service import Scheduler
from tests.conftest import FakeClock
from tests.scheduler_support import LA, RULES, TIPS, FakeSender


@dataclass
class Rig:
    db: Database
    clock: FakeClock
    telegram: FakeSender
    sms: FakeSender
    scheduler: Scheduler

    async def statuses(self) -> list[tuple[str, str, str | None]]:
        async with self.db.session() as session:
            rows = await session.execute(
                select(Delivery.kind, Delivery.status, Delivery.reason).order_by(
                    Delivery.due_at, Delivery.id
                )
            )
            return [tuple(row) for row in rows]  # type: ignore[misc]


def _rig(
    db: Database,
    clock: FakeClock,
    answerer: Answerer,
    senders: dict[str, FakeSender] | None = None,
) -> Rig:
    telegram, sms = FakeSender(), FakeSender()
    senders = senders or {"telegram": telegram, "tel": sms}
    dispatcher = Dispatcher(
        db, answerer.content, TIPS, RULES, senders, clock=clock, clinic_zone=LA, quiet=QuietHours()
    )
    scheduler = Scheduler(db, dispatcher, RULES, clock=clock, clinic_zone=LA, quiet=QuietHours())
    return Rig(db, clock, senders.get("telegram", telegram), senders.get("tel", sms), scheduler)


@pytest.fixture
def rig(db: Database, clock: FakeClock, answerer: Answerer) -> Rig:
    return _rig(db, clock, answerer)


async def _patient(
    rig: Rig,
    urn: str = "telegram:501",
    *,
    name: str = "Ana Lopez",
    lang: str = "en",
    tips: Sequence[str] = ("exercise",),
    at: str = "09:00",
    consent: tuple[ConsentCategory, ...] = tuple(ConsentCategory),
) -> int:
    async with rig.db.session() as session, session.begin():
        patient, _, _ = await find_or_create_patient(session, urn, now=rig.clock(), name=name)
        patient.language, patient.timezone = lang, "America/Los_Angeles"
        await opt_in(session, patient.id, consent, source="test", now=rig.clock())
        for category in tips:
            session.add(
                ReminderPreference(
                    patient_id=patient.id, category=category, local_time=at, updated_at=rig.clock()
                )
            )
        return patient.id


async def _appointment(
    rig: Rig, patient_id: int, starts_at: datetime, uid: str = "a1"
) -> Appointment:
    async with rig.db.session() as session, session.begin():
        appointment = Appointment(
            patient_id=patient_id,
            external_uid=uid,
            starts_at=starts_at,
            practitioner="Dr. Lin",
            status=AppointmentStatus.BOOKED,
            created_at=rig.clock(),
            updated_at=rig.clock(),
        )
        session.add(appointment)
        await session.flush()
        await replan_appointment(session, appointment, RULES, LA, QuietHours(), rig.clock())
        return appointment


async def test_a_9am_tip_goes_out_at_9am_local_across_the_dst_change(rig: Rig) -> None:
    rig.clock.now = datetime(2026, 3, 6, 16, 0, tzinfo=UTC)  # Friday 08:00 PST
    await _patient(rig)
    sent_at = []
    for _ in range(4 * 24 * 4):  # four days in 15-minute steps
        before = len(rig.telegram.sent)
        await rig.scheduler.tick()
        if len(rig.telegram.sent) > before:
            sent_at.append(rig.clock().astimezone(LA))
        rig.clock.advance(minutes=15)
    assert [(t.day, t.hour, t.minute) for t in sent_at] == [
        (6, 9, 0),
        (7, 9, 0),
        (8, 9, 0),
        (9, 9, 0),
    ]
    assert [t.utcoffset() for t in sent_at][1:3] == [timedelta(hours=-8), timedelta(hours=-7)]


async def test_tips_rotate_without_repeats_until_the_pool_is_used(rig: Rig) -> None:
    rig.clock.now = datetime(2026, 5, 1, 16, 0, tzinfo=UTC)  # 09:00 PDT
    await _patient(rig)
    pool = [tip.id for tip in TIPS[("exercise", "en")]]
    seen = []
    for _ in range(len(pool) + 2):
        await rig.scheduler.tick()
        seen.append(rig.telegram.sent[-1][1].topic)
        rig.clock.advance(days=1)
    assert seen[: len(pool)] == pool and len(set(seen[: len(pool)])) == len(pool)
    assert seen[len(pool) :] == pool[:2]  # then the least recently sent first


async def test_planning_twice_or_ticking_twice_never_sends_twice(
    rig: Rig, db: Database, clock: FakeClock, answerer: Answerer
) -> None:
    rig.clock.now = datetime(2026, 5, 1, 15, 59, tzinfo=UTC)
    await _patient(rig, tips=("exercise", "diet", "meditation"))
    await rig.scheduler.plan()
    await rig.scheduler.plan()
    second = _rig(db, clock, answerer, {"telegram": rig.telegram, "tel": rig.sms})
    rig.clock.advance(minutes=1)  # 09:00 local
    await asyncio.gather(rig.scheduler.tick(), second.scheduler.tick(), rig.scheduler.tick())
    assert len(rig.telegram.sent) == 3
    assert sorted(m.topic.split(".")[0] for _, m in rig.telegram.sent if m.topic) == [
        "diet",
        "exercise",
        "meditation",
    ]
    async with db.session() as session:
        assert (
            await session.scalar(select(func.count()).select_from(Delivery)) == 6
        )  # 2 days planned


async def test_after_downtime_recent_tips_go_and_old_ones_are_recorded_missed(rig: Rig) -> None:
    rig.clock.now = datetime(2026, 5, 1, 14, 0, tzinfo=UTC)  # 07:00 local
    await _patient(rig, tips=("exercise",), at="09:00")
    await _patient(rig, "telegram:502", tips=("diet",), at="10:30")
    await rig.scheduler.plan()
    rig.clock.now = datetime(2026, 5, 1, 17, 45, tzinfo=UTC)  # 10:45: 9:00 is stale, 10:30 fresh
    await rig.scheduler.tick()
    [(urn, message)] = rig.telegram.sent
    assert urn == "telegram:502"
    assert message.topic is not None and message.topic.startswith("diet.")
    statuses = await rig.statuses()
    assert ("tip", "missed", "expired") in statuses and ("tip", "sent", None) in statuses


async def test_consent_and_opt_out_are_checked_when_sending(rig: Rig) -> None:
    rig.clock.now = datetime(2026, 5, 1, 15, 0, tzinfo=UTC)
    patient = await _patient(rig, "tel:+15035550150")
    await rig.scheduler.plan()
    async with rig.db.session() as session, session.begin():
        await stop_everything(session, patient, source="sms:STOP", now=rig.clock())
    rig.clock.advance(hours=1)
    await rig.scheduler.tick()
    assert rig.sms.sent == []
    assert ("tip", "skipped", "no_consent") in await rig.statuses()


async def test_a_crash_mid_tick_requeues_untouched_rows_and_never_resends_one_in_flight(
    rig: Rig,
) -> None:
    rig.clock.now = datetime(2026, 5, 1, 16, 0, tzinfo=UTC)
    await _patient(rig, tips=("exercise", "diet"))
    await rig.scheduler.plan()
    async with rig.db.session() as session, session.begin():
        rows = (
            (
                await session.execute(
                    select(Delivery).where(Delivery.due_at <= rig.clock()).order_by(Delivery.id)
                )
            )
            .scalars()
            .all()
        )
        rows[0].status = DeliveryStatus.SENDING  # the process died during this send
        rows[1].status = DeliveryStatus.CLAIMED  # claimed, not yet handed to a channel
    await rig.scheduler.recover()
    await rig.scheduler.tick()
    assert len(rig.telegram.sent) == 1
    statuses = await rig.statuses()
    assert ("tip", "failed", "interrupted") in statuses and ("tip", "sent", None) in statuses


async def test_nudges_carry_name_date_time_and_clinic_only_and_ask_to_confirm(rig: Rig) -> None:
    rig.clock.now = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)
    patient = await _patient(rig, "tel:+15035550151", tips=())
    appointment = await _appointment(
        rig, patient, datetime(2026, 6, 4, 21, 30, tzinfo=UTC)
    )  # Thu 14:30 PDT
    rig.clock.now = datetime(2026, 6, 2, 21, 30, tzinfo=UTC)
    await rig.scheduler.tick()
    [(urn, message)] = rig.sms.sent
    assert urn == "tel:+15035550151"
    assert "Ana" in message.sms and "Thu, Jun 4" in message.sms and "2:30" in message.sms
    assert "Willow Creek" in message.sms and "Reply STOP to opt out" in message.sms
    assert "back" not in message.text.lower() and "Lopez" not in message.sms
    assert [o.payload for o in message.options] == [
        f"appt:confirm:{appointment.id}",
        f"appt:reschedule:{appointment.id}",
    ]
    async with rig.db.session() as session:
        question = await session.scalar(
            select(Patient.pending_question).where(Patient.id == patient)
        )
    assert question == f"appointment:{appointment.id}"


async def test_a_moved_appointment_replans_and_a_cancelled_one_sends_nothing(rig: Rig) -> None:
    rig.clock.now = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)
    patient = await _patient(rig, tips=())
    appointment = await _appointment(rig, patient, datetime(2026, 6, 4, 21, 30, tzinfo=UTC))
    async with rig.db.session() as session, session.begin():
        moved = await session.get(Appointment, appointment.id)
        assert moved is not None
        moved.starts_at = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)
        await replan_appointment(session, moved, RULES, LA, QuietHours(), rig.clock())
    rig.clock.now = datetime(2026, 6, 2, 21, 30, tzinfo=UTC)  # the old 48h nudge time
    await rig.scheduler.tick()
    assert rig.telegram.sent == []
    async with rig.db.session() as session, session.begin():
        cancelled = await session.get(Appointment, appointment.id)
        assert cancelled is not None
        cancelled.status = AppointmentStatus.CANCELLED
        await replan_appointment(session, cancelled, RULES, LA, QuietHours(), rig.clock())
    for _ in range(40):
        rig.clock.advance(days=1)
        await rig.scheduler.tick()
    assert rig.telegram.sent == []
    statuses = await rig.statuses()
    assert {s for _, s, _ in statuses} == {"cancelled"}


async def test_a_nudge_that_would_fall_at_night_moves_before_the_visit(rig: Rig) -> None:
    rig.clock.now = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)
    patient = await _patient(rig, tips=())
    await _appointment(rig, patient, datetime(2026, 6, 5, 16, 0, tzinfo=UTC))  # 09:00 PDT
    async with rig.db.session() as session:
        dues = (await session.execute(select(Delivery.content_ref, Delivery.due_at))).all()
    local = {str(rule): due.astimezone(LA) for rule, due in dues}
    assert (local["before_2h"].hour, local["before_2h"].minute) == (8, 0)  # not 07:00
    assert local["before_48h"].hour == 9 and local["day_after"].hour == 10


async def test_transient_errors_are_retried_and_blocked_patients_marked_unreachable(
    rig: Rig,
) -> None:
    rig.clock.now = datetime(2026, 5, 1, 16, 0, tzinfo=UTC)
    await _patient(rig, tips=("exercise",))
    rig.telegram.outcomes = [
        SendOutcome(SendStatus.RETRY, error="RetryAfter", retry_after=30),
        SendOutcome(SendStatus.UNREACHABLE, error="Forbidden"),
    ]
    await rig.scheduler.tick()
    assert ("tip", "pending", "RetryAfter") in await rig.statuses()
    rig.clock.advance(seconds=31)
    await rig.scheduler.tick()
    assert len(rig.telegram.sent) == 2
    assert ("tip", "skipped", "unreachable") in await rig.statuses()
    async with rig.db.session() as session:
        address = await session.scalar(select(Address))
    assert (
        address is not None
        and not address.reachable
        and address.unreachable_reason == "telegram:Forbidden"
    )


async def test_a_broadcast_goes_on_its_chosen_channel_and_a_cancelled_one_does_not(
    rig: Rig,
) -> None:
    rig.clock.now = datetime(2026, 12, 20, 18, 0, tzinfo=UTC)  # 10:00 PST
    patient = await _patient(rig, "telegram:601", tips=(), lang="es")
    async with rig.db.session() as session, session.begin():
        session.add(
            Address(
                patient_id=patient, urn="tel:+15035550160", scheme="tel", created_at=rig.clock()
            )
        )
        kept = Broadcast(
            created_by="cli",
            texts=json.dumps({"en": "Closed Dec 24-26.", "es": "Cerrado del 24 al 26 de dic."}),
            audience="{}",
            send_at=rig.clock(),
            created_at=rig.clock(),
            updated_at=rig.clock(),
        )
        dropped = Broadcast(
            created_by="cli",
            texts=json.dumps({"en": "Old news."}),
            audience="{}",
            status=BroadcastStatus.CANCELLED,
            send_at=rig.clock(),
            created_at=rig.clock(),
            updated_at=rig.clock(),
        )
        session.add_all([kept, dropped])
        await session.flush()
        for broadcast in (kept, dropped):
            await insert_planned(
                session,
                [
                    PlannedDelivery(
                        f"broadcast:{patient}:{broadcast.id}",
                        patient,
                        "broadcast",
                        f"broadcast:{broadcast.id}",
                        rig.clock(),
                        None,
                    )
                ],
                rig.clock(),
            )
        await session.execute(update(Delivery).values(channel="tel"))
    await rig.scheduler.tick()
    assert rig.telegram.sent == []
    [(urn, message)] = rig.sms.sent
    assert urn == "tel:+15035550160"
    assert message.sms == (
        "Willow Creek Acupuncture & Cupping: Cerrado del 24 al 26 de dic. "
        "Responda STOP para no recibir mas."
    )
    assert ("broadcast", "cancelled", "broadcast_cancelled") in await rig.statuses()


async def test_a_tip_planned_before_the_patient_changed_the_time_is_not_sent(rig: Rig) -> None:
    rig.clock.now = datetime(2026, 5, 1, 15, 0, tzinfo=UTC)  # 08:00 PDT
    patient = await _patient(rig, tips=("exercise",), at="09:00")
    await rig.scheduler.tick()  # plans today's 09:00 tip (and tomorrow's)
    async with rig.db.session() as session, session.begin():
        preference = await session.scalar(
            select(ReminderPreference).where(ReminderPreference.patient_id == patient)
        )
        assert preference is not None
        preference.local_time = "18:00"
    rig.clock.now = datetime(2026, 5, 1, 16, 0, tzinfo=UTC)  # 09:00 PDT
    await rig.scheduler.tick()
    assert rig.telegram.sent == []
    assert ("tip", "cancelled", "preference_changed") in await rig.statuses()
