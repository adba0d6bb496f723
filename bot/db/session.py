"""The Database handle: engine, session factory, and one-line errors for connection failures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db.engine import create_engine
from bot.errors import StorageError

__all__ = ["Database", "connection_errors"]


def _reason(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return text[:200]


@asynccontextmanager
async def connection_errors(engine: AsyncEngine) -> AsyncIterator[None]:
    """Turn a failure to reach the database into a one-line StorageError."""
    where = engine.url.render_as_string(hide_password=True)
    try:
        yield
    except (DBAPIError, OSError, TimeoutError) as exc:
        raise StorageError(f"cannot use the database at {where}: {_reason(exc)}") from None


class Database:
    """The engine and its session factory, opened once per process."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str) -> Database:
        """Open the database at a DATABASE_URL."""
        return cls(create_engine(url))

    def session(self) -> AsyncSession:
        """Start a session; use it as `async with db.session() as s:`."""
        return self.sessions()

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
