"""`clinicbot appointments import` of a large CSV while SMS webhooks keep arriving (SQLite).

The import runs as the real command in a child process, as a clinic runs it beside
`clinicbot run`; the SMS webhook app runs in this process on the same SQLite file and is sent
signed inbound messages one after another for as long as the import runs. Prints the import's
rows/s and the webhooks' answers and waits (median, p99, worst).

    .venv/bin/python bench/import_load.py [--rows 20000]

`tests/test_import_load.py` runs the same with fewer rows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select
from starlette.applications import Starlette

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.perf_doc import write_section  # noqa: E402
from bot.app import open_services  # noqa: E402
from bot.channels.sms.channel import SmsChannel  # noqa: E402
from bot.db.migrate import upgrade  # noqa: E402
from bot.db.models import Appointment, MessageLog  # noqa: E402
from bot.db.session import Database  # noqa: E402
from tests.sms_support import payload, post_signed, sms_settings  # noqa: E402

__all__ = ["LoadFigures", "import_under_webhooks", "write_schedule"]

MAX_WEBHOOKS = 20_000  # the request loop is bounded in count as well as by the import's end
MAX_SECONDS = 600.0
BEFORE = (
    "Before batching (one transaction for the whole file, queries per row), on the same "
    "machine: 1,500 rows took 23.1 s (65 rows/s, `time clinicbot appointments import`), and a "
    "webhook arriving during the import waited out SQLite's busy_timeout (5 s) and failed "
    "with a 500 `database is locked` (`tests/test_import_load.py` at 1,500 rows)."
)


@dataclass
class LoadFigures:
    """What one run measured."""

    rows: int
    import_seconds: float
    returncode: int
    stdout: str
    stderr: str
    statuses: list[int]
    waits: list[float]
    logged_inbound: int
    appointments: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.import_seconds

    def hold_line(self) -> str:
        """The import's own log line about its batches (the longest write lock it held)."""
        found = [
            line for line in self.stderr.splitlines() if " batches, holding the database " in line
        ]
        return found[-1].split(": ", 1)[-1] if found else "(no batch figures logged)"

    def summary(self) -> str:
        waits = sorted(self.waits) or [0.0]
        p99 = waits[min(len(waits) - 1, int(len(waits) * 0.99))]
        errors = sum(1 for status in self.statuses if status != 200)
        return (
            f"{self.rows} rows in {self.import_seconds:.1f} s ({self.rows_per_second:.0f} rows/s, "
            f"exit {self.returncode}); {len(self.statuses)} webhooks, {errors} errors, "
            f"wait median {statistics.median(waits) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
            f"worst {waits[-1] * 1000:.0f} ms"
        )


def write_schedule(path: Path, rows: int, *, today: datetime) -> None:
    """Write a CSV export of `rows` appointments for as many patients, over the next year."""
    first = today.astimezone(UTC).replace(hour=17, minute=0, second=0, microsecond=0)
    lines = ["id,phone,name,start,duration_minutes,practitioner"]
    for number in range(rows):
        start = first + timedelta(days=1 + number % 360, hours=number % 7)
        phone = f"+1503{2000000 + number:07d}"
        lines.append(
            f"LOAD-{number},{phone},Patient {number},{start:%Y-%m-%dT%H:%M:%SZ},30,Dr. Lee"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def _count(database: Database, column: object, *where: object) -> int:
    async with database.session() as session:
        query = select(func.count(column))  # type: ignore[call-overload]
        return int((await session.execute(query.where(*where))).scalar_one())


async def import_under_webhooks(folder: Path, rows: int) -> LoadFigures:
    """Import `rows` rows with the CLI while this process answers SMS webhooks."""
    url = f"sqlite+aiosqlite:///{folder / 'load.db'}"
    database = Database.open(url)
    await upgrade(database.engine)
    schedule = folder / "schedule.csv"
    write_schedule(schedule, rows, today=datetime.now(UTC))
    settings = sms_settings(url, scheduler_enabled=False)
    services = await open_services(settings)
    channel = SmsChannel(settings)
    await channel.start(services)
    statuses: list[int] = []
    waits: list[float] = []
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT)}
    env["DATABASE_URL"] = url
    try:
        app = Starlette(routes=channel.routes())
        # A failed webhook is counted (Twilio would see a 500), not raised into this loop.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            began = time.perf_counter()
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                *("-m", "bot", "appointments", "import", str(schedule)),
                cwd=folder,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            finished = asyncio.ensure_future(process.communicate())
            while not finished.done() and len(statuses) < MAX_WEBHOOKS:
                if time.perf_counter() - began > MAX_SECONDS:
                    process.kill()
                    break
                number = len(statuses)
                sid = f"SM{number:032x}"
                params = payload(
                    "inbound",
                    Body="What are your opening hours?",
                    From=f"+1503555{number % 10000:04d}",
                    MessageSid=sid,
                    SmsMessageSid=sid,
                    SmsSid=sid,
                )
                sent = time.perf_counter()
                response = await post_signed(client, "/sms/inbound", params)
                waits.append(time.perf_counter() - sent)
                statuses.append(response.status_code)
                await asyncio.sleep(0.02)
            stdout, stderr = await finished
            seconds = time.perf_counter() - began
    finally:
        await channel.stop()
        await services.close()
    try:
        inbound = await _count(database, MessageLog.id, MessageLog.direction == "in")
        appointments = await _count(database, Appointment.id)
    finally:
        await database.close()
    return LoadFigures(
        rows=rows,
        import_seconds=seconds,
        returncode=process.returncode if process.returncode is not None else -1,
        stdout=stdout.decode(),
        stderr=stderr.decode(),
        statuses=statuses,
        waits=waits,
        logged_inbound=inbound,
        appointments=appointments,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    rows = parser.parse_args().rows
    with tempfile.TemporaryDirectory() as folder:
        figures = asyncio.run(import_under_webhooks(Path(folder), rows))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(figures.stdout.strip())
    print(figures.summary())
    print(f"machine: {machine}")
    write_section(
        "Appointment import beside webhooks",
        f"`.venv/bin/python bench/import_load.py --rows {rows}` ({machine}): "
        "`clinicbot appointments import` of a CSV in a child process while the SMS webhook "
        "app in the bench process answers signed inbound messages, one after another, on the "
        f"same SQLite file.\n\n{figures.summary()}\n\n{figures.hold_line()}\n\n{BEFORE}\n",
    )


if __name__ == "__main__":
    main()
