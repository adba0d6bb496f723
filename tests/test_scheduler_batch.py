"""Batch dispatch: one claimed batch, a few bulk queries, and each row's own outcome."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, select

from bot.channels.base import SendOutcome, SendStatus
from bot.db.models import Address, Broadcast, ConsentCategory, Delivery, Patient
from bot.db.patients import find_or_create_patient
from bot.db.session import Database
from handlers.conversation.answer import Answerer
from handlers.delivery.consent import opt_in
from scheduler.outbox import PlannedDelivery, insert_planned
from tests.conftest import FakeClock
from tests.test_scheduler import FakeSender, Rig, _rig

NOON = datetime(2026, 5, 4, 19, 0, tzinfo=UTC)  # Monday 12:00 in Los Angeles


@pytest.fixture
def rig(db: Database, clock: FakeClock, answerer: Answerer) -> Rig:
    return _rig(db, clock, answerer, {"telegram": FakeSender()})


async def _broadcast(rig: Rig, urns: list[str], consenting: set[str]) -> None:
    async with rig.db.session() as session, session.begin():
        broadcast = Broadcast(
            created_by="cli",
            texts=json.dumps({"en": "Closed Friday."}),
            audience="{}",
            send_at=NOON,
            created_at=NOON,
            updated_at=NOON,
        )
        session.add(broadcast)
        await session.flush()
        planned = []
        for urn in urns:
            patient, _, _ = await find_or_create_patient(session, urn, now=NOON)
            patient.timezone = "America/Los_Angeles"
            if urn in consenting:
                categories = (ConsentCategory.ANNOUNCEMENTS,)
                await opt_in(session, patient.id, categories, source="t", now=NOON)
            reference = f"broadcast:{broadcast.id}"
            planned.append(
                PlannedDelivery(f"{reference}:{patient.id}", patient.id, "broadcast", reference,
                                NOON, None)
            )  # fmt: skip
        await insert_planned(session, planned, NOON)


async def test_one_batch_with_mixed_outcomes_records_each_row_its_own_way(rig: Rig) -> None:
    rig.clock.now = NOON
    urns = [f"telegram:{n}" for n in range(801, 806)] + ["tel:+15035550806"]
    await _broadcast(rig, urns, consenting=set(urns) - {"telegram:805"})
    rig.telegram.outcomes = [
        SendOutcome(SendStatus.SENT, external_id="m1"),
        SendOutcome(SendStatus.RETRY, error="RetryAfter", retry_after=30),
        SendOutcome(SendStatus.UNREACHABLE, error="Forbidden"),
        SendOutcome(SendStatus.FAILED, error="bad_request"),
    ]
    await rig.scheduler.plan()  # planning is measured elsewhere: count the dispatch only
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(rig.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        report = await rig.scheduler.tick()
    finally:
        event.remove(rig.db.engine.sync_engine, "before_cursor_execute", count)
    assert report.claimed == 6
    assert [urn for urn, _ in rig.telegram.sent] == urns[:4]
    async with rig.db.session() as session:
        rows = await session.execute(
            select(Delivery.status, Delivery.reason, Delivery.external_id, Delivery.due_at)
            .join(Patient, Patient.id == Delivery.patient_id)
            .order_by(Delivery.id)
        )
        outcomes = [(status, reason, external) for status, reason, external, _ in rows.all()]
        blocked = await session.scalar(select(Address).where(Address.urn == "telegram:803"))
        retry_due = await session.scalar(
            select(Delivery.due_at).where(Delivery.reason == "RetryAfter")
        )
    assert outcomes == [
        ("sent", None, "m1"),
        ("pending", "RetryAfter", None),
        ("skipped", "unreachable", None),
        ("failed", "bad_request", None),
        ("skipped", "no_consent", None),
        ("skipped", "unreachable", None),  # SMS only, and no SMS sender configured
    ]
    assert blocked is not None and not blocked.reachable
    assert retry_due is not None and (retry_due - NOON).total_seconds() == 30
    # Claim, a handful of bulk reads, one transaction per wave: not ~10 per row.
    assert len(statements) <= 25, statements
