"""What a load balancer asks: /healthz (can this process store what patients send?) and
/readyz (should it get traffic now: started, not draining, the database answering?)."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.clock import Clock
from bot.db.session import Database
from scheduler.state import write_state

__all__ = ["HEALTH_PROBE", "MIN_FREE_BYTES", "Health", "Readiness"]

log = logging.getLogger(__name__)

HEALTH_PROBE = "health_probe"  # the scheduler_state row the write probe rewrites
# Below this, SQLite's next checkpoint or a burst of webhooks may not fit: report unhealthy
# before writes fail, not after.
MIN_FREE_BYTES = 64 * 1024 * 1024
PROBE_SECONDS = 5.0  # a database that takes longer to answer is not serving webhooks either
READY_SECONDS = 2.0  # a load balancer's probe times out soon after
MAX_AGE = 1.0  # a flood of /healthz costs one probe a second, not one write per request


def sqlite_directory(database_url: str) -> Path | None:
    """Return the directory of a SQLite database file (None for PostgreSQL or in-memory)."""
    url = make_url(database_url)
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve().parent


class Health:
    """Probe the database with a small write, and the SQLite disk's free space.

    A read alone said "ok" while a full disk made every webhook fail. The write goes to one
    scheduler_state row in its own transaction. Results are kept for MAX_AGE seconds and one
    probe runs at a time, so anyone may call /healthz as often as they like.
    """

    def __init__(
        self,
        db: Database,
        data_dir: Path | None,
        *,
        clock: Clock,
        monotonic: Callable[[], float] = time.monotonic,
        disk_usage: Callable[[Path], tuple[int, int, int]] = shutil.disk_usage,
    ) -> None:
        self._db, self._data_dir, self._clock = db, data_dir, clock
        self.monotonic, self.disk_usage = monotonic, disk_usage
        self._lock = asyncio.Lock()
        self._last: tuple[float, bool, dict[str, str]] | None = None

    async def check(self) -> tuple[bool, dict[str, str]]:
        """Return (healthy, details), probing at most once per MAX_AGE seconds."""
        async with self._lock:
            now = self.monotonic()
            if self._last is None or now - self._last[0] >= MAX_AGE:
                self._last = (now, *await self._probe())
            return self._last[1], dict(self._last[2])

    async def _probe(self) -> tuple[bool, dict[str, str]]:
        details = {"database": "up"}
        try:
            async with asyncio.timeout(PROBE_SECONDS):
                async with self._db.session() as session, session.begin():
                    await write_state(session, HEALTH_PROBE, "ok", self._clock())
        except TimeoutError:
            log.error("health check: the database did not answer in %.0fs", PROBE_SECONDS)
            details["database"] = "timeout"
        except Exception as exc:  # whatever the driver raises, the answer is "not healthy"
            log.error("health check: the database refused a write: %s", type(exc).__name__)
            details["database"] = "down"
        if self._data_dir is not None:
            try:
                free = self.disk_usage(self._data_dir)[2]
            except OSError:
                free = 0
            details["disk"] = "ok" if free >= MIN_FREE_BYTES else "full"
            if free < MIN_FREE_BYTES:
                log.error("health check: %d MB free for the database", free // 2**20)
        healthy = details["database"] == "up" and details.get("disk", "ok") == "ok"
        return healthy, details


class Readiness:
    """Ready for traffic: the app has started its channels, is not shutting down, and the
    database answers a read within READY_SECONDS.

    Liveness (/healthz) restarts a broken process; readiness takes a starting or draining one
    out of the load balancer's rotation, so a rolling restart of N processes drops nothing.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._state = "starting"

    def open(self) -> None:
        """Say the app has started: channels and scheduler are up."""
        self._state = "open"

    def drain(self) -> None:
        """Say the app is stopping: take it out of rotation."""
        self._state = "draining"

    async def check(self) -> tuple[bool, dict[str, str]]:
        """Return (ready, details)."""
        if self._state != "open":
            return False, {"app": self._state}
        try:
            async with asyncio.timeout(READY_SECONDS), self._db.session() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:  # whatever the driver raises, the answer is "not ready"
            log.warning("readiness: the database did not answer: %s", type(exc).__name__)
            return False, {"app": "open", "database": "down"}
        return True, {"app": "open", "database": "up"}
