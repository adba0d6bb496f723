"""Scheduler at scale: plan a day and tick 1,000 due items, next to one APScheduler job each.

Run: .venv/bin/python bench/scheduler_scale.py [--db sqlite|postgresql|both] [--patients 100000]

Each measurement runs in a fresh child process (this script with --worker), so its peak RSS
(resource.getrusage) is that operation's own, interpreter and imports included.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from bot.channels.base import SendOutcome, SendStatus  # noqa: E402
from bot.db.migrate import upgrade  # noqa: E402
from bot.db.models import (  # noqa: E402
    Address,
    Appointment,
    AppointmentStatus,
    Consent,
    ConsentCategory,
    Delivery,
    DeliveryStatus,
    Patient,
    PatientStatus,
    ReminderPreference,
    TipCategory,
)
from bot.db.session import Database  # noqa: E402
from bot.settings import DEFAULT_CONTENT_DIR  # noqa: E402
from handlers.messages import OutboundMessage  # noqa: E402
from handlers.time.quiet_hours import QuietHours  # noqa: E402
from scheduler.timing import occurrences, parse_hhmm  # noqa: E402

PG_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
CLINIC_ZONE = ZoneInfo("America/Los_Angeles")
ZONES = (
    "America/Los_Angeles",
    "America/Denver",
    "America/Phoenix",
    "America/Chicago",
    "America/New_York",
    "America/Mexico_City",
    "Pacific/Honolulu",
    "Europe/Madrid",
)
# Monday 2026-05-04 06:00 in Los Angeles: the whole day ahead, no DST change inside it.
START = datetime(2026, 5, 4, 13, 0, tzinfo=UTC)
APPOINTMENTS = 20_000
DUE_IN_TICK = 1_000
BASELINE_JOBS = 20_000
BASELINE_BUDGET_SECONDS = 60.0
NUDGE_BUDGET_SECONDS = 60.0
CHUNK = 10_000


@dataclass(frozen=True)
class Row:
    """One line of the result table."""

    operation: str
    database: str
    seconds: float
    items: int
    rss_mb: float
    note: str = ""

    @property
    def rate(self) -> float:
        """Return items per second."""
        return self.items / self.seconds if self.seconds > 0 else 0.0


def peak_rss_mb() -> float:
    """Return this process's peak resident set size in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def local_times(rng: random.Random) -> Iterator[str]:
    """Yield reminder times spread from 07:00 to 21:59 (a few fall in quiet hours)."""
    while True:
        minute = rng.randrange(7 * 60, 22 * 60)
        yield f"{minute // 60:02d}:{minute % 60:02d}"


# --- database set-up --------------------------------------------------------------------


async def _insert_chunks(db: Database, table: Any, rows: Iterator[dict[str, Any]]) -> int:
    count = 0
    batch: list[dict[str, Any]] = []
    async with db.session() as session, session.begin():
        for row in rows:
            batch.append(row)
            if len(batch) == CHUNK:
                await session.execute(insert(table), batch)
                count, batch = count + len(batch), []
        if batch:
            await session.execute(insert(table), batch)
            count += len(batch)
    return count


async def populate(db: Database, patients: int) -> dict[str, int]:
    """Bulk-insert patients, addresses, consents, preferences and appointments (Core inserts)."""
    rng = random.Random(6)
    now = START - timedelta(days=1)
    zones = [rng.choice(ZONES) for _ in range(patients)]
    ids = range(1, patients + 1)

    def patient_rows() -> Iterator[dict[str, Any]]:
        for pid in ids:
            yield {
                "id": pid,
                "name": f"Patient {pid}",
                "language": "es" if pid % 5 == 0 else "en",
                "timezone": zones[pid - 1],
                "status": PatientStatus.ACTIVE,
                "reminders_paused": False,
                "created_at": now,
                "updated_at": now,
            }

    def address_rows() -> Iterator[dict[str, Any]]:
        for pid in ids:
            yield {
                "patient_id": pid,
                "urn": f"telegram:{10_000_000 + pid}",
                "scheme": "telegram",
                "reachable": True,
                "created_at": now,
            }

    def consent_rows() -> Iterator[dict[str, Any]]:
        for pid in ids:
            for category in (ConsentCategory.TIPS, ConsentCategory.APPOINTMENTS):
                yield {
                    "patient_id": pid,
                    "category": category,
                    "granted": True,
                    "source": "bench",
                    "recorded_at": now,
                }

    times = local_times(rng)

    def preference_rows() -> Iterator[dict[str, Any]]:
        for pid in ids:
            for category in TipCategory:
                yield {
                    "patient_id": pid,
                    "category": category,
                    "enabled": True,
                    "weekdays": 0b1111111,
                    "local_time": next(times),
                    "updated_at": now,
                }

    def appointment_rows() -> Iterator[dict[str, Any]]:
        for n in range(1, APPOINTMENTS + 1):
            day = START + timedelta(days=rng.randrange(30))
            local = day.astimezone(CLINIC_ZONE).replace(
                hour=rng.randrange(8, 18), minute=rng.choice((0, 30)), second=0
            )
            yield {
                "patient_id": rng.randrange(1, patients + 1),
                "external_uid": f"bench-{n}",
                "starts_at": local.astimezone(UTC),
                "duration_minutes": 30,
                "practitioner": "Dr. Bench",
                "status": AppointmentStatus.BOOKED,
                "created_at": now,
                "updated_at": now,
            }

    return {
        "patients": await _insert_chunks(db, Patient, patient_rows()),
        "addresses": await _insert_chunks(db, Address, address_rows()),
        "consents": await _insert_chunks(db, Consent, consent_rows()),
        "preferences": await _insert_chunks(db, ReminderPreference, preference_rows()),
        "appointments": await _insert_chunks(db, Appointment, appointment_rows()),
    }


# --- the scheduler under test -----------------------------------------------------------


class FakeClock:
    """A clock the benchmark sets by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class NoopSender:
    """Accept every message at once, as a channel that never waits."""

    def __init__(self) -> None:
        self.count = 0

    async def send(self, urn: str, message: OutboundMessage) -> SendOutcome:
        """Pretend to send; return SENT."""
        self.count += 1
        return SendOutcome(SendStatus.SENT, external_id=f"bench{self.count}")


def build_scheduler(db: Database, clock: FakeClock) -> Any:
    """Build a Scheduler the way tests/test_scheduler.py does, with a no-op sender."""
    from content.tips import load_tips
    from handlers.conversation.answer import Answerer
    from scheduler.dispatch import Dispatcher
    from scheduler.rules import load_nudge_rules
    from scheduler.service import Scheduler

    rules = load_nudge_rules(DEFAULT_CONTENT_DIR / "nudges.yaml")
    content = Answerer.from_directory(DEFAULT_CONTENT_DIR).content
    tips = load_tips(DEFAULT_CONTENT_DIR)
    quiet = QuietHours()
    senders = {"telegram": NoopSender()}
    dispatcher = Dispatcher(
        db, content, tips, rules, senders, clock=clock, clinic_zone=CLINIC_ZONE, quiet=quiet
    )
    return Scheduler(db, dispatcher, rules, clock=clock, clinic_zone=CLINIC_ZONE, quiet=quiet)


async def count_deliveries(db: Database, kind: str) -> int:
    """Count outbox rows of one kind."""
    async with db.session() as session:
        found = await session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.kind == kind)
        )
        return int(found or 0)


async def due_clock(db: Database, wanted: int) -> datetime:
    """Return the instant at which about `wanted` pending rows are due."""
    async with db.session() as session:
        due = await session.scalar(
            select(Delivery.due_at)
            .where(Delivery.status == DeliveryStatus.PENDING)
            .order_by(Delivery.due_at, Delivery.id)
            .offset(wanted - 1)
            .limit(1)
        )
    assert due is not None, "not enough planned rows"
    return due


Timed = dict[str, Any]


async def timed(work: Callable[[], Awaitable[int]]) -> Timed:
    """Run one operation; return its wall time and item count."""
    start = time.perf_counter()
    items = await work()
    return {"seconds": time.perf_counter() - start, "items": items}


async def worker(step: str, url: str, patients: int) -> list[Timed]:
    """Run one measured step against the database at `url`."""
    db = Database.open(url)
    try:
        if step == "setup":
            await upgrade(db.engine)
            start = time.perf_counter()
            counts = await populate(db, patients)
            seconds = time.perf_counter() - start
            rows = sum(counts.values())
            return [{"op": "bulk insert (set-up)", "seconds": seconds, "items": rows}]
        if step == "plan_day":
            from scheduler.service import TICK_BUDGET

            clock = FakeClock(START)
            scheduler = build_scheduler(db, clock)
            first = await timed(lambda: scheduler.plan(TICK_BUDGET))
            rest = await timed(scheduler.plan)
            total = first["items"] + rest["items"]
            clock.now += timedelta(seconds=30)
            steady = await timed(lambda: scheduler.plan(TICK_BUDGET))
            return [
                {"op": "plan tips: first tick (budget)", **first},
                {
                    "op": "plan tips: rest of 27 h (first start)",
                    **rest,
                    "note": f"{total} tips planned in all, one-off after a fresh install",
                },
                {"op": "plan tips: next tick (30 s slice)", **steady},
            ]
        if step == "plan_nudges":
            scheduler = build_scheduler(db, FakeClock(START))
            start = time.perf_counter()
            try:
                async with asyncio.timeout(NUDGE_BUDGET_SECONDS):
                    result = await timed(scheduler.replan_appointments)
            except TimeoutError:  # rolled back: report the budget, not a made-up figure
                seconds = time.perf_counter() - start
                note = f"stopped after {seconds:.0f}s budget, nothing committed"
                op = "plan nudges, all appointments"
                return [{"op": op, "seconds": seconds, "items": 0, "note": note}]
            nudges = await count_deliveries(db, "nudge")
            note = f"{result['items']} appointments -> {nudges} nudges"
            again = await timed(scheduler.replan_if_rules_changed)
            return [
                {"op": "plan nudges, all appointments", **result, "note": note},
                {
                    "op": "start-up: rules unchanged",
                    "seconds": again["seconds"],
                    "items": 0,
                    "note": f"replanned: {bool(again['items'])}",
                },
            ]
        if step == "tick":
            clock = FakeClock(await due_clock(db, DUE_IN_TICK))
            scheduler = build_scheduler(db, clock)
            start = time.perf_counter()
            report = await scheduler.tick()
            seconds = time.perf_counter() - start
            sent = report.statuses.get(DeliveryStatus.SENT, 0)
            return [
                {
                    "op": "tick: plan slice + claim + dispatch due",
                    "seconds": seconds,
                    "items": report.claimed,
                    "note": f"{sent} sent, planned {report.planned}, statuses "
                    f"{ {str(k): v for k, v in report.statuses.items()} }",
                },
            ]
        raise SystemExit(f"unknown step {step!r}")
    finally:
        await db.close()


# --- the naive baseline: one APScheduler job per reminder ---------------------------------


def day_of_reminders(patients: int, limit: int) -> list[datetime]:
    """Return the first `limit` tip instants of the benchmark's day, as the planner sees them."""
    rng = random.Random(6)
    zones = [ZoneInfo(rng.choice(ZONES)) for _ in range(patients)]
    times = local_times(rng)
    quiet, end = QuietHours(), START + timedelta(hours=24)
    found: list[datetime] = []
    for pid in range(patients):
        for _ in TipCategory:
            at = parse_hhmm(next(times))
            for due in occurrences(START, end, zones[pid], at, 0b1111111):
                found.append(quiet.next_allowed(due, zones[pid]))
                if len(found) == limit:
                    return found
    return found


async def _reminder_job(patient_id: int) -> None:
    """Stand in for sending one reminder (never runs: every date is in the future)."""


async def baseline(patients: int, jobs: int) -> list[Timed]:
    """Add one date-triggered AsyncIOScheduler job per reminder on a running loop."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    dues = day_of_reminders(patients, jobs)
    shift = datetime.now(UTC) + timedelta(days=1) - START  # keep every run date in the future
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start()
    start = time.perf_counter()
    added = 0
    marks: list[str] = []
    for added, due in enumerate(dues, 1):
        scheduler.add_job(
            _reminder_job, "date", run_date=due + shift, args=[added], id=f"r{added}"
        )
        if added % 5_000 == 0:
            marks.append(f"{added}: {time.perf_counter() - start:.2f}s")
        if time.perf_counter() - start > BASELINE_BUDGET_SECONDS:
            break
    add_seconds = time.perf_counter() - start
    # Each add_job queued a wake-up on the loop: time until the loop answers again.
    drain_start = time.perf_counter()
    await asyncio.sleep(0)
    await asyncio.sleep(0.001)
    drain_seconds = time.perf_counter() - drain_start
    scheduler.shutdown(wait=False)
    return [
        {
            "op": "APScheduler: add_job per reminder",
            "seconds": add_seconds,
            "items": added,
            "note": "cumulative " + ", ".join(marks),
        },
        {
            "op": "APScheduler: loop busy after adds",
            "seconds": drain_seconds,
            "items": added,
            "note": "queued wake-ups run before the loop answers",
        },
    ]


# --- orchestration ----------------------------------------------------------------------


def run_child(step: str, url: str, patients: int, database: str) -> list[Row]:
    """Run one step in a fresh interpreter; return its rows with that process's peak RSS."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", step]
    command += ["--url", url, "--patients", str(patients)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"step {step} on {database} failed ({done.returncode})")
    payload = json.loads(done.stdout.strip().splitlines()[-1])
    rss = float(payload["rss_mb"])
    rows = [
        Row(r["op"], database, r["seconds"], r["items"], rss, r.get("note", ""))
        for r in payload["results"]
    ]
    for row in rows:
        print(f"  {database:<10} {row.operation:<36} {row.seconds:8.2f}s {row.note}", flush=True)
    return rows


async def _create_pg_database() -> tuple[str, str]:
    name = f"clinicbot_bench_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    return url, name


async def _drop_pg_database(name: str) -> None:
    admin = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


STEPS = ("setup", "plan_day", "plan_nudges", "tick")


def run_database(database: str, patients: int) -> list[Row]:
    """Build a fresh database, run every step against it, and remove it."""
    rows: list[Row] = []
    if database == "sqlite":
        with tempfile.TemporaryDirectory(prefix="clinicbot-bench-") as directory:
            url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
            for step in STEPS:
                rows += run_child(step, url, patients, database)
        return rows
    url, name = asyncio.run(_create_pg_database())
    try:
        for step in STEPS:
            rows += run_child(step, url, patients, database)
    finally:
        asyncio.run(_drop_pg_database(name))
    return rows


def table(rows: list[Row]) -> str:
    """Render the rows as a Markdown table."""
    lines = [
        "| operation | database | seconds | items | items/s | peak RSS MB |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.operation} | {r.database} | {r.seconds:.2f} | {r.items:,} "
            f"| {r.rate:,.0f} | {r.rss_mb:.0f} |"
        )
    return "\n".join(lines)


def machine() -> str:
    """Describe the machine and interpreter."""
    return (
        f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
        f"Python {platform.python_version()}, {platform.system()} {platform.machine()}"
    )


DOCS = ROOT / "docs" / "PERFORMANCE.md"
DOCS_INTRO = """# Performance

Figures on this page come from the benchmarks in `bench/`, run on the 2-core shared development
machine while other work may be running on it. Absolute numbers move from run to run; read them
as ratios between rows of the same run (this design against the naive one, SQLite against
PostgreSQL), not as promises about production hardware.
"""


def write_docs(section: str) -> None:
    """Replace (or add) the "Scheduler scale" section of docs/PERFORMANCE.md."""
    current = DOCS.read_text(encoding="utf-8") if DOCS.exists() else DOCS_INTRO
    heading = "## Scheduler scale"
    before, found, after = current.partition(heading)
    rest = after.split("\n## ", 1)[1] if found and "\n## " in after else ""
    text = before.rstrip() + "\n\n" + section.rstrip() + "\n"
    if rest:
        text += "\n## " + rest
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(text, encoding="utf-8")


def main() -> None:
    """Parse arguments; run a worker step, or the whole benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if args.worker == "baseline":
            results = asyncio.run(baseline(args.patients, BASELINE_JOBS))
        else:
            results = asyncio.run(worker(args.worker, args.url, args.patients))
        print(json.dumps({"results": results, "rss_mb": peak_rss_mb()}))
        return
    command = "bench/scheduler_scale.py " + shlex.join(sys.argv[1:])
    print(f"machine: {machine()}")
    print(f"command: .venv/bin/python {command.strip()}")
    databases = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    rows: list[Row] = []
    for database in databases:
        rows += run_database(database, args.patients)
    rows += run_child("baseline", "", args.patients, "memory")
    print()
    print(table(rows))
    notes = "\n".join(f"- {r.operation} ({r.database}): {r.note}" for r in rows if r.note)
    write_docs(
        f"## Scheduler scale\n\nMachine: {machine()}. Command: `.venv/bin/python "
        f"{command.strip()}`.\n\n{table(rows)}\n\nNotes from the run:\n\n{notes}\n"
    )
    print(f"wrote {DOCS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
