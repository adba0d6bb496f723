"""Joining a Telegram record to the clinic's SMS record: everything it holds moves too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Result, event, func, insert, select, update
from sqlalchemy.orm import ORMExecuteState

from bot.db.models import (
    Address,
    Appointment,
    AppointmentStatus,
    AuditEntry,
    Delivery,
    DeliveryStatus,
    PainScore,
    Patient,
    PatientTag,
    Ticket,
    TicketPost,
    TicketStatus,
)
from bot.db.session import Database
from handlers.patients.appointments import upcoming
from handlers.patients.contacts import link_phone
from handlers.patients.merge import DUPLICATE_REASON
from handlers.staff.tickets import open_ticket, open_ticket_of, reply_address
from handlers.time.quiet_hours import QuietHours
from scheduler.outbox import PlannedDelivery, insert_planned
from scheduler.planner import replan_appointment
from scheduler.rules import NudgeRule

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
PHONE = "+15035550199"
STAMP = "20260302T1600Z"
STAFF_CHAT = -1001234567890


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


RULES = (
    NudgeRule(
        id="before_48h",
        offset=timedelta(hours=-48),
        message="appointment_reminder",
        expires_after=timedelta(hours=24),
    ),
)
ZONE = ZoneInfo("America/Los_Angeles")


async def _tags(db: Database) -> list[tuple[int, str]]:
    async with db.session() as session:
        rows = await session.execute(
            select(PatientTag.patient_id, PatientTag.tag).order_by(PatientTag.tag)
        )
        return [(patient, tag) for patient, tag in rows]


async def _ticket(
    db: Database, patient_id: int, status: TicketStatus, *, post: int | None = None
) -> int:
    """A ticket (closed by staff if not open), with a staff-group post when `post` is given."""
    async with db.session() as session, session.begin():
        closed = status is TicketStatus.CLOSED
        ticket = Ticket(
            patient_id=patient_id,
            status=status,
            reason="human",
            channel="telegram",
            opened_at=NOW - timedelta(days=1),
            closed_at=NOW - timedelta(hours=2) if closed else None,
            closed_by="staff:7001" if closed else None,
        )
        session.add(ticket)
        await session.flush()
        if post is not None:
            session.add(TicketPost(ticket_id=ticket.id, chat_id=STAFF_CHAT, message_id=post))
        return ticket.id


async def _tickets(db: Database) -> dict[int, tuple[int, str, str | None]]:
    """Every ticket: id -> (patient, status, closed_by)."""
    async with db.session() as session:
        rows = await session.execute(
            select(Ticket.id, Ticket.patient_id, Ticket.status, Ticket.closed_by)
        )
        return {ident: (patient, status, by) for ident, patient, status, by in rows}


async def _audit(db: Database, action: str) -> list[tuple[str, str | None, str | None]]:
    async with db.session() as session:
        rows = await session.execute(
            select(AuditEntry.actor, AuditEntry.target, AuditEntry.detail)
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.id)
        )
        return [(actor, target, detail) for actor, target, detail in rows]


async def _appointment(db: Database, patient_id: int, uid: str, *, days: int) -> int:
    """A booked visit `days` from now, with its nudges planned as an import would."""
    async with db.session() as session, session.begin():
        appointment = Appointment(
            patient_id=patient_id,
            external_uid=uid,
            starts_at=NOW + timedelta(days=days),
            status=AppointmentStatus.BOOKED,
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(appointment)
        await session.flush()
        await replan_appointment(session, appointment, RULES, ZONE, QuietHours(), NOW)
        return appointment.id


async def _replan(db: Database, appointment_id: int) -> list[str]:
    """Replan one appointment's nudges as the next import would; return the planned keys."""
    async with db.session() as session, session.begin():
        appointment = await session.get(Appointment, appointment_id)
        assert appointment is not None
        planned = await replan_appointment(session, appointment, RULES, ZONE, QuietHours(), NOW)
        return [p.key for p in planned]


async def test_the_kept_record_gets_the_union_of_both_records_tags(db: Database) -> None:
    pair = await _pair(db)
    k, m = pair.kept, pair.merged
    async with db.session() as session, session.begin():
        session.add_all(
            [
                PatientTag(patient_id=k, tag="back"),
                PatientTag(patient_id=k, tag="vip"),
                PatientTag(patient_id=m, tag="vip"),
                PatientTag(patient_id=m, tag="new"),
            ]
        )

    await _merge(db, m)

    assert await _tags(db) == [(k, "back"), (k, "new"), (k, "vip")]


async def test_a_closed_ticket_moves_as_history(db: Database) -> None:
    pair = await _pair(db)
    k, m = pair.kept, pair.merged
    closed = await _ticket(db, m, TicketStatus.CLOSED, post=501)

    await _merge(db, m)

    assert await _tickets(db) == {closed: (k, "closed", "staff:7001")}
    async with db.session() as session:
        posted = await session.scalar(
            select(TicketPost.ticket_id).where(TicketPost.message_id == 501)
        )
        assert posted == closed
        assert await open_ticket_of(session, k) is None
    assert await _audit(db, "ticket.closed") == []
    [(_, _, detail)] = await _audit(db, "patient.merged")
    assert detail == f"from=patient:{m} via=shared_contact tickets=1"


async def test_an_open_ticket_moves_when_the_kept_record_has_none(db: Database) -> None:
    pair = await _pair(db)
    k, m = pair.kept, pair.merged
    ticket_id = await _ticket(db, m, TicketStatus.OPEN, post=502)

    await _merge(db, m)

    assert await _tickets(db) == {ticket_id: (k, "open", None)}
    async with db.session() as session, session.begin():
        # A staff reply to the ticket's post still finds it, and it reaches the patient's chat.
        posted = await session.scalar(
            select(TicketPost.ticket_id).where(
                TicketPost.chat_id == STAFF_CHAT, TicketPost.message_id == 502
            )
        )
        ticket = await session.get(Ticket, posted) if posted is not None else None
        assert ticket is not None and (ticket.patient_id, ticket.status) == (k, "open")
        assert await reply_address(session, ticket) == "telegram:42"
        # The patient's next message goes on in the same ticket.
        found, created = await open_ticket(session, k, reason="human", channel=None, now=NOW)
        assert (found.id, created) == (ticket_id, False)
    assert await _audit(db, "ticket.closed") == []


async def test_when_both_records_have_an_open_ticket_the_kept_one_stays_open(
    db: Database,
) -> None:
    pair = await _pair(db)
    k, m = pair.kept, pair.merged
    # The merged record's ticket is the older one: open_ticket_of would pick it if both stayed.
    theirs = await _ticket(db, m, TicketStatus.OPEN, post=503)
    ours = await _ticket(db, k, TicketStatus.OPEN, post=504)
    history = await _ticket(db, m, TicketStatus.CLOSED)

    await _merge(db, m)

    assert await _tickets(db) == {
        theirs: (k, "closed", f"patient:{k}"),
        ours: (k, "open", None),
        history: (k, "closed", "staff:7001"),
    }
    async with db.session() as session:
        still_open = await open_ticket_of(session, k)
        closed = await session.get(Ticket, theirs)
        open_count = await session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.status == TicketStatus.OPEN)
        )
    assert still_open is not None and still_open.id == ours
    assert closed is not None and closed.closed_at == NOW
    assert open_count == 1
    assert await _audit(db, "ticket.closed") == [
        (f"patient:{k}", f"ticket:{theirs}", f"merged into patient:{k}; open=ticket:{ours}")
    ]
    [(_, _, detail)] = await _audit(db, "patient.merged")
    assert detail == (
        f"from=patient:{m} via=shared_contact tickets=2 tickets_closed=ticket:{theirs}"
    )


async def test_a_ticket_the_kept_record_opens_during_the_merge_closes_the_merged_one(
    db: Database,
) -> None:
    """The move fails on the one-open-ticket index inside a savepoint and is tried again."""
    pair = await _pair(db)
    k, m = pair.kept, pair.merged
    theirs = await _ticket(db, m, TicketStatus.OPEN)
    opened: list[int] = []

    def _patient_writes_meanwhile(state: ORMExecuteState) -> Result[Any] | None:
        mapper = state.bind_mapper
        if opened or not state.is_select or mapper is None or mapper.class_ is not Ticket:
            return None
        frozen = state.invoke_statement().freeze()  # the merge reads "no open ticket" ...
        inserted = state.session.execute(  # ... and then an SMS opens one
            insert(Ticket)
            .values(patient_id=k, status="open", reason="human", channel="sms", opened_at=NOW)
            .returning(Ticket.id)
        )
        opened.append(inserted.scalar_one())
        return frozen()

    async with db.session() as session, session.begin():
        event.listen(session.sync_session, "do_orm_execute", _patient_writes_meanwhile)
        chat = await session.get(Patient, m)
        assert chat is not None
        await link_phone(session, chat, PHONE, region="US", now=NOW)

    [ours] = opened
    assert await _tickets(db) == {
        theirs: (k, "closed", f"patient:{k}"),
        ours: (k, "open", None),
    }


async def test_appointments_and_their_nudges_move_to_the_kept_record(db: Database) -> None:
    pair = await _pair(db)
    k, m = pair.kept, pair.merged
    ours = await _appointment(db, k, "csv:1", days=3)
    theirs = await _appointment(db, m, "csv:2", days=5)
    async with db.session() as session, session.begin():
        session.add(PainScore(patient_id=m, appointment_id=theirs, score=4, recorded_at=NOW))
    before = await _outbox(db)
    assert sorted(p for p, _, _, _ in before.values()) == [k, m]

    await _merge(db, m)

    async with db.session() as session:
        listed = [a.id for a in await upcoming(session, k, now=NOW)]
        moved = await session.get(Appointment, theirs)
        score = await session.scalar(select(PainScore.appointment_id))
    assert listed == [ours, theirs]
    assert moved is not None and (moved.patient_id, moved.external_uid) == (k, "csv:2")
    assert score == theirs
    # The nudge moved with its appointment, under the key the kept patient's plan gives it:
    # a replan (the next import) keeps it pending and plans nothing new.
    after = await _outbox(db)
    assert set(after) == set(before)
    assert all(p == k and status == "pending" for p, _, status, _ in after.values())
    async with db.session() as session:
        rows = await session.execute(select(Delivery.key, Delivery.reference))
        references = dict(rows.all())
    for appointment_id in (ours, theirs):
        [key] = await _replan(db, appointment_id)
        assert key.startswith(f"nudge:{k}:{appointment_id}:before_48h:v1:")
        assert references[key] == f"appt:{appointment_id}"
    assert await _outbox(db) == after
    [(_, _, detail)] = await _audit(db, "patient.merged")
    assert detail == f"from=patient:{m} via=shared_contact appointments=1"


async def test_a_nudge_replanned_away_from_the_kept_record_comes_back_with_the_merge(
    db: Database,
) -> None:
    """An import gave the kept record's visit to the chat's record; the merge gives it back."""
    pair = await _pair(db)
    k, m = pair.kept, pair.merged
    visit = await _appointment(db, k, "csv:3", days=4)
    async with db.session() as session, session.begin():
        await session.execute(
            update(Appointment).where(Appointment.id == visit).values(patient_id=m)
        )
    [planned] = await _replan(db, visit)
    outbox = await _outbox(db)
    [stale] = [
        i for i, (p, _, s, r) in outbox.items() if (p, s, r) == (k, "cancelled", "replanned")
    ]
    [pending] = [i for i, (p, _, s, _) in outbox.items() if (p, s) == (m, "pending")]
    assert outbox[pending][1] == planned

    await _merge(db, m)

    wanted = planned.replace(f"nudge:{m}:", f"nudge:{k}:", 1)
    assert await _outbox(db) == {pending: (k, wanted, "pending", None)}
    assert await _replan(db, visit) == [wanted]
    assert await _outbox(db) == {pending: (k, wanted, "pending", None)}
    [(_, _, detail)] = await _audit(db, "patient.merged")
    assert detail == f"from=patient:{m} via=shared_contact appointments=1 deliveries_dropped=1"
    assert stale not in await _outbox(db)


async def test_the_question_asked_last_and_a_pause_survive_the_merge(db: Database) -> None:
    pair = await _pair(db)
    k, m = pair.kept, pair.merged
    async with db.session() as session, session.begin():
        kept, chat = await session.get(Patient, k), await session.get(Patient, m)
        assert kept is not None and chat is not None
        kept.pending_question, kept.pending_since = "consent", NOW - timedelta(days=2)
        chat.pending_question, chat.pending_since = "pain:12", NOW - timedelta(hours=1)
        chat.reminders_paused = True

    await _merge(db, m)

    async with db.session() as session:
        kept = await session.get(Patient, k)
    assert kept is not None
    assert (kept.pending_question, kept.pending_since, kept.reminders_paused) == (
        "pain:12",
        NOW - timedelta(hours=1),
        True,
    )
