"""The scheduler: APScheduler is only the clock; each tick plans, claims and dispatches rows."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import select

from bot.clock import Clock
from bot.db.models import Appointment, Patient
from bot.db.session import Database
from scheduler.dispatch import Dispatcher
from scheduler.outbox import claim_due, recover_interrupted
from scheduler.planner import patient_zone, plan_tips, replan_appointment
from scheduler.rules import NudgeRule
from scheduler.timing import QuietHours

__all__ = ["Scheduler", "TickReport", "tick_job"]

log = logging.getLogger(__name__)

TICK_JOB_ID = "clinicbot-tick"
# Nudges after a visit reach this far back (the rebook nudge is 21 days after by default).
REPLAN_LOOKBACK = timedelta(days=30)


@dataclass(frozen=True)
class TickReport:
    """What one tick did."""

    planned: int
    claimed: int
    statuses: dict[str, int]


class Scheduler:
    """Plan due rows, claim them in batches and hand each to the dispatcher."""

    def __init__(
        self,
        db: Database,
        dispatcher: Dispatcher,
        rules: Sequence[NudgeRule],
        *,
        clock: Clock,
        clinic_zone: ZoneInfo,
        quiet: QuietHours,
        batch_size: int = 200,
        concurrency: int = 8,
        plan_every: timedelta = timedelta(minutes=15),
        horizon: timedelta = timedelta(hours=26),
    ) -> None:
        self._db, self._dispatcher, self._rules = db, dispatcher, rules
        self._clock, self._zone, self._quiet = clock, clinic_zone, quiet
        self._batch, self._concurrency = batch_size, concurrency
        self._plan_every, self._horizon = plan_every, horizon
        self._planned_at: datetime | None = None
        self._apscheduler: AsyncIOScheduler | None = None
        self._running = asyncio.Lock()  # one tick at a time; stop() waits for it

    async def recover(self) -> None:
        """Requeue rows a crash left claimed; fail (never resend) rows that were mid-send."""
        async with self._db.session() as session, session.begin():
            requeued, interrupted = await recover_interrupted(session, self._clock())
        if requeued or interrupted:
            log.warning("recovered outbox: requeued=%s interrupted=%s", requeued, interrupted)

    async def replan_appointments(self) -> int:
        """Replan nudges of every recent or upcoming appointment (after a rule change)."""
        now = self._clock()
        async with self._db.session() as session, session.begin():
            rows = await session.execute(
                select(Appointment, Patient.timezone)
                .join(Patient, Patient.id == Appointment.patient_id)
                .where(Appointment.starts_at >= now - REPLAN_LOOKBACK)
            )
            count = 0
            for appointment, zone_name in rows:
                zone = patient_zone(zone_name, self._zone)
                await replan_appointment(session, appointment, self._rules, zone, self._quiet, now)
                count += 1
        return count

    async def plan(self) -> int:
        """Plan tips due within the horizon (idempotent: existing keys are kept)."""
        now = self._clock()
        async with self._db.session() as session, session.begin():
            count = await plan_tips(session, now, self._horizon, self._zone, self._quiet)
        self._planned_at = now
        return count

    async def tick(self) -> TickReport:
        """Plan if it is time, then claim and dispatch every due row, batch by batch."""
        async with self._running:
            return await self._tick()

    async def _tick(self) -> TickReport:
        planned = 0
        now = self._clock()
        if self._planned_at is None or now - self._planned_at >= self._plan_every:
            planned = await self.plan()
        statuses: dict[str, int] = {}
        claimed_total = 0
        limit = asyncio.Semaphore(self._concurrency)

        async def one(delivery_id: int) -> None:
            async with limit:
                status = await self._dispatcher.dispatch(delivery_id)
            statuses[status] = statuses.get(status, 0) + 1

        while True:
            async with self._db.session() as session, session.begin():
                claimed = await claim_due(session, self._clock(), self._batch)
            if not claimed:
                break
            claimed_total += len(claimed)
            await asyncio.gather(*(one(delivery_id) for delivery_id in claimed))
        if claimed_total:
            log.info("tick: planned=%s claimed=%s %s", planned, claimed_total, statuses)
        return TickReport(planned, claimed_total, statuses)

    async def start(self, interval_seconds: float = 30.0) -> None:
        """Recover, replan, and start ticking every interval on the running loop."""
        await self.recover()
        await self.replan_appointments()
        scheduler = AsyncIOScheduler(timezone="UTC")
        scheduler.add_job(
            tick_job,
            "interval",
            args=[self],
            seconds=interval_seconds,
            id=TICK_JOB_ID,
            max_instances=1,
            coalesce=True,
            replace_existing=True,
            next_run_time=self._clock(),
        )
        scheduler.start()
        self._apscheduler = scheduler

    async def stop(self, grace_seconds: float = 20.0) -> None:
        """Stop ticking and let a tick in progress finish, so nothing is left mid-send."""
        if self._apscheduler is not None:
            self._apscheduler.shutdown(wait=False)
            self._apscheduler = None
        try:
            async with asyncio.timeout(grace_seconds):
                await self._running.acquire()
            self._running.release()
        except TimeoutError:
            log.warning("scheduler stop: a tick was still running after %ss", grace_seconds)


async def tick_job(scheduler: Scheduler) -> None:
    """Run one tick, logging instead of raising so the next tick still runs."""
    try:
        await scheduler.tick()
    except Exception:
        log.exception("scheduler tick failed; the next tick will retry")
