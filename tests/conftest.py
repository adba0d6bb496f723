"""Shared fixtures: databases on SQLite and (when configured) PostgreSQL, content, a clock."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from alembic import command
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.db.migrate import alembic_config, upgrade
from bot.db.session import Database
from bot.settings import DEFAULT_CONTENT_DIR

if TYPE_CHECKING:
    from handlers.conversation.answer import Answerer

PG_URL = os.environ.get("TEST_DATABASE_URL")
SPECS = Path(__file__).resolve().parent / "specs"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 15, 0, tzinfo=UTC))


@pytest.fixture(scope="session")
def answerer() -> Answerer:
    from handlers.conversation.answer import Answerer

    return Answerer.from_directory(DEFAULT_CONTENT_DIR)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the developer's .env and environment out of the tests."""
    for name in list(os.environ):
        if name.startswith(("TELEGRAM_", "TWILIO_")) or name in {
            "DATABASE_URL",
            "CONTENT_DIR",
            "PUBLIC_URL",
            "STORE_MESSAGE_BODIES",
            "AUTO_MIGRATE",
            "CLINIC_TIMEZONE",
        }:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def prism() -> Iterator[str]:
    """Serve Twilio's OpenAPI description with Prism on loopback for the whole session."""
    binary = os.environ.get("PRISM_BIN")
    if not binary:
        pytest.skip("PRISM_BIN is not set: install Prism as .ci/run does to run this test")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "mock", "-h", "127.0.0.1", "-p", str(port), str(SPECS / "twilio_api_v2010.json")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("Prism did not start within 60 s")
                time.sleep(0.2)  # waiting for a child process, not for test time
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait()


async def _postgres_database() -> tuple[str, str]:
    assert PG_URL is not None
    name = f"clinicbot_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    url = make_url(PG_URL).set(database=name)
    return url.render_as_string(hide_password=False), name


async def _drop_postgres_database(name: str) -> None:
    assert PG_URL is not None
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'data' / 'test.db'}"
        return
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set: PostgreSQL tests need a server (CI sets it)")
    url, name = await _postgres_database()
    try:
        yield url
    finally:
        await _drop_postgres_database(name)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A migrated database on each backend."""
    database = Database.open(database_url)
    await upgrade(database.engine)
    try:
        yield database
    finally:
        await database.close()


def migrate_to(connection: Connection, revision: str, *, down: bool = False) -> None:
    """Run the migrations up (or down) to `revision` on an open connection."""
    config = alembic_config()
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)
