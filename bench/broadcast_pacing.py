"""Broadcast pacing: the outbox and the real Telegram sender against a rate-enforcing fake.

Run: .venv/bin/python bench/broadcast_pacing.py [--recipients 10000] [--no-write]

A fake Bot API (bench/fake_botapi.py, its own process on loopback) enforces 30 sendMessage a
second overall and one a second per chat, answering 429 with retry_after. This process seeds
the recipients, then runs Scheduler ticks (the production Dispatcher, TelegramSender and
ClinicRateLimiter) until every delivery is settled, and reports the rate the fake accepted as a
fraction of 30/s, the 429s it sent, and this process's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import open_services  # noqa: E402
from bot.channels.telegram.app import build_application  # noqa: E402
from bot.channels.telegram.deps import Deps  # noqa: E402
from bot.channels.telegram.ratelimit import ClinicRateLimiter  # noqa: E402
from bot.channels.telegram.sender import TelegramSender  # noqa: E402
from bot.clock import utc_now  # noqa: E402
from bot.db.models import Delivery  # noqa: E402
from bot.settings import DEFAULT_CONTENT_DIR, load_settings  # noqa: E402
from content.tips import load_tips  # noqa: E402
from handlers.conversation.onboarding import Onboarding  # noqa: E402
from handlers.time.quiet_hours import QuietHours  # noqa: E402
from scheduler.dispatch import Dispatcher  # noqa: E402
from scheduler.rules import load_nudge_rules  # noqa: E402
from scheduler.service import Scheduler  # noqa: E402
from tests.outbox_worker import seed  # noqa: E402

LIMIT = 30.0
TOKEN = "123456:BENCH"
SECTION = "## Broadcast pacing"
NOTE = (
    "PTB's own AIORateLimiter (aiolimiter's leaky bucket) admits a burst of 30 at once and then "
    "30/s, so a strict one-second window sees up to ~60 and answers 429: with it, 10,000 "
    "recipients reached 0.745 of the limit with 2,629 429s. ClinicRateLimiter now spaces sends "
    "evenly, measured between actual sends (bot/channels/telegram/ratelimit.py EvenPacer), which "
    "gives the figures above."
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def run(recipients: int, port: int, directory: Path) -> dict[str, Any]:
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{directory / 'pacing.db'}")
    services = await open_services(settings)
    await seed(services.db, "broadcast", recipients)
    zone = ZoneInfo("America/Los_Angeles")
    answerer = services.conversation.answerer
    deps = Deps(
        db=services.db,
        conversation=services.conversation,
        answerer=answerer,
        onboarding=Onboarding(answerer.content, str(zone)),
        clock=utc_now,
        clinic_zone=str(zone),
    )
    application = build_application(
        TOKEN,
        deps,
        base_url=f"http://127.0.0.1:{port}/bot",
        webhook=True,
        rate_limiter=ClinicRateLimiter(),  # the production limiter: 30/s overall, 1/s per chat
    )
    await application.initialize()
    quiet = QuietHours(clock_time(0), clock_time(0))  # off: the bench may run at night
    rules = load_nudge_rules(DEFAULT_CONTENT_DIR / "nudges.yaml")
    dispatcher = Dispatcher(
        services.db,
        answerer.content,
        load_tips(DEFAULT_CONTENT_DIR),
        rules,
        {"telegram": TelegramSender(application.bot)},
        clock=utc_now,
        clinic_zone=zone,
        quiet=quiet,
    )
    scheduler = Scheduler(
        services.db, dispatcher, rules, clock=utc_now, clinic_zone=zone, quiet=quiet
    )
    started = time.monotonic()
    try:
        while True:
            await scheduler.tick()
            async with services.db.session() as session:
                statuses = Counter(await session.scalars(select(Delivery.status)))
            if not statuses["pending"] and not statuses["claimed"]:
                break
            await asyncio.sleep(0.5)  # retries wait for their due time
    finally:
        await application.shutdown()
        await services.close()
    return {"statuses": dict(statuses), "wall": time.monotonic() - started}


def write_section(text: str) -> None:
    path = ROOT / "docs" / "PERFORMANCE.md"
    current = path.read_text() if path.exists() else "# Performance\n"
    if SECTION in current:
        start = current.index(SECTION)
        following = current.find("\n## ", start + len(SECTION))
        current = current[:start] + text + (current[following + 1 :] if following != -1 else "")
    else:
        current = current.rstrip("\n") + "\n\n" + text
    path.write_text(current.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    port = free_port()
    fake = subprocess.Popen(
        [sys.executable, "-m", "bench.fake_botapi", "--port", str(port), "--enforce"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/stats", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        with tempfile.TemporaryDirectory() as directory:
            result = asyncio.run(run(args.recipients, port, Path(directory)))
        stats = httpx.get(f"http://127.0.0.1:{port}/stats", timeout=5).json()
    finally:
        fake.terminate()
        fake.wait(timeout=10)
    rate = (stats["sent"] - 1) / stats["span"] if stats["span"] else 0.0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    command = "python bench/broadcast_pacing.py" + (
        f" --recipients {args.recipients}" if args.recipients != 10_000 else ""
    )
    rows = [
        ("recipients", f"{args.recipients:,}"),
        ("accepted by the fake", f"{stats['sent']:,}"),
        ("achieved rate", f"{rate:.2f} msg/s"),
        ("fraction of 30 msg/s (goal >= 0.95)", f"{rate / LIMIT:.3f}"),
        ("429s received (goal 0)", f"{stats['refused']:,}"),
        ("wall time", f"{result['wall']:.0f} s"),
        ("peak RSS (bench process)", f"{peak_mb:.0f} MB"),
        ("final statuses", ", ".join(f"{k} {v}" for k, v in sorted(result["statuses"].items()))),
    ]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    text = (
        f"{SECTION}\n\n"
        f"`{command}` — {platform.platform()}, {os.cpu_count()} CPUs (nproc), "
        f"Python {platform.python_version()}, SQLite.\n\n"
        "The outbox, Dispatcher, TelegramSender and ClinicRateLimiter, unchanged, against "
        "`bench/fake_botapi.py --enforce` (30 sendMessage/s overall in any one-second window, "
        "1/s per chat, else 429 with retry_after) on loopback.\n\n"
        f"| figure | value |\n|---|---|\n{table}\n\n{NOTE}\n"
    )
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
