"""Joining a Telegram record to the clinic's SMS record: the outbox and pain scores move too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, select, update
from sqlalchemy.orm import ORMExecuteState

from bot.db.models import (
    Address,
    AuditEntry,
    Delivery,
    DeliveryStatus,
    PainScore,
    Patient,
)
from bot.db.session import Database
from handlers.contacts import DUPLICATE_REASON, link_phone
from scheduler.outbox import PlannedDelivery, insert_planned

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
PHONE = "+15035550199"
STAMP = "20260302T1600Z"


@dataclass(frozen=True)
class Pair:
    """The clinic's SMS record (kept) and the Telegram chat's record (merged into it)."""

    kept: int
    merged: int


async def _pair(db: Database) -> Pair:
    async with db.session() as session, session.begin():
        kept = Patient(name="Ana R", created_at=NOW, updated_at=NOW)
        chat = Patient(name="Ana", language="es", created_at=NOW, updated_at=NOW)
        session.add_all([kept, chat])
        await session.flush()
        session.add_all(
            [
                Address(patient_id=kept.id, urn=f"tel:{PHONE}", scheme="tel", created_at=NOW),
                Address(patient_id=chat.id, urn="telegram:42", scheme="telegram", created_at=NOW),
            ]
        )
        return Pair(kept=kept.id, merged=chat.id)


def _delivery(
    key: str, patient_id: int, status: DeliveryStatus, *, kind: str = "tip", reference: str = ""
) -> Delivery:
    went = status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED)
    return Delivery(
        key=key,
        patient_id=patient_id,
        kind=kind,
        reference=reference or key.split(":")[2],
        rule_version=1,
        due_at=NOW + timedelta(hours=1),
        status=status,
        attempts=1 if went or status is DeliveryStatus.FAILED else 0,
        sent_at=NOW if went else None,
        created_at=NOW,
        updated_at=NOW,
    )


async def _merge(db: Database, merged: int) -> Patient | None:
    async with db.session() as session, session.begin():
        chat = await session.get(Patient, merged)
        assert chat is not None
        return await link_phone(session, chat, PHONE, region="US", now=NOW)


async def _outbox(db: Database) -> dict[int, tuple[int, str, str, str | None]]:
    """Every delivery: id -> (patient, key, status, reason)."""
    async with db.session() as session:
        rows = await session.execute(
            select(
                Delivery.id, Delivery.patient_id, Delivery.key, Delivery.status, Delivery.reason
            )
        )
        return {
            ident: (patient, key, status, reason) for ident, patient, key, status, reason in rows
        }


async def _ids(db: Database, *rows: Delivery) -> list[int]:
    async with db.session() as session, session.begin():
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def test_deliveries_and_pain_scores_move_to_the_kept_record(db: Database) -> None:
    pair = await _pair(db)
    m = pair.merged
    sent, pending, nudge, cancelled = await _ids(
        db,
        _delivery(f"tip:{m}:diet:20260301T1600Z", m, DeliveryStatus.SENT),
        _delivery(f"tip:{m}:exercise:{STAMP}", m, DeliveryStatus.PENDING),
        _delivery(
            f"nudge:{m}:12:before_48h:v1:{STAMP}",
            m,
            DeliveryStatus.PENDING,
            kind="nudge",
            reference="appt:12",
        ),
        _delivery(f"broadcast:{m}:3", m, DeliveryStatus.CANCELLED, kind="broadcast"),
    )
    async with db.session() as session, session.begin():
        session.add(PainScore(patient_id=m, score=6, recorded_at=NOW))

    kept = await _merge(db, m)

    assert kept is not None and kept.id == pair.kept
    k = pair.kept
    assert await _outbox(db) == {
        sent: (k, f"tip:{k}:diet:20260301T1600Z", "sent", None),
        pending: (k, f"tip:{k}:exercise:{STAMP}", "pending", None),
        nudge: (k, f"nudge:{k}:12:before_48h:v1:{STAMP}", "pending", None),
        cancelled: (k, f"broadcast:{k}:3", "cancelled", None),
    }
    async with db.session() as session:
        scores = (await session.execute(select(PainScore.patient_id, PainScore.score))).all()
        gone = await session.get(Patient, m)
    assert [tuple(row) for row in scores] == [(k, 6)] and gone is None


async def test_a_duplicate_delivery_is_dropped_unless_it_is_history(db: Database) -> None:
    pair = await _pair(db)
    k, m = pair.kept, pair.merged
    cases = {
        # name: (merged record's status, kept record's status, the key with {} for the patient)
        "both_pending": (DeliveryStatus.PENDING, DeliveryStatus.PENDING, "broadcast:{}:5"),
        "skipped_twin_of_sent": (
            DeliveryStatus.SKIPPED,
            DeliveryStatus.SENT,
            f"tip:{{}}:diet:{STAMP}",
        ),
        "missed_twin": (
            DeliveryStatus.MISSED,
            DeliveryStatus.CANCELLED,
            f"tip:{{}}:meditation:{STAMP}",
        ),
        "sent_twin_of_pending": (
            DeliveryStatus.SENT,
            DeliveryStatus.PENDING,
            f"tip:{{}}:exercise:{STAMP}",
        ),
        "claimed_twin_of_pending": (
            DeliveryStatus.CLAIMED,
            DeliveryStatus.PENDING,
            "broadcast:{}:6",
        ),
        "sending_twin_of_sent": (
            DeliveryStatus.SENDING,
            DeliveryStatus.SENT,
            "broadcast:{}:7",
        ),
        "failed_twin_of_pending": (
            DeliveryStatus.FAILED,
            DeliveryStatus.PENDING,
            "broadcast:{}:8",
        ),
    }
    ids: dict[str, tuple[int, int]] = {}
    for name, (merged_status, kept_status, key) in cases.items():
        kind = key.split(":")[0]
        theirs, ours = await _ids(
            db,
            _delivery(key.format(m), m, merged_status, kind=kind, reference=name),
            _delivery(key.format(k), k, kept_status, kind=kind, reference=name),
        )
        ids[name] = (theirs, ours)

    await _merge(db, m)

    outbox = await _outbox(db)

    def merged_row(name: str) -> tuple[int, str, str, str | None] | None:
        return outbox.get(ids[name][0])

    def kept_row(name: str) -> tuple[int, str, str, str | None]:
        return outbox[ids[name][1]]

    # Nothing was or will be sent for these: the kept record's twin stands for the message.
    for name in ("both_pending", "skipped_twin_of_sent", "missed_twin"):
        assert merged_row(name) is None, name
        _, key, status, _ = kept_row(name)
        assert (key, status) == (cases[name][2].format(k), cases[name][1]), name
    # History is never dropped: it moves under a key no plan produces.
    for name in (
        "sent_twin_of_pending",
        "claimed_twin_of_pending",
        "sending_twin_of_sent",
        "failed_twin_of_pending",
    ):
        theirs = ids[name][0]
        assert merged_row(name) == (
            k,
            f"{cases[name][2].format(m)}:merged:{theirs}",
            cases[name][0],
            None,
        ), name
    # The patient has (or is about to have) the message: its pending twin is cancelled.
    assert kept_row("sent_twin_of_pending")[2:] == ("cancelled", DUPLICATE_REASON)
    assert kept_row("claimed_twin_of_pending")[2:] == ("cancelled", DUPLICATE_REASON)
    # ... but not when it failed: the patient has not had it, so the twin still goes.
    assert kept_row("failed_twin_of_pending")[2:] == ("pending", None)
    assert kept_row("sending_twin_of_sent")[2:] == ("sent", None)
    assert all(patient == k for patient, _, _, _ in outbox.values())

    async with db.session() as session:
        detail = await session.scalar(
            select(AuditEntry.detail).where(AuditEntry.action == "patient.merged")
        )
    assert detail == f"from=patient:{m} via=shared_contact deliveries_dropped=3"


async def test_the_planner_does_not_plan_a_moved_delivery_again(db: Database) -> None:
    pair = await _pair(db)
    k, m = pair.kept, pair.merged
    sent, pending = await _ids(
        db,
        _delivery(f"tip:{m}:exercise:{STAMP}", m, DeliveryStatus.SENT),
        _delivery(f"broadcast:{m}:9", m, DeliveryStatus.PENDING, kind="broadcast"),
    )
    await _merge(db, m)
    async with db.session() as session, session.begin():
        await insert_planned(
            session,
            [
                PlannedDelivery(f"tip:{k}:exercise:{STAMP}", k, "tip", "exercise", NOW, None),
                PlannedDelivery(f"broadcast:{k}:9", k, "broadcast", "broadcast:9", NOW, None),
            ],
            NOW,
        )
    # The tip already sent is not planned (and sent) again; the broadcast goes once.
    assert await _outbox(db) == {
        sent: (k, f"tip:{k}:exercise:{STAMP}", "sent", None),
        pending: (k, f"broadcast:{k}:9", "pending", None),
    }


async def test_a_merge_with_an_empty_outbox_still_joins_the_records(db: Database) -> None:
    pair = await _pair(db)
    kept = await _merge(db, pair.merged)
    assert kept is not None and kept.id == pair.kept
    assert await _outbox(db) == {}
    async with db.session() as session:
        detail = await session.scalar(
            select(AuditEntry.detail).where(AuditEntry.action == "patient.merged")
        )
    assert detail == f"from=patient:{pair.merged} via=shared_contact"


async def test_a_duplicate_a_worker_claims_meanwhile_is_kept(db: Database) -> None:
    """The drop re-checks the status: a row claimed after the merge read it is history."""
    pair = await _pair(db)
    k, m = pair.kept, pair.merged
    theirs, ours = await _ids(
        db,
        _delivery(f"broadcast:{m}:4", m, DeliveryStatus.PENDING, kind="broadcast"),
        _delivery(f"broadcast:{k}:4", k, DeliveryStatus.PENDING, kind="broadcast"),
    )

    def _worker_claims(state: ORMExecuteState) -> None:
        mapper = state.bind_mapper
        if state.is_delete and mapper is not None and mapper.class_ is Delivery:
            state.session.execute(
                update(Delivery).where(Delivery.id == theirs).values(status="claimed")
            )

    async with db.session() as session, session.begin():
        event.listen(session.sync_session, "do_orm_execute", _worker_claims)
        chat = await session.get(Patient, m)
        assert chat is not None
        await link_phone(session, chat, PHONE, region="US", now=NOW)

    assert await _outbox(db) == {
        theirs: (k, f"broadcast:{m}:4:merged:{theirs}", "claimed", None),
        ours: (k, f"broadcast:{k}:4", "pending", None),
    }
