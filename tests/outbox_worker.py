"""A child process for the crash tests: seed an outbox, then tick until it is drained.

Run: python tests/outbox_worker.py DB SENT_FILE broadcast|tip N

The channel is a fake that appends each recipient's URN to SENT_FILE and flushes it before
answering, so a SIGKILL at any instant leaves a record (the kernel has it) of what "went out".
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select

from bot.channels.base import SendOutcome, SendStatus
from bot.db.migrate import upgrade
from bot.db.models import (
    Address,
    Broadcast,
    Consent,
    ConsentCategory,
    Patient,
    ReminderPreference,
)
from bot.db.session import Database
from bot.settings import DEFAULT_CONTENT_DIR
from content.check import load_content
from content.tips import load_tips
from handlers.messages import OutboundMessage
from handlers.time.quiet_hours import QuietHours
from scheduler.dispatch import Dispatcher
from scheduler.outbox import PlannedDelivery, insert_planned
from scheduler.rules import load_nudge_rules
from scheduler.service import Scheduler

LA = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 5, 1, 16, 0, tzinfo=UTC)  # 09:00 in Los Angeles


class FileSender:
    """Append the URN to a file and flush it: a message that went out, on record."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("a", encoding="utf-8")

    async def send(self, urn: str, message: OutboundMessage) -> SendOutcome:
        await asyncio.sleep(0.002)  # the network round trip
        self._file.write(urn + "\n")
        self._file.flush()
        return SendOutcome(SendStatus.SENT, external_id="x")


async def seed(db: Database, mode: str, count: int) -> None:
    """Create `count` consenting Telegram patients and, for a broadcast, its deliveries."""
    async with db.session() as session, session.begin():
        if await session.scalar(select(func.count()).select_from(Patient)):
            return  # a restart: the outbox is already there
        ids = range(1, count + 1)
        zone = "America/Los_Angeles"
        await session.execute(
            insert(Patient),
            [
                {"id": i, "language": "en", "timezone": zone, "created_at": NOW, "updated_at": NOW}
                for i in ids
            ],
        )
        await session.execute(
            insert(Address),
            [
                {
                    "patient_id": i,
                    "urn": f"telegram:{10_000 + i}",
                    "scheme": "telegram",
                    "reachable": True,
                    "created_at": NOW,
                }
                for i in ids
            ],
        )
        await session.execute(
            insert(Consent),
            [
                {
                    "patient_id": i,
                    "category": c,
                    "granted": True,
                    "source": "test",
                    "recorded_at": NOW,
                }
                for i in ids
                for c in ConsentCategory
            ],
        )
        if mode == "tip":
            await session.execute(
                insert(ReminderPreference),
                [
                    {
                        "patient_id": i,
                        "category": "exercise",
                        "local_time": "09:00",
                        "updated_at": NOW,
                    }
                    for i in ids
                ],
            )
            return
        broadcast = Broadcast(
            created_by="cli",
            texts=json.dumps({"en": "Closed on Friday."}),
            audience="{}",
            send_at=NOW,
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(broadcast)
        await session.flush()
        reference = f"broadcast:{broadcast.id}"
        planned = [
            PlannedDelivery(f"{reference}:{i}", i, "broadcast", reference, NOW, None) for i in ids
        ]
        await insert_planned(session, planned, NOW)


async def main(db_path: str, sent_file: str, mode: str, count: int) -> None:
    db = Database.open(f"sqlite+aiosqlite:///{db_path}")
    await upgrade(db.engine)
    await seed(db, mode, count)
    content = load_content(DEFAULT_CONTENT_DIR)
    rules = load_nudge_rules(DEFAULT_CONTENT_DIR / "nudges.yaml")
    tips = load_tips(DEFAULT_CONTENT_DIR)
    quiet = QuietHours()
    dispatcher = Dispatcher(
        db,
        content,
        tips,
        rules,
        {"telegram": FileSender(Path(sent_file))},
        clock=lambda: NOW,
        clinic_zone=LA,
        quiet=quiet,
    )
    scheduler = Scheduler(db, dispatcher, rules, clock=lambda: NOW, clinic_zone=LA, quiet=quiet)
    await scheduler.recover()
    print("sending", flush=True)
    started = time.monotonic()
    while (await scheduler.tick()).claimed:
        pass
    await db.close()
    print(f"done in {time.monotonic() - started:.1f}s", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
