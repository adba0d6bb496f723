"""The scheduler: APScheduler is only the clock; each tick plans, claims and dispatches rows."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import select

from bot.clock import Clock, utc_now
from bot.db.models import Appointment, Patient
from bot.db.session import Database
from handlers.time.quiet_hours import QuietHours
from scheduler.dispatch import Dispatcher
from scheduler.planner import Visit, replan_all
from scheduler.rules import NudgeRule
from scheduler.state import (
    RULES_FINGERPRINT,
    TIPS_WATERMARK,
    clear_tip_replans,
    read_state,
    tip_replans,
    write_state,
)
from scheduler.timing import patient_zone
from scheduler.tip_replan import replan_patient_tips
from scheduler.tip_window import TIP_GRACE, plan_tip_window
from scheduler.workers import STALE_AFTER, beat, recover_dead, retire

__all__ = ["LOOKAHEAD", "Scheduler", "TickReport", "tick_job"]

log = logging.getLogger(__name__)

TICK_JOB_ID = "clinicbot-tick"
BEAT_JOB_ID = "clinicbot-heartbeat"
# Nudges after a visit reach this far back (the rebook nudge is 21 days after by default).
REPLAN_LOOKBACK = timedelta(days=30)
# Tips are planned this far ahead (tomorrow's wait as rows); a tick extends the planned
# window from the stored watermark, so its cost follows the rows due in that slice.
LOOKAHEAD = timedelta(hours=26)
CATCH_UP = timedelta(hours=24)  # after downtime, plan (and record missed) at most this far back
NEAR = timedelta(minutes=30)  # every tick plans at least this far ahead of now
TICK_BUDGET = 5_000  # then stops extending the window until the next tick
_FIRST_SPAN, _MAX_SPAN = timedelta(minutes=15), timedelta(hours=6)
_REPLAN_BATCH = 200  # patients replanned per transaction


@dataclass(frozen=True)
class TickReport:
    """What one tick did."""

    planned: int
    claimed: int
    statuses: dict[str, int]


@dataclass(frozen=True)
class _Row:
    """An appointment's planning columns (satisfies planner.Visit)."""

    id: int
    patient_id: int
    starts_at: datetime
    status: str


class Scheduler:
    """Plan due rows, claim them in batches and hand each batch to the dispatcher."""

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
        lookahead: timedelta = LOOKAHEAD,
        after_tick: Callable[[], Awaitable[None]] | None = None,
        heartbeat_seconds: float = 10.0,
        stale_after: timedelta = STALE_AFTER,
        wall_clock: Clock = utc_now,
    ) -> None:
        self._db, self._dispatcher, self._rules = db, dispatcher, rules
        self._after_tick = after_tick  # e.g. finish broadcasts and send their reports
        self._clock, self._zone, self._quiet = clock, clinic_zone, quiet
        self._batch, self._concurrency = batch_size, concurrency
        self._lookahead = lookahead
        self._apscheduler: AsyncIOScheduler | None = None
        self._running = asyncio.Lock()  # one tick at a time; stop() waits for it
        self._stopping = False
        self._beat_seconds, self._stale_after = heartbeat_seconds, stale_after
        self._wall = wall_clock  # heartbeats are real time even when a test moves the clock
        self._woken = asyncio.Event()  # urgent rows appeared (LISTEN/NOTIFY) during a tick

    @property
    def worker(self) -> str:
        """Return this process's worker id (its heartbeat row)."""
        return self._dispatcher.worker

    async def recover(self) -> tuple[int, int]:
        """Beat, then recover rows of dead workers: requeue claimed ones, fail (never
        resend) rows caught mid-send. Live peers' rows are left alone."""
        now = self._wall()
        async with self._db.session() as session, session.begin():
            await beat(session, self.worker, now)
            return await recover_dead(session, now, me=self.worker, stale_after=self._stale_after)

    async def heartbeat(self) -> None:
        """Say this worker is alive and take over the rows of any dead peer."""
        try:
            await self.recover()
        except Exception:  # a missed beat is retried at the next one
            log.exception("heartbeat failed")

    def wake(self) -> None:
        """Run a tick now: urgent rows (a broadcast, a reply) are due."""
        self._woken.set()
        if self._apscheduler is not None and not self._running.locked():
            self._apscheduler.modify_job(TICK_JOB_ID, next_run_time=datetime.now(UTC))

    def rules_fingerprint(self) -> str:
        """Return a hash of everything nudge planning depends on besides the appointments."""
        inputs = repr((self._rules, self._quiet.start, self._quiet.end, self._zone.key))
        return hashlib.sha256(inputs.encode()).hexdigest()

    async def replan_appointments(self) -> int:
        """Replan nudges of every recent or upcoming appointment, in bulk; return how many."""
        now = self._clock()
        async with self._db.session() as session, session.begin():
            rows = await session.execute(
                select(
                    Appointment.id,
                    Appointment.patient_id,
                    Appointment.starts_at,
                    Appointment.status,
                    Patient.timezone,
                )
                .join(Patient, Patient.id == Appointment.patient_id)
                .where(Appointment.starts_at >= now - REPLAN_LOOKBACK)
            )
            zones: dict[str | None, ZoneInfo] = {}
            visits: list[tuple[Visit, ZoneInfo]] = []
            for ident, patient_id, starts_at, status, zone_name in rows:
                if zone_name not in zones:
                    zones[zone_name] = patient_zone(zone_name, self._zone)
                visits.append((_Row(ident, patient_id, starts_at, status), zones[zone_name]))
            changed = await replan_all(session, visits, self._rules, self._quiet, now)
            await write_state(session, RULES_FINGERPRINT, self.rules_fingerprint(), now)
        log.info("replanned nudges: appointments=%s changed=%s", len(visits), changed)
        return len(visits)

    async def replan_if_rules_changed(self) -> bool:
        """Replan every appointment only if the rules changed since the last replan."""
        async with self._db.session() as session:
            stored = await read_state(session, RULES_FINGERPRINT)
        if stored == self.rules_fingerprint():
            return False
        await self.replan_appointments()
        return True

    async def plan(self, budget: int | None = None) -> int:
        """Plan tips from the stored watermark up to now + lookahead; return how many rows.

        With a budget (a tick), stop extending once that many rows are planned and the
        window reaches NEAR ahead of now; the next tick continues from the watermark.
        """
        now = self._clock()
        async with self._db.session() as session:
            stored = await read_state(session, TIPS_WATERMARK)
        start = now - TIP_GRACE
        if stored is not None:
            start = max(datetime.fromisoformat(stored), now - CATCH_UP)
        target, near = now + self._lookahead, now + min(NEAR, self._lookahead)
        span, count = _FIRST_SPAN, 0
        while start < target:
            end = min(target, start + span)
            async with self._db.session() as session, session.begin():
                planned = await plan_tip_window(
                    session, start, end, now=now, clinic_zone=self._zone, quiet=self._quiet
                )
                await write_state(session, TIPS_WATERMARK, end.isoformat(), now)
            count, start = count + planned, end
            if budget is not None and count >= budget and start >= near:
                break
            if planned < TICK_BUDGET // 4:  # sparse hours (or few patients): bigger steps
                span = min(span * 2, _MAX_SPAN)
        return count

    async def replan_changed_tips(self) -> int:
        """Replan the tips of patients whose tip settings or consent changed; return how many.

        Each patient's rows from now to the end of the planned window (at least the lookahead
        ahead, in case a plan() running meanwhile read their old settings) are made to match.
        """
        now, done = self._clock(), 0
        while True:
            async with self._db.session() as session, session.begin():
                asked = await tip_replans(session, _REPLAN_BATCH)
                if not asked:
                    return done
                stored = await read_state(session, TIPS_WATERMARK)
                end = now + self._lookahead
                if stored is not None:
                    end = max(end, datetime.fromisoformat(stored))
                for patient_id in asked:
                    await replan_patient_tips(
                        session,
                        patient_id,
                        end,
                        now=now,
                        clinic_zone=self._zone,
                        quiet=self._quiet,
                    )
                await clear_tip_replans(session, asked)
            done += len(asked)
            if len(asked) < _REPLAN_BATCH:
                return done

    async def tick(self) -> TickReport:
        """Plan if it is time, then claim and dispatch every due row, batch by batch."""
        async with self._running:
            return await self._tick()

    async def _tick(self) -> TickReport:
        await self.replan_changed_tips()  # before claiming: a stale tip must not go out
        planned = await self.plan(TICK_BUDGET)
        statuses = await self._dispatcher.drain(
            self._batch, self._concurrency, stopping=lambda: self._stopping, woken=self._woken
        )
        claimed_total = sum(statuses.values())
        if claimed_total:
            log.info("tick: planned=%s claimed=%s %s", planned, claimed_total, statuses)
        if self._after_tick is not None:
            try:
                await self._after_tick()
            except Exception:  # a report that fails must not stop the outbox
                log.exception("after-tick hook failed")
        return TickReport(planned, claimed_total, statuses)

    async def start(self, interval_seconds: float = 30.0) -> None:
        """Recover, replan nudges if the rules changed, and tick every interval."""
        await self.recover()
        await self.replan_if_rules_changed()
        scheduler = AsyncIOScheduler(timezone="UTC")
        scheduler.add_job(
            beat_job,
            "interval",
            args=[self],
            seconds=self._beat_seconds,
            id=BEAT_JOB_ID,
            max_instances=1,
            coalesce=True,
            replace_existing=True,
        )
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
        """Stop ticking and let a tick in progress finish its batch, so nothing is left
        claimed or mid-send. APScheduler's shutdown cancels a running job, so it comes last.
        """
        self._stopping = True
        if self._apscheduler is not None:
            self._apscheduler.pause()
        try:
            async with asyncio.timeout(grace_seconds):
                await self._running.acquire()
            self._running.release()
        except TimeoutError:
            log.warning("scheduler stop: a tick was still running after %ss", grace_seconds)
        if self._apscheduler is not None:
            self._apscheduler.shutdown(wait=False)
            self._apscheduler = None
        try:
            async with self._db.session() as session, session.begin():
                await retire(session, self.worker)
        except Exception:  # the row goes stale and a peer removes it
            log.warning("scheduler stop: could not remove the heartbeat row")


async def beat_job(scheduler: Scheduler) -> None:
    """Run one heartbeat (it logs its own failures)."""
    await scheduler.heartbeat()


async def tick_job(scheduler: Scheduler) -> None:
    """Run one tick, logging instead of raising so the next tick still runs."""
    try:
        await scheduler.tick()
    except Exception:
        log.exception("scheduler tick failed; the next tick will retry")
