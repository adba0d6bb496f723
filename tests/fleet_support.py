"""Several real `clinicbot run` processes on one PostgreSQL database, against the fake Bot API.

Used by tests/test_fleet.py and bench/fleet.py. The fake (bench/fake_botapi.py, its own
process) enforces the sender's limit and one message a second per chat with 429s, and logs
every accepted message with its arrival time, so the checks are made where Telegram would
make them.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from bot.db.models import Address, Broadcast, Consent, ConsentCategory, Delivery, Patient
from bot.db.session import Database
from scheduler.outbox import PlannedDelivery, insert_planned

__all__ = [
    "Fleet",
    "Provider",
    "TwilioProvider",
    "daytime_zone",
    "free_port",
    "seed_broadcast",
    "settled",
    "wait_settled",
]

ROOT = Path(__file__).resolve().parent.parent
CHAT_BASE = 700_000
PHONE_BASE = 15_032_000_000  # +1 503 200 0000: the patients' mobile numbers
SMS_NUMBER = "+15035550100"  # the clinic's Twilio number
TWILIO_ACCOUNT = "AC" + "0f" * 16


def free_port() -> int:
    """Return a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_port(port: int, process: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"process on port {port} did not start") from None
            time.sleep(0.1)  # waiting for a child process to listen


def daytime_zone(now: datetime | None = None) -> str:
    """Return a fixed-offset zone where it is early afternoon now (outside quiet hours)."""
    hour = (now or datetime.now(UTC)).hour
    offset = (hour - 13 + 12) % 24 - 12  # local = UTC - offset
    return "UTC" if offset == 0 else f"Etc/GMT{'+' if offset > 0 else '-'}{abs(offset)}"


class Provider:
    """The fake Bot API process: enforcing `rate` a second overall and 1 a second per chat."""

    module = "bench.fake_botapi"

    def __init__(self, rate: int, *, delay: float = 0.0) -> None:
        self.port = free_port()
        self.rate = rate
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module, "--port", str(self.port), *self.options(delay)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port, self.process)

    def options(self, delay: float) -> list[str]:
        """Return the fake's command-line options."""
        return ["--enforce", "--rate", str(self.rate), "--delay", str(delay)]

    def env(self) -> dict[str, str]:
        """Return the settings that point a `clinicbot run` at this fake, at its rate."""
        return {
            "TELEGRAM_BOT_TOKEN": "123456:fleet",
            "TELEGRAM_BASE_URL": f"http://127.0.0.1:{self.port}/bot",
            "TELEGRAM_WEBHOOK_SECRET": "fleet-secret",
            "TELEGRAM_MESSAGES_PER_SECOND": str(self.rate),
        }

    def get(self, path: str) -> Any:
        """GET /stats or /log from the fake."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=30) as reply:
            return json.loads(reply.read())

    def close(self) -> None:
        """Stop the fake."""
        self.process.terminate()
        self.process.wait(timeout=10)


class TwilioProvider(Provider):
    """The fake Twilio process: `rate` a second per number, each request checked by Prism."""

    module = "bench.fake_twilio"

    def __init__(self, rate: int, prism: str) -> None:
        self.prism = prism
        super().__init__(rate)

    def options(self, delay: float) -> list[str]:
        return ["--rate", str(self.rate), "--prism", self.prism]

    def env(self) -> dict[str, str]:
        return {
            "TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT,
            "TWILIO_AUTH_TOKEN": "fleet-token",
            "TWILIO_FROM_NUMBER": SMS_NUMBER,
            "TWILIO_API_BASE_URL": f"http://127.0.0.1:{self.port}",
            "SMS_MESSAGES_PER_SECOND": str(self.rate),
        }


@dataclass
class Fleet:
    """N `clinicbot run` processes sharing one database and one provider (bot or number)."""

    database_url: str
    provider: Provider
    processes: list[subprocess.Popen[bytes]]
    stale_seconds: float = 3.0
    ports: list[int] = field(default_factory=list)

    @classmethod
    def start(cls, database_url: str, provider: Provider, count: int, **extra: str) -> Fleet:
        """Start `count` processes and wait until each serves /healthz."""
        fleet = cls(database_url, provider, [])
        try:
            for _ in range(count):
                fleet.add(**extra)
        except BaseException:
            fleet.stop()  # the ones that did start
            raise
        return fleet

    def env(self, port: int, **extra: str) -> dict[str, str]:
        """Return the environment of a process serving on `port`."""
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "TELEGRAM_"))},
            "PYTHONPATH": str(ROOT),
            "PORT": str(port),
            "DATABASE_URL": self.database_url,
            **self.provider.env(),
            "PUBLIC_URL": "https://bot.clinic.example",
            "SCHEDULER_TICK_SECONDS": "2",
            "WORKER_HEARTBEAT_SECONDS": "0.5",
            "WORKER_STALE_SECONDS": str(self.stale_seconds),
            "LOG_LEVEL": "WARNING",
            **extra,
        }

    def add(self, **extra: str) -> subprocess.Popen[bytes]:
        """Start one more process."""
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=ROOT,
            env=self.env(port, **extra),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _wait_port(port, process)
        except RuntimeError as exc:
            process.kill()
            _, err = process.communicate()
            raise RuntimeError(f"{exc}: {err.decode(errors='replace')[-1500:]}") from None
        self.processes.append(process)
        self.ports.append(port)
        return process

    def kill(self, index: int) -> None:
        """SIGKILL one process, as a crash would."""
        process = self.processes[index]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    def stop(self) -> list[str]:
        """Stop every process still running (SIGTERM); return their stderr tails."""
        tails = []
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                _, err = process.communicate(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                _, err = process.communicate()
            tails.append((err or b"").decode(errors="replace")[-1500:])
        return tails


async def seed_broadcast(
    db: Database, recipients: int, *, extra: Sequence[int] = (), scheme: str = "telegram"
) -> None:
    """Create consenting patients on Telegram (or SMS: scheme "tel"), a broadcast to all of
    them due now, and a second broadcast to the patients in `extra` (so they get two)."""
    now = datetime.now(UTC)
    zone = daytime_zone(now)
    ids = range(1, recipients + 1)
    async with db.session() as session, session.begin():
        await session.execute(
            insert(Patient),
            [
                {"id": i, "language": "en", "timezone": zone, "created_at": now, "updated_at": now}
                for i in ids
            ],
        )
        await session.execute(
            insert(Address),
            [
                {
                    "patient_id": i,
                    "urn": f"telegram:{CHAT_BASE + i}"
                    if scheme == "telegram"
                    else f"tel:+{PHONE_BASE + i}",
                    "scheme": scheme,
                    "reachable": True,
                    "created_at": now,
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
                    "recorded_at": now,
                }
                for i in ids
                for c in ConsentCategory
            ],
        )
        for text, who in (("Closed on Friday.", list(ids)), ("Open on Saturday.", list(extra))):
            if not who:
                continue
            broadcast = Broadcast(
                created_by="cli",
                texts=json.dumps({"en": text}),
                audience="{}",
                send_at=now,
                created_at=now,
                updated_at=now,
            )
            session.add(broadcast)
            await session.flush()
            reference = f"broadcast:{broadcast.id}"
            planned = [
                PlannedDelivery(f"{reference}:{i}", i, "broadcast", reference, now, None)
                for i in who
            ]
            await insert_planned(session, planned, now)


async def settled(db: Database) -> dict[tuple[str, str | None], int]:
    """Return the count of deliveries by (status, reason)."""
    async with db.session() as session:
        rows = await session.execute(
            select(Delivery.status, Delivery.reason, func.count()).group_by(
                Delivery.status, Delivery.reason
            )
        )
        return {(status, reason): int(n) for status, reason, n in rows}


async def wait_settled(
    db: Database, total: int, seconds: float
) -> dict[tuple[str, str | None], int]:
    """Wait until no delivery is pending, claimed or sending; return the final counts."""
    deadline = time.monotonic() + seconds
    while True:
        counts = await settled(db)
        open_rows = sum(
            n for (s, _), n in counts.items() if s in ("pending", "claimed", "sending")
        )
        if not open_rows and sum(counts.values()) == total:
            return counts
        if time.monotonic() > deadline:
            raise AssertionError(f"not settled after {seconds}s: {counts}")
        await asyncio.sleep(0.25)  # polling other processes' progress
