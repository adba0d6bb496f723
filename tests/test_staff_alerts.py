"""Staff alerts: minimal detail never shows symptoms or words; full adds the rule and the visit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.channels.base import SendOutcome, SendStatus
from bot.db.models import (
    Appointment,
    ConsentCategory,
    Delivery,
    DeliveryStatus,
    Ticket,
)
from bot.db.patients import find_or_create_patient, record_safety_event
from bot.db.session import Database
from bot.settings import DEFAULT_CONTENT_DIR
from content.tips import load_tips
from handlers.alerts import LogAlerts, StaffDesk
from handlers.conversation.answer import Answerer
from handlers.delivery.consent import opt_in
from handlers.messages import Channel, OutboundMessage
from handlers.staff.alerts import BACKLOG, AlertDetail, StaffAlerts
from handlers.time.quiet_hours import QuietHours
from scheduler.dispatch import Dispatcher
from scheduler.rules import load_nudge_rules
from tests.conftest import FakeClock


@dataclass
class RecordingPoster:
    posts: list[tuple[str, int | None]] = field(default_factory=list)

    async def post(self, text: str, *, ticket_id: int | None = None) -> bool:
        self.posts.append((text, ticket_id))
        return True


async def _ana(db: Database, clock: FakeClock, urn: str = "telegram:501") -> int:
    async with db.session() as session, session.begin():
        patient, _, _ = await find_or_create_patient(session, urn, now=clock(), name="Ana Ruiz")
        await opt_in(session, patient.id, tuple(ConsentCategory), source="test", now=clock())
        return patient.id


def _alerts(
    db: Database, answerer: Answerer, clock: FakeClock, detail: AlertDetail
) -> tuple[StaffAlerts, RecordingPoster]:
    alerts, poster = StaffAlerts(detail=detail, clock=clock), RecordingPoster()
    alerts.attach(db, answerer.content, poster)
    return alerts, poster


async def _red_flag(db: Database, clock: FakeClock, patient_id: int) -> None:
    async with db.session() as session, session.begin():
        await record_safety_event(
            session,
            patient_id=patient_id,
            category="emergency",
            rule="cardiac.chest_pain",
            channel=Channel.TELEGRAM,
            now=clock(),
        )


async def test_a_minimal_red_flag_alert_names_only_first_name_channel_and_category(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    patient_id = await _ana(db, clock)
    await _red_flag(db, clock, patient_id)
    alerts, poster = _alerts(db, answerer, clock, AlertDetail.MINIMAL)
    await alerts.red_flag(patient_id=patient_id, category="emergency", channel=Channel.TELEGRAM)
    [(text, ticket_id)] = poster.posts
    assert text.startswith("Red flag (emergency) · Ana · Telegram.")
    assert "Ruiz" not in text and "chest" not in text and "cardiac" not in text
    assert ticket_id is None


async def test_a_full_red_flag_alert_adds_the_full_name_and_the_rule(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    patient_id = await _ana(db, clock)
    await _red_flag(db, clock, patient_id)
    alerts, poster = _alerts(db, answerer, clock, AlertDetail.FULL)
    await alerts.red_flag(patient_id=patient_id, category="emergency", channel=Channel.TELEGRAM)
    [(text, _)] = poster.posts
    assert "Ana Ruiz" in text and text.endswith("Rule: cardiac.chest_pain")


async def _visit(db: Database, clock: FakeClock, patient_id: int) -> int:
    async with db.session() as session, session.begin():
        appointment = Appointment(
            patient_id=patient_id,
            starts_at=clock() + timedelta(days=1, hours=3),  # Tue 3 Mar, 10:00 in Portland
            created_at=clock(),
            updated_at=clock(),
        )
        session.add(appointment)
        await session.flush()
        return appointment.id


async def test_a_reschedule_request_opens_a_ticket_and_shows_the_visit_only_in_full(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    patient_id = await _ana(db, clock, "tel:+15035550199")
    appointment_id = await _visit(db, clock, patient_id)
    for detail in AlertDetail:
        alerts, poster = _alerts(db, answerer, clock, detail)
        await alerts.reschedule(
            patient_id=patient_id, appointment_id=appointment_id, channel=Channel.SMS
        )
        [(text, ticket_id)] = poster.posts
        assert text.startswith("Reschedule request · Ana")
        assert ("Visit: Tue 3 Mar, 10:00" in text) is (detail is AlertDetail.FULL)
    async with db.session() as session:
        ticket = (await session.scalars(select(Ticket))).one()  # one open ticket, reused
    assert (ticket.id, ticket.reason, ticket.channel) == (ticket_id, "reschedule", "sms")
    # Someone else's appointment (a forged pick) asks for nothing.
    other = await _ana(db, clock, "telegram:777")
    await alerts.reschedule(patient_id=other, appointment_id=appointment_id, channel=Channel.SMS)
    assert len(poster.posts) == 1


async def test_alerts_before_the_staff_group_is_attached_are_only_logged(
    db: Database, clock: FakeClock
) -> None:
    patient_id = await _ana(db, clock)
    alerts = StaffAlerts(clock=clock)
    assert isinstance(alerts, StaffDesk) and isinstance(LogAlerts(), StaffDesk)
    await alerts.red_flag(patient_id=patient_id, category="urgent", channel=Channel.SMS)
    await alerts.ticket_opened(patient_id=patient_id)
    await alerts.nudge_failed(delivery_id=1)
    assert await alerts.retry_unposted() == 0  # nothing was built to post


@dataclass
class OfflinePoster(RecordingPoster):
    online: bool = False

    async def post(self, text: str, *, ticket_id: int | None = None) -> bool:
        return self.online and await super().post(text, ticket_id=ticket_id)


async def test_alerts_the_staff_group_cannot_take_yet_go_out_in_order_once_it_can(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    patient_id = await _ana(db, clock)
    await _red_flag(db, clock, patient_id)
    alerts, poster = StaffAlerts(clock=clock), OfflinePoster()
    alerts.attach(db, answerer.content, poster)
    for category in ("emergency", "urgent"):
        await alerts.red_flag(patient_id=patient_id, category=category, channel=Channel.SMS)
    assert poster.posts == [] and await alerts.retry_unposted() is None  # still offline
    poster.online = True  # Telegram connected
    assert await alerts.retry_unposted() == 2
    assert ["emergency" in text for text, _ in poster.posts] == [True, False]  # oldest first
    assert "urgent" in poster.posts[1][0]
    assert await alerts.retry_unposted() == 0  # each went once


async def test_a_new_alert_waits_behind_older_ones_and_the_backlog_is_bounded(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    patient_id = await _ana(db, clock)
    alerts, poster = StaffAlerts(clock=clock), OfflinePoster()
    alerts.attach(db, answerer.content, poster)
    for number in range(BACKLOG + 5):
        await alerts.red_flag(patient_id=patient_id, category=f"c{number}", channel=Channel.SMS)
    poster.online = True
    await alerts.red_flag(patient_id=patient_id, category="newest", channel=Channel.SMS)
    categories = [text for text, _ in poster.posts]
    assert len(categories) == BACKLOG + 1  # the five oldest were dropped, with a log line
    assert "(c5)" in categories[0] and f"(c{BACKLOG + 4})" in categories[-2]
    assert "(newest)" in categories[-1]  # the new alert went after the backlog


@dataclass
class FailingSender:
    async def send(self, urn: str, message: OutboundMessage) -> SendOutcome:
        return SendOutcome(SendStatus.FAILED, error="bad_request")


async def test_an_undelivered_appointment_message_is_posted_without_its_content(
    db: Database, answerer: Answerer, clock: FakeClock
) -> None:
    clock.now = clock.now.replace(hour=20)  # noon in Portland: not quiet hours
    patient_id = await _ana(db, clock)
    appointment_id = await _visit(db, clock, patient_id)
    async with db.session() as session, session.begin():
        delivery = Delivery(
            key=f"nudge:{appointment_id}:before_48h",
            patient_id=patient_id,
            kind="nudge",
            reference=f"appt:{appointment_id}:before_48h",
            due_at=clock(),
            status=DeliveryStatus.CLAIMED,
            created_at=clock(),
            updated_at=clock(),
        )
        session.add(delivery)
        await session.flush()
        delivery_id = delivery.id
    alerts, poster = _alerts(db, answerer, clock, AlertDetail.MINIMAL)
    dispatcher = Dispatcher(
        db,
        answerer.content,
        load_tips(DEFAULT_CONTENT_DIR),
        load_nudge_rules(DEFAULT_CONTENT_DIR / "nudges.yaml"),
        {"telegram": FailingSender()},
        clock=clock,
        clinic_zone=ZoneInfo("America/Los_Angeles"),
        quiet=QuietHours(),
        alerts=alerts,
    )
    assert await dispatcher.dispatch(delivery_id) == "failed"
    [(text, _)] = poster.posts
    assert text == "Appointment message not delivered (bad_request) · Ana · Telegram"
