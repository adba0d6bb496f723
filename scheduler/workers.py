"""Workers that notice a dead peer: heartbeats, and a dead worker's rows recovered by the living.

Each process that claims outbox rows beats a `workers` row. A peer whose beat is older than
`stale_after` is dead: its claimed-but-untouched rows go back to pending, and its rows caught
mid-send are failed "interrupted" (they may have gone out, so never resent). Any live process
does this on its own heartbeat, so nobody has to restart anything.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Delivery, DeliveryStatus, Worker
from bot.errors import ConfigError

__all__ = [
    "STALE_AFTER",
    "SqliteSchedulerLock",
    "beat",
    "new_worker_id",
    "recover_dead",
    "retire",
]

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(seconds=30)  # three missed beats at the default 10 s


def _running(pid: int) -> bool:
    """Say whether a process with this id runs on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def new_worker_id() -> str:
    """Return a unique id for this process: host, pid and a random part."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def beat(session: AsyncSession, worker: str, now: datetime) -> None:
    """Say this worker is alive (insert its row on the first beat)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    host, _, rest = worker.partition(":")
    pid = int(rest.partition(":")[0] or 0) if rest.partition(":")[0].isdigit() else 0
    statement = insert(Worker).values(id=worker, host=host, pid=pid, started_at=now, seen_at=now)
    await session.execute(
        statement.on_conflict_do_update(index_elements=["id"], set_={"seen_at": now})
    )


async def retire(session: AsyncSession, worker: str) -> None:
    """Remove this worker's row on a clean stop."""
    await session.execute(delete(Worker).where(Worker.id == worker))


async def recover_dead(
    session: AsyncSession,
    now: datetime,
    *,
    me: str | None = None,
    stale_after: timedelta = STALE_AFTER,
) -> tuple[int, int]:
    """Recover the rows of workers not seen for `stale_after`, and of no known worker.

    Returns (requeued, interrupted). Rows claimed by no worker id (claims made before
    heartbeats existed) count as a dead worker's.
    """
    recent = await session.execute(
        select(Worker.id, Worker.host, Worker.pid).where(Worker.seen_at >= now - stale_after)
    )
    host = socket.gethostname()[:40]
    # A peer on this host whose process is gone is dead now, not in `stale_after`: so a
    # restart recovers its own crash at once.
    living = [
        str(ident)
        for ident, peer_host, pid in recent
        if ident == me or peer_host != host or _running(pid)
    ]
    dead = select(Worker.id).where(Worker.id.not_in(living)) if living else select(Worker.id)
    if me is not None:
        living.append(me)
    orphan = or_(Delivery.claimed_by.is_(None), Delivery.claimed_by.not_in(living))
    requeued = await session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.CLAIMED, orphan)
        .values(status=DeliveryStatus.PENDING, claimed_at=None, claimed_by=None, updated_at=now)
    )
    interrupted = await session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.SENDING, orphan)
        .values(status=DeliveryStatus.FAILED, reason="interrupted", updated_at=now)
    )
    await session.execute(delete(Worker).where(Worker.id.in_(dead)))
    counts = (requeued.rowcount, interrupted.rowcount)  # type: ignore[attr-defined]
    if any(counts):
        log.warning("recovered outbox (dead workers): requeued=%s interrupted=%s", *counts)
    return counts


class SqliteSchedulerLock:
    """One scheduler per SQLite file: an exclusive lock on `<database>.scheduler.lock`.

    A file lock rather than a row: the kernel drops it when the process dies however it dies
    (SIGKILL, power), so there is no stale lock to expire, and a row would need exactly the
    heartbeat rules SQLite cannot share safely between processes anyway.
    """

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        database = url.database or ""
        self.path: Path | None = None
        usable = database not in ("", ":memory:") and not database.startswith("file:")
        if url.get_backend_name() == "sqlite" and usable:
            self.path = Path(f"{Path(database).expanduser().resolve()}.scheduler.lock")
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock, or raise ConfigError saying why a second scheduler cannot run."""
        if self.path is None:
            return
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise ConfigError(
                f"another clinicbot scheduler ({holder}) already runs on this SQLite file; "
                "SQLite has one writer, so use PostgreSQL (DATABASE_URL) for several processes"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        """Let another scheduler start."""
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
