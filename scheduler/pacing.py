"""A wave's pacing with the shared lanes (scheduler.lanes): how many rows it may claim, which
lanes each send holds and when it may start, and freeing them a window after the answer.

A wave may take lanes that free within LEAD and posts each message as soon as its own lanes
have freed: its claim (the bulk reads and decisions) overlaps the last window instead of
following it, so the send-time check is at most LEAD older than the post.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Delivery
from scheduler import lanes
from scheduler.decide import Ready
from scheduler.lanes import Limit, SenderLimits, Taken

__all__ = ["LEAD", "MAX_WAIT", "Booked", "Held", "Pacing", "release_after"]

LEAD = timedelta(seconds=0.5)
# The shortest wait for a lane (a held lane may be answered but not yet released, or
# another wave is taking the free ones): a poll, not a spin.
MIN_WAIT = 0.05
MAX_WAIT = 1.0  # then look again: a pause may have been lifted, a row become due
Held = tuple[tuple[Limit, int], ...]  # the lanes a send holds: (limit, lane)


@dataclass(frozen=True)
class Booked:
    """A send with its lanes: it may start once they are all free (None: unpaced)."""

    ready: Ready
    held: Held
    start: datetime | None


def _booked(
    ready: Ready, sender: Limit, sender_taken: Taken, chat: Limit | None, chat_taken: Taken | None
) -> Booked:
    if chat is None or chat_taken is None:
        return Booked(ready, ((sender, sender_taken.lane),), sender_taken.free_at)
    start = max(sender_taken.free_at, chat_taken.free_at)
    return Booked(ready, ((chat, chat_taken.lane), (sender, sender_taken.lane)), start)


async def release_after(
    session: AsyncSession, held: Held, holder: int, answered: datetime
) -> None:
    """Free a send's lanes a window after its provider answered."""
    await lanes.release_many(
        session, [(limit.bucket, lane, holder, answered + limit.window) for limit, lane in held]
    )


class Pacing:
    """The lanes of each paced channel (`limits`); other channels' sends are not paced."""

    def __init__(self, limits: Mapping[str, SenderLimits], schemes: Collection[str]) -> None:
        self.limits = dict(limits)
        self._unpaced = any(scheme not in self.limits for scheme in schemes)
        self._ensured = False

    async def capacity(
        self, session: AsyncSession, batch: int, concurrency: int, now: datetime
    ) -> tuple[int, float | None]:
        """Return how many rows a wave may claim by `now` (locking the sender lanes it
        counts, so concurrent waves split them), and how long to wait when none."""
        if self.limits and not self._ensured:
            await lanes.ensure(session, [s.sender for s in self.limits.values()], now)
            self._ensured = True
        capacity = concurrency if self._unpaced else 0
        soonest: datetime | None = None
        for limits in self.limits.values():
            free = await lanes.free_count(session, limits.sender.bucket, now, batch)
            capacity += free
            if not free:
                at = await lanes.next_free(session, limits.sender.bucket)
                soonest = at if soonest is None or (at is not None and at < soonest) else soonest
        wait = max((soonest - now).total_seconds(), MIN_WAIT) if soonest is not None else 0.05
        return capacity, (wait if capacity == 0 else None)

    async def take(
        self,
        session: AsyncSession,
        ready: Sequence[Ready],
        deliveries: Sequence[Delivery],
        now: datetime,
        *,
        requeue_at: datetime | None,
    ) -> list[Booked]:
        """Take each row's chat and sender lanes free by `now` in a few bulk statements.

        Rows that get none wait (claimed), or stay pending for anyone; with `requeue_at`, a
        row whose chat had a message less than a window ago is due a window after it.
        """
        by_id = {d.id: d for d in deliveries}
        booked: list[Booked] = []
        for scheme in dict.fromkeys(item.scheme for item in ready):
            items = [item for item in ready if item.scheme == scheme]
            limits = self.limits.get(scheme)
            if limits is None:
                booked += [Booked(item, (), None) for item in items]
                continue
            chats = {item.delivery_id: limits.chat(item.urn) for item in items}
            wanted = [(c, i) for i, c in chats.items() if c is not None]
            await lanes.ensure(session, list({c.bucket: c for c, _ in wanted}.values()), now)
            chat_lanes = await lanes.take_chats(session, wanted, now)
            candidates = []
            for item in items:
                chat = chats[item.delivery_id]
                if chat is None or item.delivery_id in chat_lanes:
                    candidates.append(item)
                elif requeue_at is not None:
                    by_id[item.delivery_id].due_at = requeue_at + chat.window
            senders = await lanes.take_many(
                session, limits.sender, [item.delivery_id for item in candidates], now
            )
            unused = []
            for item in candidates:
                chat = chats[item.delivery_id]
                chat_taken = chat_lanes.get(item.delivery_id)
                sender_taken = senders.get(item.delivery_id)
                if sender_taken is not None:
                    booked.append(_booked(item, limits.sender, sender_taken, chat, chat_taken))
                elif chat is not None and chat_taken is not None:  # the sender is full:
                    # give the chat's lane back unused, free when it was
                    unused.append(
                        (chat.bucket, chat_taken.lane, item.delivery_id, chat_taken.free_at)
                    )
            await lanes.release_many(session, unused)
        return booked
