"""Rate limits shared by every process, as rows: a limit of N per window is N lanes.

A send takes a free lane of its sender's bucket (and of its chat's) in the transaction that
claims its row, holds it while the provider answers, and frees it one window after the
answer. Since the next send on a lane starts after that, any window holds at most N arrivals
at the provider whatever each process's latency; a provider's 429 pushes every lane of the
bucket past its Retry-After, for every process at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple, cast

from sqlalchemy import Table, Update, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import RateLane

__all__ = [
    "HOLD",
    "PAUSE_LANE",
    "Limit",
    "SenderLimits",
    "Taken",
    "ensure",
    "free_count",
    "next_free",
    "pause",
    "release",
    "release_many",
    "take",
    "take_chats",
    "take_many",
]

# How long a lane stays held if its process dies mid-send (then it frees by itself).
HOLD = timedelta(seconds=60)
PAUSE_LANE = -1  # a bucket's row saying until when a provider asked everyone to wait


@dataclass(frozen=True)
class Limit:
    """N sends per window in one bucket (a sender, or one chat of it)."""

    bucket: str
    lanes: int
    window: timedelta

    @classmethod
    def per_second(cls, bucket: str, rate: float) -> Limit:
        """Return the limit for `rate` messages a second (below one: one lane, longer window)."""
        lanes = max(1, int(rate))
        return cls(bucket, lanes, timedelta(seconds=lanes / rate))


class Taken(NamedTuple):
    """A lane taken, and when it became free: a send on it may not start before then."""

    lane: int
    free_at: datetime


@dataclass(frozen=True)
class SenderLimits:
    """A sender's overall limit and how to name the limit of one of its chats."""

    sender: Limit
    chat_lanes: int = 0  # 0: no per-chat limit (SMS numbers)
    chat_window: timedelta = timedelta(seconds=1)
    group_lanes: int = 0  # Telegram groups (negative chat ids): 20 a minute
    group_window: timedelta = timedelta(minutes=1)

    def chat(self, address: str) -> Limit | None:
        """Return the limit of one chat of this sender, or None."""
        ident = address.partition(":")[2]
        if ident.startswith("-") and self.group_lanes:
            return Limit(f"{self.sender.bucket}/{ident}", self.group_lanes, self.group_window)
        if not self.chat_lanes:
            return None
        return Limit(f"{self.sender.bucket}/{ident}", self.chat_lanes, self.chat_window)


async def ensure(session: AsyncSession, limits: Sequence[Limit], now: datetime) -> None:
    """Create the lanes these limits need (existing ones are left as they are)."""
    rows = [
        {"bucket": limit.bucket, "lane": lane, "free_at": now - timedelta(days=1)}
        for limit in limits
        for lane in range(limit.lanes)
    ]
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(insert(RateLane).on_conflict_do_nothing(), rows)


async def _paused_until(session: AsyncSession, bucket: str) -> datetime | None:
    until: datetime | None = await session.scalar(
        select(RateLane.free_at).where(RateLane.bucket == bucket, RateLane.lane == PAUSE_LANE)
    )
    return until


async def take(session: AsyncSession, limit: Limit, holder: int, now: datetime) -> int | None:
    """Take a free lane of `limit` for delivery `holder`; None if every lane is busy."""
    paused = await _paused_until(session, limit.bucket)
    if paused is not None and paused > now:
        return None
    lane = await session.scalar(
        select(RateLane.lane)
        .where(RateLane.bucket == limit.bucket, RateLane.lane >= 0, RateLane.free_at <= now)
        .order_by(RateLane.free_at, RateLane.lane)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if lane is None:
        return None
    await session.execute(
        update(RateLane)
        .where(RateLane.bucket == limit.bucket, RateLane.lane == lane)
        .values(free_at=now + limit.window + HOLD, holder=holder)
    )
    return int(lane)


async def release(
    session: AsyncSession, limit: Limit, lane: int, holder: int, free_at: datetime
) -> None:
    """Give back a lane held for `holder`; it frees at `free_at` (a window after the answer)."""
    await session.execute(
        update(RateLane)
        .where(RateLane.bucket == limit.bucket, RateLane.lane == lane, RateLane.holder == holder)
        .values(free_at=free_at, holder=None)
    )


async def pause(session: AsyncSession, bucket: str, until: datetime) -> None:
    """Hold every lane of `bucket` until `until` (a provider's Retry-After), for everyone."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(RateLane).values(bucket=bucket, lane=PAUSE_LANE, free_at=until)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["bucket", "lane"],
            set_={"free_at": until},
            where=RateLane.free_at < until,
        )
    )


async def free_count(session: AsyncSession, bucket: str, now: datetime, most: int) -> int:
    """Lock up to `most` lanes of `bucket` free by `now` (none while it is paused) and
    return how many: concurrent waves split the free lanes instead of racing for them."""
    paused = await _paused_until(session, bucket)
    if paused is not None and paused > now:
        return 0
    free = await session.scalars(
        select(RateLane.lane)
        .where(RateLane.bucket == bucket, RateLane.lane >= 0, RateLane.free_at <= now)
        .order_by(RateLane.free_at, RateLane.lane)
        .limit(most)
        .with_for_update(skip_locked=True)
    )
    return len(free.all())


async def next_free(session: AsyncSession, bucket: str) -> datetime | None:
    """Return the earliest a lane of `bucket` may free (after any pause).

    A held lane frees a window after its answer, so no sooner than a window after it was
    taken: its `free_at` less HOLD. Waiting for that, not for HOLD, lets an idle process
    wake as lanes free instead of polling blindly.
    """
    held = RateLane.holder.is_not(None)
    rows = await session.execute(
        select(held, func.min(RateLane.free_at))
        .where(RateLane.bucket == bucket, RateLane.lane >= 0)
        .group_by(held)
    )
    found = min((at - HOLD if is_held else at for is_held, at in rows), default=None)
    paused = await _paused_until(session, bucket)
    if found is not None and paused is not None:
        return max(found, paused)
    return found


def _table() -> Table:
    return cast(Table, RateLane.__table__)


def _hold_statement() -> Update:
    table = _table()
    return (
        update(table)
        .where(table.c.bucket == bindparam("b_bucket"), table.c.lane == bindparam("b_lane"))
        .values(
            free_at=bindparam("free_at", type_=table.c.free_at.type),
            holder=bindparam("holder", type_=table.c.holder.type),
        )
    )


async def _hold(
    session: AsyncSession, held: Sequence[tuple[str, int, int]], until: dict[str, datetime]
) -> None:
    """Mark (bucket, lane, holder) lanes held until their bucket's time, in one statement."""
    if held:
        await session.execute(
            _hold_statement(),
            [
                {"b_bucket": b, "b_lane": lane, "free_at": until[b], "holder": holder}
                for b, lane, holder in held
            ],
        )


async def take_many(
    session: AsyncSession, limit: Limit, holders: Sequence[int], now: datetime
) -> dict[int, Taken]:
    """Take up to one lane of `limit` free by `now` per holder, in order (the soonest
    free first); return holder -> the lane and when it freed."""
    if not holders:
        return {}
    paused = await _paused_until(session, limit.bucket)
    if paused is not None and paused > now:
        return {}
    free = await session.execute(
        select(RateLane.lane, RateLane.free_at)
        .where(RateLane.bucket == limit.bucket, RateLane.lane >= 0, RateLane.free_at <= now)
        .order_by(RateLane.free_at, RateLane.lane)
        .limit(len(holders))
        .with_for_update(skip_locked=True)
    )
    taken = dict(zip(holders, (Taken(int(lane), at) for lane, at in free), strict=False))
    held = [(limit.bucket, lane, holder) for holder, (lane, _) in taken.items()]
    await _hold(session, held, {limit.bucket: now + limit.window + HOLD})
    return taken


async def take_chats(
    session: AsyncSession, wanted: Sequence[tuple[Limit, int]], now: datetime
) -> dict[int, Taken]:
    """Take a lane of each holder's chat limit where one is free by `now`; return
    holder -> the lane and when it freed.

    Chats are never paused as a whole (a 429 pauses the sender), so no pause row is read.
    """
    if not wanted:
        return {}
    limits = {limit.bucket: limit for limit, _ in wanted}
    rows = await session.execute(
        select(RateLane.bucket, RateLane.lane, RateLane.free_at)
        .where(RateLane.bucket.in_(list(limits)), RateLane.lane >= 0, RateLane.free_at <= now)
        .order_by(RateLane.bucket, RateLane.free_at, RateLane.lane)
        .with_for_update(skip_locked=True)
    )
    free: dict[str, list[Taken]] = {}
    for bucket, lane, at in rows:
        free.setdefault(str(bucket), []).append(Taken(int(lane), at))
    taken: dict[int, Taken] = {}
    held: list[tuple[str, int, int]] = []
    for limit, holder in wanted:
        lanes_left = free.get(limit.bucket)
        if lanes_left:
            first = lanes_left.pop(0)
            taken[holder] = first
            held.append((limit.bucket, first.lane, holder))
    until = {bucket: now + limit.window + HOLD for bucket, limit in limits.items()}
    await _hold(session, held, until)
    return taken


async def release_many(
    session: AsyncSession, released: Sequence[tuple[str, int, int, datetime]]
) -> None:
    """Give back (bucket, lane, holder, free_at) lanes in one statement."""
    if not released:
        return
    table = _table()
    statement = (
        update(table)
        .where(
            table.c.bucket == bindparam("b_bucket"),
            table.c.lane == bindparam("b_lane"),
            table.c.holder == bindparam("b_holder"),
        )
        .values(free_at=bindparam("free_at", type_=table.c.free_at.type), holder=None)
    )
    await session.execute(
        statement,
        [
            {"b_bucket": b, "b_lane": lane, "b_holder": holder, "free_at": at}
            for b, lane, holder, at in released
        ],
    )
