"""Merge two records of one patient (a Telegram chat that shares a number the clinic knows)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, cast, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Address,
    Appointment,
    Consent,
    ConsentEvent,
    Delivery,
    DeliveryStatus,
    MessageLog,
    PainScore,
    Patient,
    PatientTag,
    ReminderPreference,
    SafetyEvent,
    Ticket,
    TicketStatus,
)
from handlers.staff.roles import audit
from handlers.staff.tickets import close_ticket

__all__ = ["DUPLICATE_REASON", "merge_patients"]

# Rows that move to the surviving record as they are; consents and preferences (one per
# category) replace the older record's, since the patient has just chosen them; tags (one
# row per tag) are joined. Deliveries (the outbox) move by `_move_deliveries`, since their
# keys name the patient, and tickets by `_move_tickets`, since only one may be open.
# Appointments keep their ids (nudges, pain scores and pending questions refer to them),
# and `external_uid` is unique across all patients, so two records never hold the same one.
_MOVED = (Address, ConsentEvent, MessageLog, SafetyEvent, PainScore, Appointment)
_REPLACED = (Consent, ReminderPreference)

# Outbox rows that never reached a channel and never will as they stand: a duplicate of one
# of these may be dropped. Any other status (claimed, sending, sent, delivered, failed) is
# the history of a message that went out, may have, is about to, or that staff were told
# failed: it is never dropped.
_DROPPABLE = (
    DeliveryStatus.PENDING,
    DeliveryStatus.SKIPPED,
    DeliveryStatus.MISSED,
    DeliveryStatus.CANCELLED,
)
# The patient has (or is about to have) the message: a pending twin would say it again.
_WENT_OUT = (
    DeliveryStatus.CLAIMED,
    DeliveryStatus.SENDING,
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
)
DUPLICATE_REASON = "merged_duplicate"
# Why `scheduler.planner` cancels a nudge its appointment no longer needs (and revives it
# when a replan wants it again).
_REPLANNED = "replanned"
_CHUNK = 500  # ids per IN (...) list, well under SQLite's bound-parameter limit
_ATTEMPTS = 3  # tries at moving the tickets: each failed one means a ticket opened meanwhile


async def merge_patients(
    session: AsyncSession, patient: Patient, owner: Patient, *, now: datetime
) -> None:
    """Move everything `patient` (the chat's record) has to `owner`, then delete `patient`:

    - addresses, consent history, the message log, safety events and pain scores, as they are;
    - consents and reminder preferences, replacing the kept record's for the same category
      (the patient has just chosen them);
    - tags: the kept record ends with the union, each tag once;
    - appointments, with their ids, so their nudges, pain scores and pending questions still
      point at them (`external_uid` is unique across patients: no two records share one);
    - tickets, with their staff-group posts: see `_move_tickets` for two open ones;
    - outbox rows, re-keyed: see `_move_deliveries` for a message planned for both records;
    - of the record's own state: the name (if the kept record has none), language, timezone,
      onboarding step, the question asked last (`pending_question`, by `pending_since`), and
      a pause of reminders on either record (stopping is never undone by a merge).

    One "patient.merged" audit entry says what moved (only counts that are not zero).
    """
    actor = f"patient:{owner.id}"
    for model in _REPLACED:
        await session.execute(
            delete(model).where(
                model.patient_id == owner.id,
                model.category.in_(select(model.category).where(model.patient_id == patient.id)),
            )
        )
    # A tag both records have stays once: the kept record's row.
    await session.execute(
        delete(PatientTag).where(
            PatientTag.patient_id == patient.id,
            PatientTag.tag.in_(select(PatientTag.tag).where(PatientTag.patient_id == owner.id)),
        )
    )
    await session.flush()
    dropped = await _move_deliveries(session, patient.id, owner.id, now=now)
    tickets, closed = await _move_tickets(session, patient.id, owner.id, actor=actor, now=now)
    counts: dict[type[object], int] = {}
    for moved in (*_MOVED, *_REPLACED, PatientTag):
        result = await session.execute(
            update(moved).where(moved.patient_id == patient.id).values(patient_id=owner.id)
        )
        counts[moved] = result.rowcount  # type: ignore[attr-defined]
    owner.name = owner.name or patient.name
    owner.language = patient.language or owner.language
    owner.timezone = patient.timezone or owner.timezone
    owner.onboarding_step = patient.onboarding_step
    if patient.pending_question is not None and (
        owner.pending_question is None
        or owner.pending_since is None
        or (patient.pending_since is not None and patient.pending_since > owner.pending_since)
    ):
        owner.pending_question = patient.pending_question
        owner.pending_since = patient.pending_since
    owner.reminders_paused = bool(owner.reminders_paused or patient.reminders_paused)
    owner.updated_at = now
    await session.execute(delete(Patient).where(Patient.id == patient.id))
    detail = [f"from=patient:{patient.id}", "via=shared_contact"]
    if counts[Appointment]:
        detail.append(f"appointments={counts[Appointment]}")
    if tickets:
        detail.append(f"tickets={tickets}")
    if closed:
        detail.append("tickets_closed=" + ",".join(f"ticket:{ident}" for ident in closed))
    if dropped:
        detail.append(f"deliveries_dropped={dropped}")
    await audit(session, actor, "patient.merged", now, f"patient:{owner.id}", " ".join(detail))


async def _move_tickets(
    session: AsyncSession, merged_id: int, kept_id: int, *, actor: str, now: datetime
) -> tuple[int, list[int]]:
    """Move the merged record's tickets to the kept patient; return (moved, ids closed).

    Closed tickets move as history. Staff-group posts hang off the ticket id, so a staff
    reply to a moved open ticket still finds it and reaches the patient (whose addresses
    moved too). The database allows one open ticket per patient (ix_tickets_patient_open):
    when both records have one, the kept patient's stays open (the record that survives,
    whose ticket staff may already be answering, and where `open_ticket` sends the patient's
    next message) and the merged record's is closed as staff would close it (status,
    closed_at, closed_by = the merge's actor, a "ticket.closed" audit entry naming the ticket
    left open) and then moves as history. Should the kept patient open a ticket between the
    check and the move, the move fails inside its savepoint and is tried again, closing the
    merged record's ticket this time.
    """
    closed: list[int] = []
    error: IntegrityError | None = None
    for _ in range(_ATTEMPTS):
        kept_open = await session.scalar(
            select(Ticket.id)
            .where(Ticket.patient_id == kept_id, Ticket.status == TicketStatus.OPEN)
            .order_by(Ticket.id)
            .limit(1)
        )
        if kept_open is not None:
            merged_open = await session.scalars(
                select(Ticket.id).where(
                    Ticket.patient_id == merged_id, Ticket.status == TicketStatus.OPEN
                )
            )
            detail = f"merged into patient:{kept_id}; open=ticket:{kept_open}"
            for ident in list(merged_open):
                if await close_ticket(session, ident, actor=actor, now=now, detail=detail):
                    closed.append(ident)
        try:
            async with session.begin_nested():
                result = await session.execute(
                    update(Ticket).where(Ticket.patient_id == merged_id).values(patient_id=kept_id)
                )
        except IntegrityError as exc:
            error = exc  # the kept patient opened a ticket meanwhile: close ours, try again
            continue
        return result.rowcount, closed  # type: ignore[attr-defined]
    assert error is not None
    raise error


def _rekey(key: str, merged_id: int, kept_id: int) -> str:
    """Return the key the kept patient would have planned the same delivery under.

    Keys read "<kind>:<patient id>:..." ("tip:7:exercise:20260302T1600Z", "broadcast:7:3");
    a key in any other shape is left as it is.
    """
    kind, sep, rest = key.partition(":")
    patient, sep2, tail = rest.partition(":")
    if sep and patient == str(merged_id):
        return f"{kind}:{kept_id}{sep2}{tail}"
    return key


async def _move_deliveries(
    session: AsyncSession, merged_id: int, kept_id: int, *, now: datetime
) -> int:
    """Move the merged record's outbox rows to the kept patient; return how many were dropped.

    A moved row takes the key the kept patient would have planned it under, so the planner
    never plans it again (and `insert_planned` skips it). When the kept patient already has
    a row with that key, the same message was planned for both records:

    - the merged record's row is dropped when nothing was or will be sent for it (pending,
      skipped, missed, cancelled): the kept patient's row stands for the message;
    - otherwise it is history (claimed, sending, sent, delivered, failed) and is never
      dropped: it moves under a key no plan can produce ("<key>:merged:<id>"), so tip
      rotation and reports still see it. If it went out (or is going out) and the kept
      patient's twin is still pending, the twin is cancelled ("merged_duplicate") rather
      than sending the patient the same message twice.

    One exception: a pending nudge whose twin the planner cancelled ("replanned") because
    the appointment had gone over to the merged record (an import re-assigned it). The merge
    brings the appointment back, so the pending row is the one the plan wants: the cancelled
    twin is dropped and the pending row takes its key, as a replan would revive the twin.

    Rows are dropped or cancelled only if their status is still the one read here, so a
    row a worker claims meanwhile is kept, and every row left then moves as history.
    """
    rows = (
        await session.execute(
            select(Delivery.id, Delivery.key, Delivery.status).where(
                Delivery.patient_id == merged_id
            )
        )
    ).all()
    targets = {ident: _rekey(key, merged_id, kept_id) for ident, key, _ in rows}
    taken: dict[str, tuple[int, str, str | None]] = {}
    wanted = sorted(set(targets.values()))
    for start in range(0, len(wanted), _CHUNK):
        found = await session.execute(
            select(Delivery.key, Delivery.id, Delivery.status, Delivery.reason).where(
                Delivery.key.in_(wanted[start : start + _CHUNK])
            )
        )
        taken.update({key: (ident, status, reason) for key, ident, status, reason in found})
    statuses = {ident: status for ident, _, status in rows}
    dropped = await _drop_replanned_twins(session, statuses, targets, taken)
    moves: list[dict[str, object]] = []
    drop: list[int] = []
    cancel: list[int] = []
    for ident, _, status in rows:
        target = targets[ident]
        twin = taken.get(target)
        if twin is None or twin[0] == ident:
            moves.append({"id": ident, "patient_id": kept_id, "key": target})
        elif status in _DROPPABLE:
            drop.append(ident)
        elif status in _WENT_OUT and twin[1] == DeliveryStatus.PENDING:
            cancel.append(twin[0])  # this row itself moves as history below
    if moves:
        await session.execute(update(Delivery), moves)  # bulk UPDATE by primary key
    for start in range(0, len(drop), _CHUNK):
        result = await session.execute(
            delete(Delivery).where(
                Delivery.id.in_(drop[start : start + _CHUNK]),
                Delivery.status.in_(_DROPPABLE),
            )
        )
        dropped += result.rowcount  # type: ignore[attr-defined]
    for start in range(0, len(cancel), _CHUNK):
        await session.execute(
            update(Delivery)
            .where(
                Delivery.id.in_(cancel[start : start + _CHUNK]),
                Delivery.status == DeliveryStatus.PENDING,
            )
            .values(status=DeliveryStatus.CANCELLED, reason=DUPLICATE_REASON, updated_at=now)
        )
    # What is left is history whose key the kept patient holds: keep it under its own key.
    await session.execute(
        update(Delivery)
        .where(Delivery.patient_id == merged_id)
        .values(
            patient_id=kept_id,
            key=Delivery.key + ":merged:" + cast(Delivery.id, String),
        )
    )
    return dropped


async def _drop_replanned_twins(
    session: AsyncSession,
    statuses: dict[int, str],
    targets: dict[int, str],
    taken: dict[str, tuple[int, str, str | None]],
) -> int:
    """Drop the kept patient's replanned-away twins of pending rows; return how many.

    `taken` loses the twins dropped, so their pending rows move under the key.
    """
    stale: list[int] = []
    for ident, status in statuses.items():
        twin = taken.get(targets[ident])
        if (
            status == DeliveryStatus.PENDING
            and twin is not None
            and twin[0] != ident
            and twin[1] == DeliveryStatus.CANCELLED
            and twin[2] == _REPLANNED
        ):
            stale.append(twin[0])
    gone: set[int] = set()
    for start in range(0, len(stale), _CHUNK):
        chunk = stale[start : start + _CHUNK]
        await session.execute(
            delete(Delivery).where(
                Delivery.id.in_(chunk),
                Delivery.status == DeliveryStatus.CANCELLED,
                Delivery.reason == _REPLANNED,
            )
        )
        left = set(await session.scalars(select(Delivery.id).where(Delivery.id.in_(chunk))))
        gone.update(set(chunk) - left)
    for key in [key for key, (ident, _, _) in taken.items() if ident in gone]:
        del taken[key]
    return len(gone)
