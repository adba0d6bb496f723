"""Several `clinicbot run` processes on one PostgreSQL: webhook throughput and a shared broadcast.

Run: TEST_DATABASE_URL=postgresql+asyncpg://... .venv/bin/python bench/fleet.py
     [--updates 3000] [--recipients 10000] [--rate 30] [--skip-webhooks] [--skip-broadcast]

1. Webhooks: 1, 2 and 4 processes (webhook mode, the fake Bot API answering at once), the
   client spreading N Telegram text updates over them round-robin as a reverse proxy would;
   throughput of each, printed as a ratio to one process in the same run.
2. Broadcast: N recipients across 4 processes, the fake enforcing the bot's limit (`--rate`,
   Telegram's 30 a second) and one message a second per chat with 429s: the rate achieved as
   a ratio of the limit, and the 429s (target: >= 0.95 and 0).

Each case gets a fresh database on the server in TEST_DATABASE_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pipeline import SECRET, telegram_update  # noqa: E402
from bot.db.migrate import upgrade  # noqa: E402
from bot.db.session import Database  # noqa: E402
from tests.conftest import _drop_postgres_database, _postgres_database  # noqa: E402
from tests.fleet_support import Fleet, Provider, seed_broadcast, wait_settled  # noqa: E402

CONCURRENCY = 32


async def _fresh() -> tuple[str, str, Database]:
    url, name = await _postgres_database()
    db = Database.open(url)
    await upgrade(db.engine)
    return url, name, db


async def webhooks(processes: int, updates: int) -> float:
    """Return updates a second that `processes` processes answered."""
    url, name, db = await _fresh()
    provider = Provider(1_000_000)  # answers every call: this measures our side only
    fleet = Fleet.start(
        url,
        provider,
        processes,
        SCHEDULER_ENABLED="false",
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        TELEGRAM_MESSAGES_PER_SECOND="30",
    )
    urls = [f"http://127.0.0.1:{port}/telegram" for port in fleet.ports]
    chats = max(updates // 3, 1)
    requests = [telegram_update(i, chats=chats, base_chat=9_000_000) for i in range(updates)]
    ok = 0
    try:
        async with httpx.AsyncClient(
            timeout=60, limits=httpx.Limits(max_connections=CONCURRENCY * 2)
        ) as client:
            # Warm each process (imports, first connections) before timing.
            for target in urls:
                for i in range(20):
                    warm = telegram_update(10_000_000 + i, chats=20, base_chat=8_000_000)
                    await client.post(target, content=warm.content, headers=warm.headers)
            queue: asyncio.Queue[int] = asyncio.Queue()
            for i in range(updates):
                queue.put_nowait(i)

            async def worker(slot: int) -> None:
                nonlocal ok
                while not queue.empty():
                    i = queue.get_nowait()
                    request = requests[i]
                    response = await client.post(
                        urls[i % len(urls)], content=request.content, headers=request.headers
                    )
                    ok += response.status_code == 200

            started = time.perf_counter()
            await asyncio.gather(*(worker(slot) for slot in range(CONCURRENCY)))
            wall = time.perf_counter() - started
    finally:
        fleet.stop()
        provider.close()
        await db.close()
        await _drop_postgres_database(name)
    if ok != updates:
        print(f"  warning: {updates - ok} webhooks failed with {processes} processes")
    return ok / wall


async def broadcast(recipients: int, rate: int, processes: int) -> tuple[float, int, int]:
    """Return (messages a second, 429s, sent) for a broadcast across `processes`."""
    url, name, db = await _fresh()
    await seed_broadcast(db, recipients)
    provider = Provider(rate)
    # Production's heartbeat (the tests beat every 0.5 s, to notice a kill quickly).
    fleet = Fleet.start(
        url, provider, processes, WORKER_HEARTBEAT_SECONDS="10", WORKER_STALE_SECONDS="30"
    )
    try:
        await wait_settled(db, recipients, recipients / rate * 3 + 120)
        stats = provider.get("/stats")
    finally:
        fleet.stop()
        provider.close()
        await db.close()
        await _drop_postgres_database(name)
    span = float(stats["span"]) or 1.0
    return (int(stats["sent"]) - 1) / span, int(stats["refused"]), int(stats["sent"])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=30)
    parser.add_argument("--skip-webhooks", action="store_true")
    parser.add_argument("--skip-broadcast", action="store_true")
    args = parser.parse_args()
    if not os.environ.get("TEST_DATABASE_URL"):
        raise SystemExit("set TEST_DATABASE_URL to a PostgreSQL server (a database per case)")
    print(
        f"bench/fleet.py — {platform.platform()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    if not args.skip_webhooks:
        rates = {n: await webhooks(n, args.updates) for n in (1, 2, 4)}
        if not rates[1]:
            raise SystemExit("every webhook failed with one process")
        for n, rate in rates.items():
            print(
                f"webhooks, {n} process(es): {rate:7.1f} updates/s = {rate / rates[1]:.2f}x of one"
            )
    if not args.skip_broadcast:
        per_second, refused, sent = await broadcast(args.recipients, args.rate, 4)
        print(
            f"broadcast, {args.recipients} recipients, 4 processes: {per_second:.2f} msg/s = "
            f"{per_second / args.rate:.3f} of the {args.rate}/s limit; {refused} 429s; "
            f"{sent} accepted"
        )


if __name__ == "__main__":
    asyncio.run(main())
