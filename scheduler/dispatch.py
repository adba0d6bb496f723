"""Send claimed deliveries in batches: decide each at send time, send, record the outcomes.

A batch is read with a handful of bulk queries (scheduler.prefetch) and decided in Python in
one transaction. Sendable rows then go out in waves of `concurrency`: one transaction records
the previous wave's outcomes and marks the next wave `sending`, so after a crash at most one
wave (one row per worker slot) is uncertain, and such a row is failed, never resent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, Update, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.base import ChannelSender, SendOutcome, SendStatus
from bot.clock import Clock
from bot.db.models import Address, Delivery, DeliveryStatus, Patient
from bot.db.session import Database
from content.store import ContentStore
from content.tips import Tip
from handlers.alerts import StaffDesk
from handlers.quiet_hours import QuietHours
from scheduler.decide import CATEGORY_OF_KIND, Decider, Ready
from scheduler.prefetch import load_facts
from scheduler.rules import NudgeRule

__all__ = ["CATEGORY_OF_KIND", "MAX_ATTEMPTS", "Dispatcher"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


def _by_id(columns: Sequence[str]) -> Update:
    """Return a Core UPDATE of these columns by id, for executemany (cheaper than the ORM's)."""
    table = cast(Table, Delivery.__table__)
    values = {name: bindparam(name, type_=table.c[name].type) for name in columns}
    return update(table).where(table.c.id == bindparam("b_id")).values(values)


def _undelivered(kind: str, status: str, reason: str | None) -> bool:
    """Say whether an appointment message could not reach the patient (staff should call)."""
    return kind == "nudge" and (
        status == DeliveryStatus.FAILED
        or (status == DeliveryStatus.SKIPPED and reason == "unreachable")
    )


class Dispatcher:
    """Turn claimed outbox rows into sent messages, or say why not."""

    def __init__(
        self,
        db: Database,
        content: ContentStore,
        tips: Mapping[tuple[str, str], Sequence[Tip]],
        rules: Sequence[NudgeRule],
        senders: Mapping[str, ChannelSender],
        *,
        clock: Clock,
        clinic_zone: ZoneInfo,
        quiet: QuietHours,
        alerts: StaffDesk | None = None,
    ) -> None:
        self._db, self._senders, self._clock = db, senders, clock
        self._alerts = alerts
        self._decider = Decider(
            content, tips, rules, senders, clock=clock, clinic_zone=clinic_zone, quiet=quiet
        )

    async def dispatch(self, delivery_id: int) -> str:
        """Send one claimed delivery; return its final or new status."""
        return (await self.dispatch_batch([delivery_id]))[delivery_id]

    async def dispatch_batch(
        self, delivery_ids: Sequence[int], concurrency: int = 8
    ) -> dict[int, str]:
        """Send claimed deliveries; return each one's final or new status ("gone" if not ours).

        Raises the first error a channel raised, after recording every other outcome; that
        row stays `sending` and is failed "interrupted" by the next recovery.
        """
        statuses = dict.fromkeys(delivery_ids, "gone")
        alerts: list[int] = []
        ready: list[Ready] = []
        async with self._db.session() as session, session.begin():
            rows = await session.scalars(
                select(Delivery)
                .where(Delivery.id.in_(delivery_ids), Delivery.status == DeliveryStatus.CLAIMED)
                .order_by(Delivery.due_at, Delivery.id)
            )
            deliveries = rows.all()
            facts = await load_facts(session, deliveries, self._senders)
            for delivery in deliveries:
                decided = self._decider.decide(delivery, facts)
                if decided is not None:
                    ready.append(decided)
                    continue
                statuses[delivery.id] = delivery.status
                if _undelivered(delivery.kind, delivery.status, delivery.reason):
                    alerts.append(delivery.id)
        error: BaseException | None = None
        done: list[tuple[Ready, SendOutcome]] = []
        for start in range(0, len(ready), max(concurrency, 1)):
            wave = ready[start : start + max(concurrency, 1)]
            async with self._db.session() as session, session.begin():
                await self._record(session, done, statuses, alerts)
                await self._mark_sending(session, wave)
            results = await asyncio.gather(
                *(self._senders[r.scheme].send(r.urn, r.message) for r in wave),
                return_exceptions=True,
            )
            done = []
            for item, result in zip(wave, results, strict=True):
                if isinstance(result, SendOutcome):
                    done.append((item, result))
                else:
                    statuses[item.delivery_id] = DeliveryStatus.SENDING
                    error = error or result
        if done:
            async with self._db.session() as session, session.begin():
                await self._record(session, done, statuses, alerts)
        if self._alerts is not None:  # after the commit: staff can call
            for delivery_id in alerts:
                await self._alerts.nudge_failed(delivery_id=delivery_id)
        if error is not None:
            raise error
        return statuses

    async def _mark_sending(self, session: AsyncSession, wave: Sequence[Ready]) -> None:
        if not wave:
            return
        now = self._clock()
        await session.execute(
            _by_id(("status", "channel", "attempts", "content_ref", "updated_at")),
            [
                {
                    "b_id": r.delivery_id,
                    "status": DeliveryStatus.SENDING,
                    "channel": r.scheme,
                    "attempts": r.attempts,
                    "content_ref": r.content_ref,
                    "updated_at": now,
                }
                for r in wave
            ],
        )

    async def _record(
        self,
        session: AsyncSession,
        done: Sequence[tuple[Ready, SendOutcome]],
        statuses: dict[int, str],
        alerts: list[int],
    ) -> None:
        if not done:
            return
        now = self._clock()
        changes = []
        for ready, outcome in done:
            status, reason, due_at, sent_at = self._outcome(ready, outcome, now)
            if outcome.status in (SendStatus.UNREACHABLE, SendStatus.OPTED_OUT):
                await self._address_lost(session, ready.address_id, outcome, now)
            if status == DeliveryStatus.SENT and ready.pending_question is not None:
                await session.execute(
                    update(Patient)
                    .where(Patient.id == ready.patient_id)
                    .values(pending_question=ready.pending_question, pending_since=now)
                )
            changes.append(
                {
                    "b_id": ready.delivery_id,
                    "status": status,
                    "reason": reason,
                    "due_at": due_at,
                    "sent_at": sent_at,
                    "external_id": outcome.external_id,
                    "updated_at": now,
                }
            )
            statuses[ready.delivery_id] = status
            if _undelivered(ready.kind, status, reason):
                alerts.append(ready.delivery_id)
            log.info(
                "delivery %s: kind=%s channel=%s status=%s reason=%s",
                ready.delivery_id,
                ready.kind,
                ready.scheme,
                status,
                reason,
            )
        columns = ("status", "reason", "due_at", "sent_at", "external_id", "updated_at")
        await session.execute(_by_id(columns), changes)

    @staticmethod
    def _outcome(
        ready: Ready, outcome: SendOutcome, now: datetime
    ) -> tuple[str, str | None, datetime, datetime | None]:
        """Return (status, reason, due_at, sent_at) for one channel outcome."""
        if outcome.status is SendStatus.SENT:
            return DeliveryStatus.SENT, None, ready.due_at, now
        if outcome.status is SendStatus.RETRY and ready.attempts < MAX_ATTEMPTS:
            # Our own backoff (the SDKs' retries are off so nothing is sent twice); at least
            # a second, so a retry is never reclaimed within the same tick.
            wait = max(outcome.retry_after or 30.0 * 2 ** (ready.attempts - 1), 1.0)
            return DeliveryStatus.PENDING, outcome.error, now + timedelta(seconds=wait), None
        if outcome.status in (SendStatus.UNREACHABLE, SendStatus.OPTED_OUT):
            return DeliveryStatus.SKIPPED, str(outcome.status), ready.due_at, None
        if outcome.status is SendStatus.WITHDRAWN:  # a STOP won the race: never sent
            return DeliveryStatus.SKIPPED, outcome.error or "no_consent", ready.due_at, None
        return DeliveryStatus.FAILED, outcome.error or outcome.status, ready.due_at, None

    @staticmethod
    async def _address_lost(
        session: AsyncSession, address_id: int, outcome: SendOutcome, now: datetime
    ) -> None:
        address = await session.get(Address, address_id)
        if address is not None and outcome.status is SendStatus.UNREACHABLE:
            address.reachable, address.unreachable_reason = False, outcome.error
        elif address is not None:
            address.opted_out_at = now
