"""The delivery outbox: insert planned rows once, claim due rows, recover after a crash."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Delivery, DeliveryStatus

__all__ = ["PlannedDelivery", "claim_due", "insert_planned", "recover_interrupted"]

INSERT_CHUNK = 2000


@dataclass(frozen=True)
class PlannedDelivery:
    """A delivery the planner wants; `key` makes a second plan of it a no-op."""

    key: str
    patient_id: int
    kind: str
    reference: str
    due_at: datetime
    expires_at: datetime | None
    rule_version: int = 1
    content_ref: str | None = None  # a nudge's rule id
    status: str = DeliveryStatus.PENDING  # MISSED when planned after its grace (downtime)
    reason: str | None = None


async def insert_planned(
    session: AsyncSession, planned: Sequence[PlannedDelivery], now: datetime
) -> None:
    """Insert planned deliveries, ignoring keys that already exist (exactly-once intent)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    # One cached statement run as executemany (SQLAlchemy batches it as multi-row VALUES);
    # compiling a fresh 2,000-row VALUES clause per chunk, and dataclasses.asdict, dominated
    # planning a day for 100,000 patients (bench/scheduler_scale.py).
    statement = insert(Delivery).on_conflict_do_nothing(index_elements=["key"])
    for start in range(0, len(planned), INSERT_CHUNK):
        rows = [
            {
                "key": p.key,
                "patient_id": p.patient_id,
                "kind": p.kind,
                "reference": p.reference,
                "due_at": p.due_at,
                "expires_at": p.expires_at,
                "rule_version": p.rule_version,
                "content_ref": p.content_ref,
                "status": p.status,
                "reason": p.reason,
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
            for p in planned[start : start + INSERT_CHUNK]
        ]
        if rows:
            await session.execute(statement, rows)


async def claim_due(
    session: AsyncSession, now: datetime, limit: int, *, worker: str = "local"
) -> list[int]:
    """Claim up to `limit` due pending rows for `worker`; other workers skip locked rows.

    The scheduler's tick claims in the wave that sends (Dispatcher.send_due); this claims
    ahead, for Dispatcher.dispatch_batch.
    """
    due = (
        select(Delivery.id)
        .where(Delivery.status == DeliveryStatus.PENDING, Delivery.due_at <= now)
        .order_by(Delivery.due_at, Delivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list((await session.execute(due)).scalars())
    if ids:
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.status == DeliveryStatus.PENDING)
            .values(
                status=DeliveryStatus.CLAIMED, claimed_at=now, claimed_by=worker, updated_at=now
            )
        )
    return ids


async def recover_interrupted(session: AsyncSession, now: datetime) -> tuple[int, int]:
    """With no other worker alive (one process, or a test): requeue every claimed row and
    fail "interrupted" every row caught mid-send, since it may have gone and must not go
    twice. Several processes use scheduler.workers.recover_dead instead.

    Returns (requeued, interrupted).
    """
    requeued = await session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.CLAIMED)
        .values(status=DeliveryStatus.PENDING, claimed_at=None, claimed_by=None, updated_at=now)
    )
    interrupted = await session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.SENDING)
        .values(status=DeliveryStatus.FAILED, reason="interrupted", updated_at=now)
    )
    return requeued.rowcount, interrupted.rowcount  # type: ignore[attr-defined]
