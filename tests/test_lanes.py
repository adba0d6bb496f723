"""Shared rate lanes and worker heartbeats: the rows several processes agree through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from bot.db.models import Delivery, DeliveryStatus, Patient, Worker
from bot.db.session import Database
from scheduler import lanes
from scheduler.lanes import Limit, SenderLimits
from scheduler.workers import beat, recover_dead

NOW = datetime(2026, 5, 1, 16, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


async def test_a_limit_of_n_gives_n_lanes_each_free_a_window_after_its_answer(
    db: Database,
) -> None:
    limit = Limit("telegram:1", 3, SECOND)
    async with db.session() as session, session.begin():
        await lanes.ensure(session, [limit], NOW)
        taken = [await lanes.take(session, limit, holder, NOW) for holder in (1, 2, 3, 4)]
        assert sorted(t for t in taken if t is not None) == [0, 1, 2] and taken[3] is None
        assert await lanes.free_count(session, limit.bucket, NOW, 3) == 0
        # Lane 0's provider answered 0.3 s later: it frees a full window after that.
        await lanes.release(session, limit, taken[0] or 0, 1, NOW + 0.3 * SECOND + SECOND)
        assert await lanes.take(session, limit, 5, NOW + SECOND) is None
        assert await lanes.take(session, limit, 5, NOW + 1.3 * SECOND) == taken[0]
        # Another holder cannot release a lane it does not hold.
        await lanes.release(session, limit, taken[1] or 0, 99, NOW)
        assert await lanes.take(session, limit, 6, NOW + 2 * SECOND) is None


async def test_a_429_pauses_the_whole_sender_until_retry_after(db: Database) -> None:
    limit = Limit("tel:+15035550100", 2, SECOND)
    async with db.session() as session, session.begin():
        await lanes.ensure(session, [limit], NOW)
        await lanes.pause(session, limit.bucket, NOW + 7 * SECOND)
        await lanes.pause(session, limit.bucket, NOW + 3 * SECOND)  # a shorter one never shortens
        assert await lanes.take(session, limit, 1, NOW + 6 * SECOND) is None
        assert await lanes.free_count(session, limit.bucket, NOW + 6 * SECOND, 2) == 0
        assert await lanes.next_free(session, limit.bucket) == NOW + 7 * SECOND
        assert await lanes.take(session, limit, 1, NOW + 7 * SECOND) is not None


def test_telegram_chats_and_groups_have_their_own_limits() -> None:
    limits = SenderLimits(Limit("telegram:1", 30, SECOND), chat_lanes=1, group_lanes=20)
    chat, group = limits.chat("telegram:555"), limits.chat("telegram:-100777")
    assert chat == Limit("telegram:1/555", 1, SECOND)
    assert group == Limit("telegram:1/-100777", 20, timedelta(minutes=1))
    assert SenderLimits(Limit.per_second("tel:+1", 0.5)).chat("tel:+15035550100") is None
    assert Limit.per_second("tel:+1", 0.5) == Limit("tel:+1", 1, 2 * SECOND)


async def _rows(db: Database, owners: dict[str, str]) -> None:
    async with db.session() as session, session.begin():
        session.add(Patient(id=1, created_at=NOW, updated_at=NOW))
        await session.flush()
        await session.execute(
            insert(Delivery),
            [
                {
                    "key": f"k{i}",
                    "patient_id": 1,
                    "kind": "broadcast",
                    "reference": "broadcast:1",
                    "due_at": NOW,
                    "status": status,
                    "claimed_by": owner,
                    "attempts": 0,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i, (owner, status) in enumerate(owners.items())
            ],
        )


async def test_only_dead_workers_rows_are_recovered(db: Database) -> None:
    await _rows(
        db,
        {
            "far:1:dead": DeliveryStatus.SENDING,
            "far:2:dead": DeliveryStatus.CLAIMED,
            "far:3:alive": DeliveryStatus.SENDING,
        },
    )
    async with db.session() as session, session.begin():
        await beat(session, "far:1:dead", NOW - timedelta(minutes=5))
        await beat(session, "far:2:dead", NOW - timedelta(minutes=5))
        await beat(session, "far:3:alive", NOW - timedelta(seconds=5))
        counts = await recover_dead(session, NOW, me="here:9:me")
    assert counts == (1, 1)
    async with db.session() as session:
        rows = dict((await session.execute(select(Delivery.claimed_by, Delivery.status))).all())
        workers = set((await session.scalars(select(Worker.id))).all())
    assert rows["far:3:alive"] == DeliveryStatus.SENDING  # a live peer's send is left alone
    assert rows["far:1:dead"] == DeliveryStatus.FAILED  # interrupted, never resent
    assert workers == {"far:3:alive"}
