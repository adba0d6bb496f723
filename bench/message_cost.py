"""Where one inbound message's CPU goes: the database work, the answer, the bare transaction.

Run: .venv/bin/python bench/message_cost.py [--messages 2000] [--no-write]

Single task, no concurrency, SQLite in a temporary folder set up by clinicbot's own engine (WAL,
BEGIN IMMEDIATE, one pooled connection). Each row runs --messages times and reports the CPU time
of this process per message (time.process_time, so the aiosqlite worker thread is included):

- the database work of an SMS question from a known patient, step by step, as
  `SmsInbound.handle` and `Conversation.respond` do it (delivery check, patient lookup, consent
  lookup, message and reply logged in one statement, commit);
- the least a durable bot pays: one transaction inserting one row, on the same async stack
  (SQLAlchemy's asyncio extension on aiosqlite) and on SQLAlchemy's synchronous pysqlite engine;
- deciding the reply (red-flag triage, small talk, FAQ search) for the pipeline bench's texts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, event, insert
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.ext.asyncio import AsyncSession

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.perf_doc import write_section  # noqa: E402
from bench.pipeline import text_for  # noqa: E402
from bot.app import load_answerer  # noqa: E402
from bot.clock import utc_now  # noqa: E402
from bot.db.dedupe import first_delivery  # noqa: E402
from bot.db.migrate import upgrade  # noqa: E402
from bot.db.patients import LogEntry, consents_of, find_or_create_patient, log_messages  # noqa: E402
from bot.db.session import Database  # noqa: E402
from bot.settings import load_settings  # noqa: E402

PATIENTS = 400
_table = Table(
    "seen", MetaData(), Column("id", Integer, primary_key=True), Column("key", String(64))
)

Step = Callable[[AsyncSession, int], Awaitable[None]]


def _cpu_per(n: int, started: float) -> float:
    return (time.process_time() - started) / n * 1000


async def _async_rows(folder: str, n: int) -> list[tuple[str, float]]:
    db = Database.open(f"sqlite:///{folder}/cost.db")
    await upgrade(db.engine)
    async with db.engine.begin() as connection:
        await connection.run_sync(_table.metadata.create_all)
    now = utc_now()
    async with db.session() as session, session.begin():
        for i in range(PATIENTS):  # known patients, as most messages come from
            await find_or_create_patient(session, f"tel:+1503555{i:04d}", now=now)

    async def one_insert(session: AsyncSession, i: int) -> None:
        await session.execute(insert(_table).values(key=f"k{i}"))

    async def check(session: AsyncSession, i: int) -> None:
        await first_delivery(session, "sms", f"SM{i}", now=now)

    async def lookup(session: AsyncSession, i: int) -> None:
        await check(session, i)
        await find_or_create_patient(session, f"tel:+1503555{i % PATIENTS:04d}", now=now)

    async def consents(session: AsyncSession, i: int) -> None:
        await lookup(session, i)
        await consents_of(session, 1 + i % PATIENTS)

    async def whole(session: AsyncSession, i: int) -> None:
        await consents(session, i)
        patient_id = 1 + i % PATIENTS
        entries = [
            LogEntry(patient_id, "in", "sms", "received", external_id=f"SM{i}"),
            LogEntry(patient_id, "out", "sms", "replied", kind="answer", topic="hours"),
        ]
        await log_messages(session, entries, now=now)

    rows: list[tuple[str, float]] = []
    steps: list[tuple[str, Step]] = [
        ("async: one transaction, one INSERT (the durable floor)", one_insert),
        ("SMS message: delivery check", check),
        ("SMS message: + patient lookup", lookup),
        ("SMS message: + consent lookup", consents),
        ("SMS message: + message and reply logged (all of it)", whole),
    ]
    for round_, (name, step) in enumerate(steps):
        started = time.process_time()
        for i in range(n):
            async with db.session() as session, session.begin():
                await step(session, round_ * n + i)
        rows.append((name, _cpu_per(n, started)))
    await db.close()
    return rows


def _sync_row(folder: str, n: int) -> tuple[str, float]:
    engine = create_sync_engine(f"sqlite:///{folder}/sync.db")

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
        dbapi_connection.execute("PRAGMA journal_mode=WAL")  # type: ignore[attr-defined]

    @event.listens_for(engine, "begin")
    def _begin(connection: object) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # type: ignore[attr-defined]

    _table.metadata.create_all(engine)
    started = time.process_time()
    for i in range(n):
        with engine.begin() as connection:
            connection.execute(insert(_table).values(key=f"k{i}"))
    cost = _cpu_per(n, started)
    engine.dispose()
    return ("sync pysqlite: one transaction, one INSERT", cost)


def _answer_row(n: int) -> tuple[str, float]:
    answerer = load_answerer(load_settings())
    texts = [text_for(i) for i in range(n)]
    started = time.process_time()
    for text in texts:
        answerer.answer(text, None)
    return ("deciding the reply (triage, small talk, FAQ search)", _cpu_per(n, started))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    n = args.messages
    with tempfile.TemporaryDirectory() as folder:
        rows = asyncio.run(_async_rows(folder, n))
        rows.append(_sync_row(folder, n))
    rows.append(_answer_row(n))
    flags = "" if n == 2000 else f" --messages {n}"
    lines = [
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs (nproc), Python "
        f"{platform.python_version()}. Command: `.venv/bin/python bench/message_cost.py{flags}`. "
        f"{n:,} messages per row, one at a time; CPU time of the process (the aiosqlite worker "
        "thread included) per message.",
        "",
        "| work | CPU ms per message |",
        "|---|---:|",
        *(f"| {name} | {cost:.2f} |" for name, cost in rows),
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("Where a message's time goes", text)


if __name__ == "__main__":
    main()
