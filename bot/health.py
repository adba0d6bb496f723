"""What GET /healthz tells a load balancer: can this process store what patients send?"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.clock import Clock
from bot.db.session import Database
from scheduler.state import write_state

__all__ = ["HEALTH_PROBE", "MIN_FREE_BYTES", "Health"]

log = logging.getLogger(__name__)

HEALTH_PROBE = "health_probe"  # the scheduler_state row the write probe rewrites
# Below this, SQLite's next checkpoint or a burst of webhooks may not fit: report unhealthy
# before writes fail, not after.
MIN_FREE_BYTES = 64 * 1024 * 1024
PROBE_SECONDS = 5.0  # a database that takes longer to answer is not serving webhooks either
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
