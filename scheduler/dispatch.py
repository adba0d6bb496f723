"""Send due deliveries in waves: claim, decide, take rate lanes, mark sending: ONE transaction.

That transaction is the send-time check: consent, opt-out, reachability, quiet hours, expiry
and whether the visit still stands are read (scheduler.prefetch, a few bulk reads) and decided
(scheduler.decide) right before the posts go, so a STOP committed while a broadcast is under
way stops the rest of it. The same transaction takes a lane of each row's sender and chat
(scheduler.pacing, over scheduler.lanes), shared by every process. The channels' senders only
post, each once its lanes free; each answer frees its lanes a window on, and one transaction
then records every outcome, the message log and any lost address (handlers.delivery.consent).
After a crash at most one wave is uncertain: those rows are `sending` and are failed
"interrupted" by a live peer (scheduler.workers), never resent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import Select, Table, Update, bindparam, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, utc_now
from bot.db.models import Delivery, DeliveryStatus, Patient
from bot.db.patients import LogEntry, log_messages
from bot.db.session import Database
from content.store import ContentStore
from content.tips import Tip
from handlers.alerts import StaffDesk
from handlers.delivery.consent import LOST, record_lost
from handlers.delivery.outcomes import SendOutcome, SendStatus
from handlers.delivery.sending import CHANNEL_OF_SCHEME
from handlers.delivery.transport import ChannelSender
from handlers.time.quiet_hours import QuietHours
from scheduler import lanes
from scheduler.decide import CATEGORY_OF_KIND, Decider, Ready
from scheduler.lanes import SenderLimits
from scheduler.pacing import LEAD, MAX_WAIT, Booked, Held, Pacing, release_after
from scheduler.prefetch import load_facts
from scheduler.rules import NudgeRule
from scheduler.workers import new_worker_id

__all__ = ["CATEGORY_OF_KIND", "MAX_ATTEMPTS", "Dispatcher", "WaveResult"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
Sleep = Callable[[float], Awaitable[None]]
_PROVIDER = {"tel": "twilio"}


@dataclass
class WaveResult:
    """What one wave did: each row's status, and how long until a lane frees when none was."""

    statuses: dict[int, str] = field(default_factory=dict)
    wait: float | None = None  # seconds until a sender lane frees, when due rows waited
    picked: int = 0  # rows read by the wave
    error: BaseException | None = None


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
    """Turn due outbox rows into sent messages, or say why not."""

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
        limits: Mapping[str, SenderLimits] | None = None,
        worker: str | None = None,
        pace_clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
        lead: timedelta = LEAD,
    ) -> None:
        self._db, self._senders, self._clock = db, senders, clock
        self._lead = lead
        self._alerts = alerts
        # Lanes are real time even when a test moves the business clock by hand.
        self._pacing, self._pace_clock, self._sleep = (
            Pacing(limits or {}, senders),
            pace_clock,
            sleep,
        )
        self.worker = worker or new_worker_id()  # its heartbeat row, once a Scheduler beats
        self._decider = Decider(
            content, tips, rules, senders, clock=clock, clinic_zone=clinic_zone, quiet=quiet
        )

    async def dispatch(self, delivery_id: int) -> str:
        """Send one claimed delivery; return its final or new status."""
        return (await self.dispatch_batch([delivery_id]))[delivery_id]

    async def send_due(self, batch: int = 200, concurrency: int = 8) -> WaveResult:
        """Claim due rows up to the free lanes, send them, record; one wave.

        An empty result with `wait` set means rows are due but every lane is busy.
        """
        now = self._clock()
        due = (
            select(Delivery)
            .where(Delivery.status == DeliveryStatus.PENDING, Delivery.due_at <= now)
            .order_by(Delivery.due_at, Delivery.id)
            .with_for_update(skip_locked=True)
        )
        return await self._wave(due, batch, concurrency, requeue=True)

    async def drain(
        self,
        batch: int = 200,
        concurrency: int = 8,
        *,
        stopping: Callable[[], bool] = lambda: False,
        woken: asyncio.Event | None = None,
    ) -> dict[str, int]:
        """Send waves until no due row is left, waiting for lanes between them; return how
        many rows ended in each status. Stops claiming once `stopping()` says so; rows due
        while a wave ran (`woken` set, LISTEN/NOTIFY) get another wave."""
        statuses: dict[str, int] = {}
        while not stopping():  # on stop, the wave in hand was finished: claim no more
            if woken is not None:
                woken.clear()
            wave = await self.send_due(batch, concurrency)
            for status in wave.statuses.values():
                statuses[status] = statuses.get(status, 0) + 1
            if wave.error is not None:
                log.error("a channel raised: %s", type(wave.error).__name__)
            if wave.wait is not None:  # due rows, every lane busy: wait for one to free
                await self._sleep(min(wave.wait, MAX_WAIT))
            elif not wave.picked and not (woken is not None and woken.is_set()):
                return statuses
        return statuses

    async def dispatch_batch(
        self, delivery_ids: Sequence[int], concurrency: int = 8
    ) -> dict[int, str]:
        """Send rows already claimed (scheduler.outbox.claim_due); return each one's status.

        Rows wait here for lanes when their sender is busy. Raises the first error a channel
        raised, after recording every other outcome; that row stays `sending` and a live
        worker fails it "interrupted".
        """
        statuses = dict.fromkeys(delivery_ids, "gone")
        remaining = list(delivery_ids)
        error: BaseException | None = None
        while remaining:
            claimed = (
                select(Delivery)
                .where(Delivery.id.in_(remaining), Delivery.status == DeliveryStatus.CLAIMED)
                .order_by(Delivery.due_at, Delivery.id)
                .with_for_update()
            )
            result = await self._wave(claimed, len(remaining), concurrency, requeue=False)
            statuses.update(result.statuses)
            error = error or result.error
            remaining = [i for i in remaining if i not in result.statuses]
            if result.wait is None and not result.picked:
                break  # the rest are not ours (any more)
            if remaining:
                await self._sleep(result.wait if result.wait is not None else 0.05)
        if error is not None:
            raise error
        return statuses

    async def _wave(
        self, query: Select[Delivery], batch: int, concurrency: int, *, requeue: bool
    ) -> WaveResult:
        result = WaveResult()
        alerts: list[int] = []
        sending: list[Booked] = []
        horizon = self._pace_clock() + (self._lead if self._pacing.limits else timedelta())
        async with self._db.session() as session, session.begin():
            capacity, wait = await self._pacing.capacity(session, batch, concurrency, horizon)
            if capacity == 0:
                due = select(Delivery.id).where(
                    Delivery.status == DeliveryStatus.PENDING, Delivery.due_at <= self._clock()
                )
                if not requeue or await session.scalar(select(exists(due))):
                    result.wait = wait  # claimed rows, or due ones, wait for a lane
                return result
            deliveries = (await session.scalars(query.limit(min(batch, capacity)))).all()
            result.picked = len(deliveries)
            facts = await load_facts(session, deliveries, self._senders)
            ready: list[Ready] = []
            for delivery in deliveries:
                decided = self._decider.decide(delivery, facts)
                if decided is not None:
                    ready.append(decided)
                    continue
                result.statuses[delivery.id] = delivery.status
                if _undelivered(delivery.kind, delivery.status, delivery.reason):
                    alerts.append(delivery.id)
            requeue_at = self._clock() if requeue else None  # a busy chat: due a window on
            sending = await self._pacing.take(
                session, ready, deliveries, horizon, requeue_at=requeue_at
            )
            by_id = {d.id: d for d in deliveries}
            now = self._clock()
            for item in (booked.ready for booked in sending):
                row = by_id[item.delivery_id]
                row.status, row.channel = DeliveryStatus.SENDING, item.scheme
                row.attempts, row.content_ref, row.updated_at = (
                    item.attempts,
                    item.content_ref,
                    now,
                )
                row.claimed_by, row.claimed_at = self.worker, row.claimed_at or now
        if sending:
            outcomes = await asyncio.gather(
                *(self._post(booked) for booked in sending), return_exceptions=True
            )
            done: list[tuple[Ready, Held, SendOutcome, datetime]] = []
            for booked, outcome in zip(sending, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    result.statuses[booked.ready.delivery_id] = DeliveryStatus.SENDING
                    result.error = result.error or outcome
                else:
                    done.append((booked.ready, booked.held, *outcome))
            async with self._db.session() as session, session.begin():
                await self._record(session, done, result.statuses, alerts)
        if self._alerts is not None:  # after the commit: staff can call
            for delivery_id in alerts:
                await self._alerts.nudge_failed(delivery_id=delivery_id)
        return result

    async def _post(self, booked: Booked) -> tuple[SendOutcome, datetime]:
        """Post one message once its lanes have freed, then free them a window after the
        answer, at once rather than with the wave's record, so that another wave can take
        them ahead; return the outcome and when the provider answered."""
        item, start = booked.ready, booked.start
        early = (start - self._pace_clock()).total_seconds() if start is not None else 0.0
        if early > 0:
            await self._sleep(early)
        outcome = await self._senders[item.scheme].send(item.urn, item.message)
        answered = self._pace_clock()
        if booked.held:
            async with self._db.session() as session, session.begin():
                await release_after(session, booked.held, item.delivery_id, answered)
        return outcome, answered

    async def _record(
        self,
        session: AsyncSession,
        done: Sequence[tuple[Ready, Held, SendOutcome, datetime]],
        statuses: dict[int, str],
        alerts: list[int],
    ) -> None:
        """Record a wave's outcomes in a few bulk statements (its lanes are free already)."""
        now = self._clock()
        paused: dict[str, datetime] = {}
        changes: list[dict[str, object]] = []
        entries: list[LogEntry] = []
        for ready, held, outcome, answered in done:
            if outcome.status is SendStatus.RATE_LIMITED and held:
                sender_bucket = held[-1][0].bucket
                until = answered + timedelta(seconds=outcome.retry_after or 1.0)
                paused[sender_bucket] = max(until, paused.get(sender_bucket, until))
            status, reason, due_at, sent_at = self._outcome(ready, outcome, now)
            if outcome.status in LOST:
                await record_lost(
                    session,
                    ready.address_id,
                    str(outcome.status),
                    code=outcome.error,
                    provider=_PROVIDER.get(ready.scheme, ready.scheme),
                    now=now,
                )
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
                    "claimed_by": None if status == DeliveryStatus.PENDING else self.worker,
                }
            )
            if outcome.status not in (SendStatus.RETRY, SendStatus.RATE_LIMITED):
                channel = CHANNEL_OF_SCHEME.get(ready.scheme, ready.scheme)
                entries.append(
                    LogEntry(
                        ready.patient_id,
                        "out",
                        channel,
                        str(outcome.status),
                        ready.kind,
                        external_id=outcome.external_id,
                    )
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
        if changes:
            await session.execute(_by_id(tuple(changes[0])[1:]), changes)
        await log_messages(session, entries, now=now)
        for bucket, until in paused.items():
            await lanes.pause(session, bucket, until)
            log.warning("sender %s paused until %s (provider rate limit)", bucket, until)

    @staticmethod
    def _outcome(
        ready: Ready, outcome: SendOutcome, now: datetime
    ) -> tuple[str, str | None, datetime, datetime | None]:
        """Return (status, reason, due_at, sent_at) for one channel outcome."""
        if outcome.status is SendStatus.SENT:
            return DeliveryStatus.SENT, None, ready.due_at, now
        retry = outcome.status in (SendStatus.RETRY, SendStatus.RATE_LIMITED)
        if retry and ready.attempts < MAX_ATTEMPTS:
            # Our own backoff (the SDKs' retries are off so nothing is sent twice); at least
            # a second, so a retry is never reclaimed within the same wave.
            wait = max(outcome.retry_after or 30.0 * 2 ** (ready.attempts - 1), 1.0)
            return DeliveryStatus.PENDING, outcome.error, now + timedelta(seconds=wait), None
        if outcome.status in (SendStatus.UNREACHABLE, SendStatus.OPTED_OUT):
            return DeliveryStatus.SKIPPED, str(outcome.status), ready.due_at, None
        if outcome.status is SendStatus.WITHDRAWN:
            return DeliveryStatus.SKIPPED, outcome.error or "no_consent", ready.due_at, None
        return DeliveryStatus.FAILED, outcome.error or outcome.status, ready.due_at, None
