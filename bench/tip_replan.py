"""What replanning one patient's tips costs, next to planning the whole window, in one run.

Run: .venv/bin/python bench/tip_replan.py [--patients 5000] [--changes 200]

Reference: `Scheduler.plan()` planning 26 h of tips for every patient (what a fresh start does).
Measured: a tick's replan of `--changes` patients who changed their tip time (markers written by
`handlers.patients.preferences.set_time`), and a tick's marker check when nobody changed anything.
Printed as ratios to the reference, so machines compare; SQLite in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from bot.db.migrate import upgrade  # noqa: E402
from bot.db.models import Consent, ConsentCategory, Patient, ReminderPreference  # noqa: E402
from bot.db.session import Database  # noqa: E402
from handlers.patients.preferences import set_time  # noqa: E402
from handlers.time.quiet_hours import QuietHours  # noqa: E402
from scheduler.dispatch import Dispatcher  # noqa: E402
from scheduler.service import Scheduler  # noqa: E402

ZONE = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 5, 1, 14, 0, tzinfo=UTC)  # 07:00 PDT


async def _seed(db: Database, patients: int) -> None:
    async with db.session() as session, session.begin():
        await session.execute(
            insert(Patient),
            [{"id": i, "created_at": NOW, "updated_at": NOW} for i in range(1, patients + 1)],
        )
        await session.execute(
            insert(Consent),
            [
                {"patient_id": i, "category": ConsentCategory.TIPS, "granted": True,
                 "source": "bench", "recorded_at": NOW}
                for i in range(1, patients + 1)
            ],
        )  # fmt: skip
        await session.execute(
            insert(ReminderPreference),
            [
                {"patient_id": i, "category": "exercise", "enabled": True, "weekdays": 127,
                 "local_time": f"{9 + i % 10:02d}:{i % 60:02d}", "updated_at": NOW}
                for i in range(1, patients + 1)
            ],
        )  # fmt: skip


async def main(patients: int, changes: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = Database.open(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}")
        await upgrade(db.engine)
        await _seed(db, patients)
        quiet = QuietHours()
        dispatcher = Dispatcher(
            db,
            None,
            {},
            (),
            {},
            clock=lambda: NOW,
            clinic_zone=ZONE,
            quiet=quiet,  # type: ignore[arg-type]
        )
        scheduler = Scheduler(db, dispatcher, (), clock=lambda: NOW, clinic_zone=ZONE, quiet=quiet)
        started = time.perf_counter()
        planned = await scheduler.plan()
        reference = time.perf_counter() - started
        started = time.perf_counter()
        await scheduler.replan_changed_tips()
        idle = time.perf_counter() - started
        async with db.session() as session, session.begin():
            for patient_id in range(1, changes + 1):
                await set_time(session, patient_id, "18:30", NOW)
        started = time.perf_counter()
        replanned = await scheduler.replan_changed_tips()
        busy = time.perf_counter() - started
        await db.close()
    print(f"reference: plan 26 h for {patients} patients ({planned} rows) = 1.00")
    print(f"tick marker check, nobody changed:          {idle / reference:.4f}")
    print(f"replan {replanned} changed patients:             {busy / reference:.4f}")
    print(f"per changed patient:                        {busy / reference / replanned:.5f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--changes", type=int, default=200)
    options = parser.parse_args()
    asyncio.run(main(options.patients, options.changes))
