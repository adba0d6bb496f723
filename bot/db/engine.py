"""Open the database: URL checks, the data directory, SQLite pragmas and transactional DDL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.db.sqlite_driver import one_trip_dbapi
from bot.errors import ConfigError, StorageError

__all__ = ["create_engine", "describe_url", "parse_database_url"]

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def parse_database_url(raw: str) -> URL:
    """Parse DATABASE_URL, choosing the async driver for plain `sqlite:` or `postgresql:` URLs."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError("DATABASE_URL is not a database URL (e.g. sqlite:///x.db)") from None
    if url.drivername in _ASYNC_DRIVERS:
        url = url.set(drivername=_ASYNC_DRIVERS[url.drivername])
    if url.drivername not in _ASYNC_DRIVERS.values():
        raise ConfigError(
            f"DATABASE_URL uses {url.drivername!r}: use sqlite+aiosqlite or postgresql+asyncpg"
        )
    return url


def describe_url(url: URL) -> str:
    """Render a URL for messages, without its password."""
    return url.render_as_string(hide_password=True)


def _prepare_sqlite_file(url: URL) -> None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    directory = Path(database).expanduser().resolve().parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create data directory {directory}: {exc.strerror}") from None
    probe = directory / ".clinicbot-write-test"
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise StorageError(f"data directory {directory} is not writable: {exc.strerror}") from None


def _configure_sqlite(engine: AsyncEngine) -> None:
    # pysqlite's own transaction handling skips BEGIN before DDL; take it over so a failed
    # migration rolls back whole (SQLAlchemy's documented recipe), and turn on WAL and FKs.
    # BEGIN IMMEDIATE takes the write lock up front: a deferred transaction that reads and
    # then writes fails at once ("database is locked") when another writer got in between,
    # while an immediate one waits out busy_timeout like any other writer.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


# NUL, which PostgreSQL's text cannot hold, and lone surrogates (from JSON's "\ud800"), which
# no UTF-8 database can.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
STANDS_IN = "\ufffd"  # the replacement character: something unreadable was here


def _without_nul(value: Any) -> Any:
    """Return a statement parameter with unstorable characters replaced, rebuilt only if so."""
    if isinstance(value, str):
        return UNSTORABLE.sub(STANDS_IN, value) if UNSTORABLE.search(value) else value
    if type(value) in (tuple, list):
        cleaned = [_without_nul(item) for item in value]
        if any(new is not old for new, old in zip(cleaned, value, strict=True)):
            return type(value)(cleaned)
    elif type(value) is dict:
        changed = {key: _without_nul(item) for key, item in value.items()}
        if any(changed[key] is not item for key, item in value.items()):
            return changed
    return value


def _replace_nul(engine: AsyncEngine) -> None:
    # PostgreSQL's text types cannot hold NUL (asyncpg raises: "invalid byte sequence for
    # encoding UTF8: 0x00"), yet any text from outside may carry one (an SMS body, a Telegram
    # name); a lone surrogate fails to encode on both databases. Every parameter of every
    # statement passes here, so none reaches the database; SQLite gets the same, so both
    # store the same text.
    @event.listens_for(engine.sync_engine, "before_cursor_execute", retval=True)
    def _clean(
        connection: Any,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> tuple[str, Any]:
        return statement, _without_nul(parameters)


def _pool_options(url: URL) -> dict[str, Any]:
    if url.get_backend_name() != "sqlite":
        return {"pool_pre_ping": True}
    if not url.database or url.database == ":memory:":
        return {}  # SQLAlchemy keeps an in-memory database on one static connection already
    # SQLite has one writer at a time and every transaction here begins IMMEDIATE, so a second
    # pooled connection only waits in SQLite's busy handler, which sleeps in growing steps
    # (p99 of 0.7-1.5 s at 8 concurrent webhooks). One connection makes the pool the queue:
    # transactions take turns in arrival order, woken by the event loop, not by a timer.
    # Other processes (the CLI beside `clinicbot run`) still wait out busy_timeout.
    return {"pool_size": 1, "max_overflow": 0}


def create_engine(raw_url: str) -> AsyncEngine:
    """Create the async engine for DATABASE_URL, making the SQLite data directory if needed."""
    url = parse_database_url(raw_url)
    if url.get_backend_name() == "sqlite":
        _prepare_sqlite_file(url)
    options = _pool_options(url)
    if url.get_backend_name() == "sqlite":
        options["module"] = one_trip_dbapi()
    try:
        engine = create_async_engine(url, **options)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(f"DATABASE_URL cannot be used: {exc}") from None
    if url.get_backend_name() == "sqlite":
        _configure_sqlite(engine)
    _replace_nul(engine)
    return engine
