"""Stats for staff: patients by channel, opt-outs, sends, confirmation rate, tickets, pain."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.db.models import (
    Address,
    Appointment,
    AuditEntry,
    ConsentCategory,
    Delivery,
    DeliveryStatus,
    PainScore,
    PatientStatus,
    Ticket,
    TicketStatus,
)
from bot.db.patients import find_or_create_patient, set_consent
from bot.db.session import Database
from handlers.conversation.answer import Answerer
from handlers.delivery.consent import opt_in, stop_everything
from handlers.staff.stats import collect_stats, format_stats
from tests.conftest import FakeClock


async def _population(db: Database, now: datetime) -> None:
    day = timedelta(days=1)
    async with db.session() as session, session.begin():
        ana, _, _ = await find_or_create_patient(session, "telegram:1", now=now, name="Ana")
        bo, _, _ = await find_or_create_patient(session, "tel:+15035550102", now=now)
        cy, _, _ = await find_or_create_patient(session, "telegram:3", now=now)
        gone, _, _ = await find_or_create_patient(session, "telegram:4", now=now)
        await session.flush()
        # Ana is reachable both ways.
        session.add(
            Address(
                patient_id=ana.id,
                urn="tel:+15035550101",
                scheme="tel",
                reachable=True,
                created_at=now,
            )
        )
        gone.status = PatientStatus.ERASED
        for patient in (ana, bo, cy):
            await opt_in(session, patient.id, tuple(ConsentCategory), source="t", now=now)
        await stop_everything(session, bo.id, source="sms:stop", now=now)  # texted STOP
        for category in ConsentCategory:  # Cy used /stop on Telegram
            await set_consent(session, cy.id, category, granted=False, source="t", now=now)
        visits = []
        for patient in (ana, bo):
            visit = Appointment(
                patient_id=patient.id, starts_at=now + day, created_at=now, updated_at=now
            )
            session.add(visit)
            visits.append(visit)
        await session.flush()
        # Nudges name their rule in content_ref; the last one is in the format before 0005.
        sends = [
            (ana.id, "tip", "exercise", None, DeliveryStatus.SENT, now - day),
            (ana.id, "tip", "diet", None, DeliveryStatus.SENT, now - 40 * day),  # too old
            (ana.id, "tip", "meditation", None, DeliveryStatus.FAILED, None),
            (ana.id, "nudge", f"appt:{visits[0].id}", "before_48h", DeliveryStatus.DELIVERED, now),
            (bo.id, "nudge", f"appt:{visits[1].id}", "before_48h", DeliveryStatus.SENT, now),
            (ana.id, "nudge", f"appt:{visits[0].id}:day_after", None, DeliveryStatus.SENT, now),
            (bo.id, "broadcast", "broadcast:1", None, DeliveryStatus.DELIVERED, now),
        ]
        for n, (patient_id, kind, reference, rule, status, sent_at) in enumerate(sends):
            session.add(
                Delivery(
                    key=f"k{n}",
                    patient_id=patient_id,
                    kind=kind,
                    reference=reference,
                    content_ref=rule,
                    status=status,
                    due_at=sent_at or now,
                    sent_at=sent_at,
                    created_at=now,
                    updated_at=now,
                )
            )
        session.add(
            AuditEntry(
                actor=f"patient:{ana.id}",
                action="appointment.confirmed",
                target=f"appointment:{visits[0].id}",
                created_at=now,
            )
        )
        session.add_all(
            [
                Ticket(patient_id=ana.id, reason="human", channel="telegram", opened_at=now),
                Ticket(
                    patient_id=bo.id,
                    reason="human",
                    channel="sms",
                    status=TicketStatus.CLOSED,
                    opened_at=now,
                ),
            ]
        )
        for patient_id, score, when in (
            (ana.id, 7, now - 3 * day),
            (ana.id, 4, now),
            (bo.id, 5, now),
        ):
            session.add(PainScore(patient_id=patient_id, score=score, recorded_at=when))


async def test_stats_count_what_staff_need(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    await _population(db, clock())
    async with db.session() as session:
        stats = await collect_stats(session, now=clock(), days=30)
    assert (stats.patients, stats.telegram, stats.sms, stats.opted_out) == (3, 2, 2, 2)
    assert stats.sent == {"tip": 1, "nudge": 3, "broadcast": 1}
    assert (stats.asked, stats.confirmed, stats.confirmation_rate) == (2, 1, 0.5)
    assert stats.tickets_open == 1
    assert stats.pain_count == 3 and stats.pain_change == -3.0
    assert stats.pain_mean is not None and round(stats.pain_mean, 2) == 5.33
    text = format_stats(answerer.content, stats)
    assert "Patients: 3 (Telegram 2, SMS 2); opted out: 2" in text
    assert "Confirmed 1 of 2 asked (50%)" in text
    assert "Open tickets: 1" in text
    assert "Pain scores: 3, average 5.3, change per patient -3.0" in text


async def test_stats_of_an_empty_clinic_show_dashes_not_errors(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    async with db.session() as session:
        stats = await collect_stats(session, now=clock())
    assert stats.confirmation_rate is None and stats.pain_mean is None
    text = format_stats(answerer.content, stats)
    assert "Confirmed 0 of 0 asked (-)" in text and "average -" in text
