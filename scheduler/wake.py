"""Wake idle workers when urgent rows appear: PostgreSQL's LISTEN/NOTIFY.

Migration 0007 adds a statement trigger on `deliveries` that runs `pg_notify` when an
insert brings rows due within a minute (a broadcast sent now); every process listening
ticks at once instead of at its next interval. SQLite has one process: nothing to wake.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

__all__ = ["CHANNEL", "OutboxListener"]

log = logging.getLogger(__name__)

CHANNEL = "clinicbot_outbox"


class OutboxListener:
    """Hold one connection that LISTENs on the outbox channel and calls `on_wake`."""

    def __init__(self, database_url: str, on_wake: Callable[[], None]) -> None:
        url = make_url(database_url)
        self._dsn = (
            url.set(drivername="postgresql").render_as_string(hide_password=False)
            if url.get_backend_name() == "postgresql"
            else None
        )
        self._on_wake = on_wake
        self._connection: Any = None

    async def start(self) -> None:
        """Listen (PostgreSQL only); a failure to listen only means waiting for the tick."""
        if self._dsn is None:
            return
        try:
            self._connection = await asyncpg.connect(self._dsn)
            await self._connection.add_listener(CHANNEL, self._notified)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("outbox wake-ups off (%s): waiting for ticks", type(exc).__name__)
            self._connection = None

    def _notified(self, connection: object, pid: int, channel: str, payload: str) -> None:
        self._on_wake()

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
