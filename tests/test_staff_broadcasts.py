"""Broadcasts end to end: audience selection, preview, outbox delivery, cancel, crash, reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from bot.channels.base import SendOutcome, SendStatus
from bot.db.models import (
    Address,
    Appointment,
    AuditEntry,
    Broadcast,
    BroadcastStatus,
    ConsentCategory,
    Delivery,
    DeliveryStatus,
    Patient,
)
from bot.db.patients import find_or_create_patient
from bot.db.session import Database
from handlers.conversation.answer import Answerer
from handlers.delivery.consent import opt_in, stop_everything
from handlers.staff.audience import Audience, AudienceError, parse_audience, select_recipients
from handlers.staff.broadcast_reports import BroadcastProgress, preview_text
from handlers.staff.broadcasts import (
    BroadcastError,
    cancel_broadcast,
    create_broadcast,
    delivery_report,
    preview,
)
from handlers.staff.tags import TagError, add_tag, list_tags, remove_tag
from handlers.time.quiet_hours import QuietHours
from scheduler.dispatch import Dispatcher
from scheduler.outbox import claim_due
from scheduler.service import Scheduler
from tests.conftest import FakeClock
from tests.scheduler_support import LA, RULES, TIPS, FakeSender

DAYTIME = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)  # 10:00 in Los Angeles


@dataclass
class Rig:
    db: Database
    clock: FakeClock
    answerer: Answerer
    telegram: FakeSender = field(default_factory=FakeSender)
    sms: FakeSender = field(default_factory=FakeSender)

    def scheduler(self, batch_size: int = 200) -> Scheduler:
        senders = {"telegram": self.telegram, "tel": self.sms}
        content = self.answerer.content
        dispatcher = Dispatcher(
            self.db, content, TIPS, RULES, senders, clock=self.clock, clinic_zone=LA,
            quiet=QuietHours(),
        )  # fmt: skip
        progress = BroadcastProgress(self.db, content, self.telegram, clock=self.clock)
        return Scheduler(
            self.db, dispatcher, RULES, clock=self.clock, clinic_zone=LA, quiet=QuietHours(),
            batch_size=batch_size, after_tick=progress,
        )  # fmt: skip

    async def patient(
        self,
        *urns: str,
        lang: str = "en",
        consent: tuple[ConsentCategory, ...] = tuple(ConsentCategory),
    ) -> int:
        async with self.db.session() as session, session.begin():
            patient, _, _ = await find_or_create_patient(session, urns[0], now=self.clock())
            patient.language, patient.timezone = lang, "America/Los_Angeles"
            for urn in urns[1:]:
                session.add(
                    Address(
                        patient_id=patient.id,
                        urn=urn,
                        scheme=urn.split(":")[0],
                        reachable=True,
                        created_at=self.clock(),
                    )
                )
            await opt_in(session, patient.id, consent, source="test", now=self.clock())
            return patient.id

    async def deliveries(self) -> list[tuple[int, str | None, str]]:
        async with self.db.session() as session:
            rows = await session.execute(
                select(Delivery.patient_id, Delivery.channel, Delivery.status).order_by(
                    Delivery.patient_id
                )
            )
            return [(int(p), c, str(s)) for p, c, s in rows]


@pytest.fixture
def rig(db: Database, clock: FakeClock, answerer: Answerer) -> Rig:
    clock.now = DAYTIME
    return Rig(db, clock, answerer)


async def _population(rig: Rig) -> dict[str, int]:
    ids = {
        "tg": await rig.patient("telegram:101"),
        "sms_es": await rig.patient("tel:+15550000102", lang="es"),
        "both": await rig.patient("telegram:103", "tel:+15550000103"),
        "stopped": await rig.patient("tel:+15550000104"),
        "blocked": await rig.patient("telegram:105"),
        "no_consent": await rig.patient("telegram:106", consent=(ConsentCategory.APPOINTMENTS,)),
    }
    async with rig.db.session() as session, session.begin():
        await stop_everything(session, ids["stopped"], source="sms", now=rig.clock())
        await session.execute(
            update(Address).where(Address.urn == "telegram:105").values(reachable=False)
        )
    return ids


def test_audience_specs_parse_and_bad_ones_are_one_line() -> None:
    assert parse_audience("all") == Audience()
    audience = parse_audience("channel=sms; lang=es ;tag=Knee,seniors;appointment_within=7d")
    assert audience == Audience("sms", "es", ("knee", "seniors"), 7)
    assert parse_audience(audience.spec()) == audience
    assert Audience.from_json(audience.to_json()) == audience
    bad_specs = ["", "everyone", "channel=fax", "lang=fr", "tag=", "tag=a b", "colour=red"]
    bad_specs += ["appointment_within=0d", "appointment_within=soon", "lang=en;lang=es"]
    for bad in bad_specs:
        with pytest.raises(AudienceError) as error:
            parse_audience(bad)
        assert "\n" not in str(error.value)


async def test_selection_picks_one_channel_per_patient_and_counts_exclusions(rig: Rig) -> None:
    ids = await _population(rig)
    async with rig.db.session() as session:
        everyone = await select_recipients(session, Audience(), rig.clock())
        sms_only = await select_recipients(session, parse_audience("channel=sms"), rig.clock())
        spanish = await select_recipients(session, parse_audience("lang=es"), rig.clock())
        telegram = await select_recipients(
            session, parse_audience("channel=telegram"), rig.clock()
        )
    chosen = {r.patient_id: r.channel for r in everyone.recipients}
    assert chosen == {ids["tg"]: "telegram", ids["sms_es"]: "tel", ids["both"]: "telegram"}
    assert everyone.excluded == {"no_consent": 1, "opted_out": 1, "unreachable": 1}
    assert everyone.by_channel() == {"telegram": 2, "tel": 1}
    assert {r.patient_id for r in sms_only.recipients} == {ids["sms_es"], ids["both"]}
    assert {r.channel for r in sms_only.recipients} == {"tel"}
    assert sms_only.excluded == {"no_consent": 0, "opted_out": 1, "unreachable": 0}
    assert [r.patient_id for r in spanish.recipients] == [ids["sms_es"]]
    assert telegram.excluded == {"no_consent": 1, "opted_out": 0, "unreachable": 1}


async def test_tags_and_upcoming_appointments_narrow_the_audience(rig: Rig) -> None:
    ids = await _population(rig)
    now = rig.clock()
    async with rig.db.session() as session, session.begin():
        assert await add_tag(session, "telegram:101", "Knee", actor="cli", now=now)
        assert not await add_tag(session, "telegram:101", "knee", actor="cli", now=now)
        assert await add_tag(session, "tel:+15550000102", "seniors", actor="cli", now=now)
        assert await add_tag(session, "telegram:103", "back", actor="cli", now=now)
        assert await remove_tag(session, "telegram:103", "back", actor="cli", now=now)
        assert not await remove_tag(session, "telegram:103", "back", actor="cli", now=now)
        with pytest.raises(TagError):
            await add_tag(session, "telegram:999", "knee", actor="cli", now=now)
        with pytest.raises(TagError):
            await add_tag(session, "telegram:101", "two words", actor="cli", now=now)
        for patient, days in ((ids["both"], 3), (ids["tg"], 10)):
            session.add(
                Appointment(
                    patient_id=patient, starts_at=now + timedelta(days=days),
                    created_at=now, updated_at=now,
                )
            )  # fmt: skip
    async with rig.db.session() as session:
        tagged = await select_recipients(session, parse_audience("tag=knee,seniors"), now)
        soon = await select_recipients(session, parse_audience("appointment_within=7d"), now)
        tags = await list_tags(session)
        audits = await session.scalar(select(func.count()).select_from(AuditEntry))
    assert {r.patient_id for r in tagged.recipients} == {ids["tg"], ids["sms_es"]}
    assert [r.patient_id for r in soon.recipients] == [ids["both"]]
    assert tags == sorted([(ids["tg"], "knee"), (ids["sms_es"], "seniors")])
    assert audits == 4  # two adds that changed something, one add and one remove of "back"


async def test_preview_renders_each_channel_with_segments_and_counts(rig: Rig) -> None:
    await _population(rig)
    texts = {
        "en": "We are **closed** on Dec 24 — see you after!",
        "es": "Cerrado el 24 — ¡hasta pronto!",
    }
    async with rig.db.session() as session:
        shown = await preview(session, rig.answerer.content, texts, Audience(), rig.clock())
    en, es = shown.languages
    assert en.telegram == texts["en"]
    assert en.sms.endswith("Reply STOP to opt out.") and "**" not in en.sms and "-" in en.sms
    assert en.sms.startswith(str(rig.answerer.content.clinic["name"]))
    assert (en.segments.encoding, en.segments.count) == ("GSM-7", 1)
    assert es.sms.endswith("Responda STOP para no recibir mas.")
    text = preview_text(rig.answerer.content, shown)
    assert "2 on Telegram, 1 by SMS" in text and "1 opted out" in text
    long_text = {"en": "x" * 5000}
    with pytest.raises(BroadcastError, match="5000 characters"):
        async with rig.db.session() as session:
            await preview(session, rig.answerer.content, long_text, Audience(), rig.clock())
    with pytest.raises(BroadcastError, match="English text is empty"):
        async with rig.db.session() as session:
            await preview(session, rig.answerer.content, {"en": "  "}, Audience(), rig.clock())


async def _create(rig: Rig, *, send_at: datetime | None = None, chat: int | None = 42) -> int:
    async with rig.db.session() as session, session.begin():
        broadcast = await create_broadcast(
            session,
            {"en": "Closed on Friday.", "es": "Cerrado el viernes."},
            Audience(),
            send_at=send_at or rig.clock(),
            actor="staff:42",
            now=rig.clock(),
            report_chat_id=chat,
        )
        return broadcast.id


async def test_create_dispatch_and_report_to_the_sender(rig: Rig) -> None:
    ids = await _population(rig)
    broadcast_id = await _create(rig)
    assert await rig.deliveries() == [
        (ids["tg"], "telegram", "pending"),
        (ids["sms_es"], "tel", "pending"),
        (ids["both"], "telegram", "pending"),
    ]
    rig.telegram.outcomes = [SendOutcome(SendStatus.SENT), SendOutcome(SendStatus.UNREACHABLE)]
    await rig.scheduler().tick()
    assert sorted(urn for urn, _ in rig.sms.sent) == ["tel:+15550000102"]
    assert rig.sms.sent[0][1].sms.endswith("Responda STOP para no recibir mas.")
    urns = [urn for urn, _ in rig.telegram.sent]
    assert urns[:2] == ["telegram:101", "telegram:103"] and urns[2] == "telegram:42"
    report_text = rig.telegram.sent[2][1].text
    assert f"Broadcast #{broadcast_id} is done" in report_text
    assert "sent: 2 (Telegram 1, SMS 1)" in report_text
    assert "skipped unreachable: 1 (Telegram 1, SMS 0)" in report_text
    async with rig.db.session() as session:
        broadcast = await session.get(Broadcast, broadcast_id)
        audit = await session.scalar(
            select(AuditEntry.action).where(AuditEntry.actor == "staff:42")
        )
    assert broadcast is not None and broadcast.status == BroadcastStatus.DONE
    assert broadcast.finished_at == rig.clock() and audit == "broadcast.create"
    await rig.scheduler().tick()  # nothing more, no second report
    assert len(rig.telegram.sent) == 3 and len(rig.sms.sent) == 1


async def test_bad_requests_leave_no_rows(rig: Rig) -> None:
    await _population(rig)
    with pytest.raises(BroadcastError, match="in the past"):
        await _create(rig, send_at=rig.clock() - timedelta(hours=1))
    async with rig.db.session() as session, session.begin():
        with pytest.raises(BroadcastError, match="no patient"):
            await create_broadcast(
                session, {"en": "Hi"}, parse_audience("tag=nobody"),
                send_at=rig.clock(), actor="cli", now=rig.clock(),
            )  # fmt: skip
    assert await rig.deliveries() == []


async def test_cancel_mid_way_stops_the_rest(rig: Rig) -> None:
    for n in range(6):
        await rig.patient(f"telegram:{200 + n}")
    broadcast_id = await _create(rig)
    scheduler = rig.scheduler(batch_size=3)
    # Half goes out: claim and dispatch one batch by hand, as a tick interrupted would.
    async with rig.db.session() as session, session.begin():
        claimed = await claim_due(session, rig.clock(), 3)
    for delivery_id in claimed:
        await scheduler._dispatcher.dispatch(delivery_id)
    async with rig.db.session() as session, session.begin():
        assert (
            await cancel_broadcast(session, broadcast_id, actor="staff:42", now=rig.clock()) == 3
        )
    with pytest.raises(BroadcastError, match="already cancelled"):
        async with rig.db.session() as session, session.begin():
            await cancel_broadcast(session, broadcast_id, actor="staff:42", now=rig.clock())
    await scheduler.tick()
    assert len(rig.telegram.sent) == 3
    async with rig.db.session() as session:
        report = await delivery_report(session, broadcast_id)
    assert report.total("sent") == 3 and report.total("cancelled") == 3
    assert report.status == BroadcastStatus.CANCELLED


async def test_claimed_rows_of_a_cancelled_broadcast_are_not_sent(rig: Rig) -> None:
    await rig.patient("telegram:300")
    broadcast_id = await _create(rig)
    async with rig.db.session() as session, session.begin():
        [claimed] = await claim_due(session, rig.clock(), 10)
        await cancel_broadcast(session, broadcast_id, actor="cli", now=rig.clock())
    assert await rig.scheduler()._dispatcher.dispatch(claimed) == DeliveryStatus.CANCELLED
    assert rig.telegram.sent == []


async def test_crash_and_resume_sends_nobody_twice(rig: Rig) -> None:
    for n in range(5):
        await rig.patient(f"telegram:{400 + n}")
    broadcast_id = await _create(rig)
    async with rig.db.session() as session, session.begin():
        claimed = await claim_due(session, rig.clock(), 5)
        # The crash: two rows were handed to Telegram (one may have gone), three only claimed.
        await session.execute(
            update(Delivery).where(Delivery.id.in_(claimed[:2])).values(status="sending")
        )
    scheduler = rig.scheduler()
    await scheduler.recover()
    await scheduler.tick()
    urns = [urn for urn, _ in rig.telegram.sent if urn != "telegram:42"]
    assert len(urns) == len(set(urns)) == 3
    async with rig.db.session() as session:
        report = await delivery_report(session, broadcast_id)
        status = await session.scalar(select(Broadcast.status))
    assert report.total("sent") == 3 and report.total("interrupted") == 2  # staff see them
    assert status == BroadcastStatus.DONE
    await scheduler.recover()
    await scheduler.tick()
    assert len([u for u, _ in rig.telegram.sent if u != "telegram:42"]) == 3


async def test_scheduled_broadcast_waits_for_its_time(rig: Rig) -> None:
    await rig.patient("telegram:500")
    broadcast_id = await _create(rig, send_at=rig.clock() + timedelta(hours=2))
    scheduler = rig.scheduler()
    await scheduler.tick()
    assert rig.telegram.sent == []
    async with rig.db.session() as session:
        assert (await session.get(Broadcast, broadcast_id)).status == "scheduled"  # type: ignore[union-attr]
    rig.clock.advance(hours=2)
    await scheduler.tick()
    assert [urn for urn, _ in rig.telegram.sent] == ["telegram:500", "telegram:42"]


async def test_quiet_hours_hold_sms_until_morning(rig: Rig) -> None:
    rig.clock.now = datetime(2026, 3, 3, 6, 0, tzinfo=UTC)  # 22:00 in Los Angeles
    await rig.patient("tel:+15550000600")
    broadcast_id = await _create(rig, chat=None)
    scheduler = rig.scheduler()
    await scheduler.tick()
    assert rig.sms.sent == []
    async with rig.db.session() as session:
        delivery = (await session.scalars(select(Delivery))).one()
        assert delivery.status == "pending" and delivery.reason == "quiet_hours"
        assert delivery.due_at.astimezone(LA).hour == 8
        assert (await session.get(Broadcast, broadcast_id)).status == "running"  # type: ignore[union-attr]
    rig.clock.now = datetime(2026, 3, 3, 16, 0, tzinfo=UTC)  # 08:00
    await scheduler.tick()
    assert [urn for urn, _ in rig.sms.sent] == ["tel:+15550000600"]
    async with rig.db.session() as session:
        patient = (await session.scalars(select(Patient))).one()
        assert patient.id == delivery.patient_id
        assert (await session.get(Broadcast, broadcast_id)).status == "done"  # type: ignore[union-attr]


async def test_the_sender_hears_progress_once_per_quarter(rig: Rig) -> None:
    for n in range(8):
        await rig.patient(f"telegram:{300 + n}")
    broadcast_id = await _create(rig)
    scheduler = rig.scheduler(batch_size=4)
    progress = BroadcastProgress(rig.db, rig.answerer.content, rig.telegram, clock=rig.clock)
    async with rig.db.session() as session, session.begin():
        claimed = await claim_due(session, rig.clock(), 4)
    for delivery_id in claimed:
        await scheduler._dispatcher.dispatch(delivery_id)
    await progress()
    await progress()  # the same quarter is not reported twice
    reports = [m.text for urn, m in rig.telegram.sent if urn == "telegram:42"]
    assert reports == [f"Broadcast #{broadcast_id}: 4 of 8 handled so far."]
