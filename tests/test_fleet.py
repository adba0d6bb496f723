"""Several `clinicbot run` processes on one PostgreSQL database share the outbox and its limits.

Real processes, the fake Bot API on loopback enforcing the sender's limit and one message a
second per chat (bench/fake_botapi.py), or the fake Twilio enforcing the number's rate and
checking each request against Twilio's OpenAPI description with Prism (bench/fake_twilio.py);
the checks are made on what the fake accepted. The bot's limit is 50 a second here so a
1,100-message broadcast takes about 25 s (bench/fleet.py runs Telegram's real 30 a second at
10,000 recipients); the number's is 10 a second (a toll-free or short code; a long code's is 1).
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db.migrate import upgrade
from bot.db.models import Delivery
from bot.db.session import Database
from handlers.staff.broadcasts import delivery_report
from scheduler.workers import SqliteSchedulerLock
from tests.conftest import PG_URL, _drop_postgres_database, _postgres_database
from tests.fleet_support import (
    ROOT,
    Fleet,
    Provider,
    TwilioProvider,
    free_port,
    seed_broadcast,
    wait_settled,
)

RATE = 50
RECIPIENTS = 1000
SMS_RATE = 10
SMS_RECIPIENTS = 200
TWICE = range(1, 101)  # these chats get a second broadcast: two messages, a second apart
needs_postgres = pytest.mark.skipif(PG_URL is None, reason="TEST_DATABASE_URL is not set")


@pytest.fixture
async def pg() -> AsyncIterator[tuple[str, Database]]:
    url, name = await _postgres_database()
    db = Database.open(url)
    await upgrade(db.engine)
    try:
        yield url, db
    finally:
        await db.close()
        await _drop_postgres_database(name)


def most_in_one_second(times: list[float]) -> int:
    """Return the most arrivals in any one-second window [t, t + 1)."""
    times, most, first = sorted(times), 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def check_log(log: list[list[object]], rate: int = RATE) -> Counter[str]:
    """Assert the fake's log keeps the limits; return messages per chat."""
    by_chat: dict[str, list[float]] = defaultdict(list)
    seen: Counter[tuple[str, str]] = Counter()
    for chat, at, text in log:
        by_chat[str(chat)].append(float(str(at)))
        seen[(str(chat), str(text))] += 1
    assert [key for key, n in seen.items() if n > 1] == []  # no recipient got one twice
    assert most_in_one_second([float(str(at)) for _, at, _ in log]) <= rate
    gaps = [b - a for times in by_chat.values() for a, b in itertools.pairwise(sorted(times))]
    assert all(gap >= 1.0 for gap in gaps), min(gaps)
    return Counter({chat: len(times) for chat, times in by_chat.items()})


@needs_postgres
@pytest.mark.parametrize("processes", [2, 4])
async def test_processes_share_a_broadcast_within_the_limits(
    pg: tuple[str, Database], processes: int
) -> None:
    url, db = pg
    await seed_broadcast(db, RECIPIENTS, extra=TWICE)
    provider = Provider(RATE)
    fleet = Fleet.start(url, provider, processes)
    try:
        counts = await wait_settled(db, RECIPIENTS + len(TWICE), 240)
        stats, log = provider.get("/stats"), provider.get("/log")
    finally:
        fleet.stop()
        provider.close()
    print(f"\n{processes} processes: {stats['sent']} sent in {stats['span']:.1f}s")  # pytest -s
    assert counts == {("sent", None): RECIPIENTS + len(TWICE)}
    assert stats["refused"] == 0  # never a 429: the limits held at the provider
    per_chat = check_log(log)
    assert sum(per_chat.values()) == RECIPIENTS + len(TWICE)
    assert sorted(set(per_chat.values())) == [1, 2]
    async with db.session() as session:
        workers = set((await session.scalars(select(Delivery.claimed_by))).all())
    assert len(workers) >= 2  # the work was shared


@needs_postgres
async def test_two_processes_share_an_sms_broadcast_within_the_numbers_rate(
    pg: tuple[str, Database], prism: str
) -> None:
    url, db = pg
    provider = TwilioProvider(SMS_RATE, prism)
    fleet = Fleet.start(url, provider, 2)
    try:
        await seed_broadcast(db, SMS_RECIPIENTS, scheme="tel")  # both are up: both share it
        counts = await wait_settled(db, SMS_RECIPIENTS, 240)
        stats, log = provider.get("/stats"), provider.get("/log")
    finally:
        fleet.stop()
        provider.close()
    print(f"\nSMS, 2 processes: {stats['sent']} sent in {stats['span']:.1f}s")  # pytest -s
    assert counts == {("sent", None): SMS_RECIPIENTS}
    assert stats["invalid"] == 0  # every request as Twilio's description and we require
    assert stats["refused"] == 0  # never a 429: the number's rate held at Twilio
    per_number = check_log(log, SMS_RATE)
    assert len(per_number) == SMS_RECIPIENTS and max(per_number.values()) == 1
    async with db.session() as session:
        workers = set((await session.scalars(select(Delivery.claimed_by))).all())
    assert len(workers) == 2  # the work was shared


@needs_postgres
async def test_a_killed_process_is_finished_by_the_others_without_a_restart(
    pg: tuple[str, Database],
) -> None:
    url, db = pg
    await seed_broadcast(db, RECIPIENTS)
    provider = Provider(RATE)
    fleet = Fleet.start(url, provider, 2)
    try:
        while provider.get("/stats")["sent"] < RECIPIENTS // 3:
            await _pause()
        fleet.kill(0)  # SIGKILL, mid-broadcast
        counts = await wait_settled(db, RECIPIENTS, 240)
        stats, log = provider.get("/stats"), provider.get("/log")
        assert fleet.processes[1].poll() is None  # the survivor was never restarted
    finally:
        fleet.stop()
        provider.close()
    interrupted = counts.get(("failed", "interrupted"), 0)
    assert counts.get(("sent", None), 0) + interrupted == RECIPIENTS
    assert stats["refused"] == 0
    per_chat = check_log(log)
    assert max(per_chat.values()) == 1  # 0 duplicates
    # At most the killed process's in-flight wave is uncertain: one message per lane.
    assert interrupted <= RATE
    async with db.session() as session:
        owners = set(
            (
                await session.scalars(
                    select(Delivery.claimed_by).where(Delivery.reason == "interrupted")
                )
            ).all()
        )
        report = await delivery_report(session, 1)
    assert len(owners) <= 1  # all of them the killed process's
    assert report.total("interrupted") == interrupted  # staff see them in the report


async def _pause() -> None:
    import asyncio

    await asyncio.sleep(0.1)  # polling the fake's progress


def test_a_second_scheduler_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    database = tmp_path / "clinic.db"
    first = SqliteSchedulerLock(f"sqlite+aiosqlite:///{database}")
    first.acquire()
    try:
        code = (
            "import sys\n"
            "from bot.errors import ConfigError\n"
            "from scheduler.workers import SqliteSchedulerLock\n"
            "try:\n"
            f"    SqliteSchedulerLock('sqlite:///{database}').acquire()\n"
            "except ConfigError as exc:\n"
            "    print(exc); sys.exit(2)\n"
        )
        refused = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
    finally:
        first.release()
    assert refused.returncode == 2
    [line] = refused.stdout.splitlines()
    assert "already runs on this SQLite file" in line and "PostgreSQL" in line
    again = SqliteSchedulerLock(f"sqlite:///{database}")
    again.acquire()  # released: the next one may start
    again.release()


def test_clinicbot_run_refuses_a_second_scheduler_on_sqlite(tmp_path: Path) -> None:
    provider = Provider(30)
    url = f"sqlite+aiosqlite:///{tmp_path / 'clinic.db'}"
    fleet = Fleet(url, provider, [])
    try:
        fleet.add()
        second = subprocess.run(
            [sys.executable, "-m", "bot", "run"],
            cwd=ROOT,
            env=fleet.env(free_port()),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        fleet.stop()
        provider.close()
    assert second.returncode != 0
    assert "Traceback" not in second.stderr
    assert "use PostgreSQL" in second.stderr
