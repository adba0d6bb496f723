"""Incremental tip planning from a stored watermark, and nudge replans only on rule changes."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.db.models import Delivery, DeliveryStatus
from bot.db.session import Database
from handlers.conversation.answer import Answerer
from handlers.time.quiet_hours import QuietHours
from scheduler.dispatch import Dispatcher
from scheduler.rules import NudgeRule
from scheduler.service import Scheduler
from scheduler.state import TIPS_WATERMARK, read_state
from scheduler.tip_window import local_ranges
from tests.conftest import FakeClock
from tests.test_scheduler import LA, RULES, TIPS, Rig, _appointment, _patient, _rig

OFF = QuietHours(time(0), time(0))


def _scheduler(
    rig: Rig,
    answerer: Answerer,
    *,
    lookahead: timedelta = timedelta(hours=1),
    quiet: QuietHours = OFF,
    rules: Sequence[NudgeRule] = RULES,
) -> Scheduler:
    senders = {"telegram": rig.telegram, "tel": rig.sms}
    dispatcher = Dispatcher(
        rig.db, answerer.content, TIPS, RULES, senders, clock=rig.clock, clinic_zone=LA,
        quiet=quiet,
    )  # fmt: skip
    return Scheduler(
        rig.db, dispatcher, rules, clock=rig.clock, clinic_zone=LA, quiet=quiet,
        lookahead=lookahead,
    )  # fmt: skip


@pytest.fixture
def rig(db: Database, clock: FakeClock, answerer: Answerer) -> Rig:
    return _rig(db, clock, answerer)


async def _tips(rig: Rig) -> list[tuple[str, str, str | None]]:
    async with rig.db.session() as session:
        rows = await session.execute(
            select(Delivery.due_at, Delivery.status, Delivery.reason)
            .where(Delivery.kind == "tip")
            .order_by(Delivery.due_at, Delivery.id)
        )
        return [
            (f"{due.astimezone(LA):%m-%d %H:%M}", status, reason) for due, status, reason in rows
        ]


def test_local_ranges_split_at_midnight_and_widen_only_near_a_dst_change() -> None:
    zone = ZoneInfo("America/Los_Angeles")
    may = datetime(2026, 5, 1, 16, 0, tzinfo=UTC)  # 09:00 PDT
    assert local_ranges(may, may + timedelta(minutes=1), zone) == [("09:00", "09:01")]
    night = datetime(2026, 5, 2, 6, 30, tzinfo=UTC)  # 23:30 PDT
    assert local_ranges(night, night + timedelta(hours=1), zone) == [
        ("23:30", "23:59"),
        ("00:00", "00:30"),
    ]
    gap = datetime(2026, 3, 8, 10, 30, tzinfo=UTC)  # 03:30 PDT, just after the gap
    assert local_ranges(gap, gap + timedelta(minutes=1), zone) == [("02:30", "04:31")]
    assert local_ranges(may, may + timedelta(hours=23), zone) is None


async def test_each_plan_covers_only_the_window_since_the_watermark(
    rig: Rig, answerer: Answerer
) -> None:
    rig.clock.now = datetime(2026, 5, 1, 15, 0, tzinfo=UTC)  # 08:00 PDT
    await _patient(rig, "telegram:701", at="09:00")
    await _patient(rig, "telegram:702", at="09:01")
    scheduler = _scheduler(rig, answerer)
    assert await scheduler.plan() == 0  # [07:00, 09:00): the end is exclusive
    async with rig.db.session() as session:
        assert await read_state(session, TIPS_WATERMARK) == "2026-05-01T16:00:00+00:00"
    rig.clock.advance(minutes=1)
    assert await scheduler.plan() == 1  # [09:00, 09:01)
    assert await scheduler.plan() == 0  # nothing new since
    rig.clock.advance(minutes=1)
    assert await scheduler.plan() == 1
    assert await _tips(rig) == [("05-01 09:00", "pending", None), ("05-01 09:01", "pending", None)]


async def test_a_restart_after_downtime_records_missed_tips_and_sends_recent_ones(
    rig: Rig, answerer: Answerer
) -> None:
    rig.clock.now = datetime(2026, 5, 1, 13, 0, tzinfo=UTC)  # Fri 06:00 PDT
    await _patient(rig, "telegram:711", tips=("exercise",), at="09:00")
    await _patient(rig, "telegram:712", tips=("diet",), at="11:30")
    scheduler = _scheduler(rig, answerer)
    await scheduler.tick()  # planned up to 07:00; then the process is down for 30 hours
    rig.clock.now = datetime(2026, 5, 2, 19, 0, tzinfo=UTC)  # Sat 12:00 PDT
    restarted = _scheduler(rig, answerer)
    await restarted.recover()
    report = await restarted.tick()
    # Friday 09:00 and 11:30 are more than 24 h back: never planned. Saturday 09:00 is past
    # its hour of grace: recorded missed. Saturday 11:30 is within it: sent.
    assert await _tips(rig) == [
        ("05-02 09:00", "missed", "expired"),
        ("05-02 11:30", "sent", None),
    ]
    assert report.claimed == 1 and [u for u, _ in rig.telegram.sent] == ["telegram:712"]


@pytest.mark.parametrize(
    ("day", "at", "expected"),
    [
        (datetime(2026, 3, 7, 16, 0, tzinfo=UTC), "02:30", ["03-08 03:30"]),  # gap: forward
        (datetime(2026, 10, 31, 16, 0, tzinfo=UTC), "01:30", ["11-01 01:30"]),  # twice: first
        (datetime(2026, 3, 7, 16, 0, tzinfo=UTC), "09:00", ["03-08 09:00"]),
    ],
)
async def test_ticks_across_a_dst_change_plan_each_tip_exactly_once(
    rig: Rig, answerer: Answerer, day: datetime, at: str, expected: list[str]
) -> None:
    rig.clock.now = day  # Saturday 08:00 PST / PDT, the day before the change
    await _patient(rig, "telegram:721", at=at)
    scheduler = _scheduler(rig, answerer)
    await scheduler.plan()
    rig.clock.advance(hours=2)
    await scheduler.plan()  # the rest of Saturday is planned but not sent (no tick)
    async with rig.db.session() as session, session.begin():
        for row in await session.scalars(select(Delivery)):
            await session.delete(row)
    for _ in range(24 * 4):  # Sunday, in 15-minute ticks
        rig.clock.advance(minutes=15)
        await scheduler.plan()
    assert [due for due, _, _ in await _tips(rig)] == expected
    utc = {due.astimezone(UTC).hour for due in await _due(rig)}
    assert len(utc) == 1


async def _due(rig: Rig) -> list[datetime]:
    async with rig.db.session() as session:
        return list(await session.scalars(select(Delivery.due_at)))


async def test_nudges_are_replanned_at_start_only_when_the_rules_changed(
    rig: Rig, answerer: Answerer
) -> None:
    rig.clock.now = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)
    patient = await _patient(rig, tips=())
    visit = await _appointment(rig, patient, datetime(2026, 6, 5, 16, 0, tzinfo=UTC))
    scheduler = _scheduler(rig, answerer, quiet=QuietHours())
    assert await scheduler.replan_if_rules_changed()  # nothing stored yet
    assert not await scheduler.replan_if_rules_changed()
    before_48h = next(rule for rule in RULES if rule.id == "before_48h")
    changed = tuple(
        dataclasses.replace(rule, version=2, offset=timedelta(hours=-24))
        if rule is before_48h
        else rule
        for rule in RULES
    )
    restarted = _scheduler(rig, answerer, quiet=QuietHours(), rules=changed)
    assert await restarted.replan_if_rules_changed()
    async with rig.db.session() as session:
        rows = await session.execute(
            select(Delivery.reference, Delivery.content_ref, Delivery.status, Delivery.reason)
            .where(Delivery.content_ref == "before_48h")
            .order_by(Delivery.rule_version)
        )
        assert rows.all() == [
            (f"appt:{visit.id}", "before_48h", DeliveryStatus.CANCELLED, "replanned"),
            (f"appt:{visit.id}", "before_48h", DeliveryStatus.PENDING, None),
        ]
    assert not await restarted.replan_if_rules_changed()
