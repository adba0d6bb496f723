"""Link a shared phone number to a patient, joining the record the clinic already has for it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, cast, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Address,
    AuditEntry,
    Consent,
    ConsentEvent,
    Delivery,
    DeliveryStatus,
    MessageLog,
    PainScore,
    Patient,
    ReminderPreference,
    SafetyEvent,
)
from handlers.phone import InvalidPhoneNumberError, tel_urn

__all__ = ["DUPLICATE_REASON", "link_phone"]

# Rows that move to the surviving record as they are; consents and preferences (one per
# category) replace the older record's, since the patient has just chosen them. Deliveries
# (the outbox) move too, but by `_move_deliveries`: their keys name the patient.
_MOVED = (Address, ConsentEvent, MessageLog, SafetyEvent, PainScore)
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
_CHUNK = 500  # ids per IN (...) list, well under SQLite's bound-parameter limit


async def link_phone(
    session: AsyncSession, patient: Patient, raw_phone: str, *, region: str, now: datetime
) -> Patient | None:
    """Add the number to the patient, merging into the record that already has it.

    Return the patient that now holds the chat (the older record after a merge), or None when
    the number is not a valid phone number. A merge moves everything the chat's record has:
    addresses, consents, preferences, history, logs, safety events, pain scores and its
    outbox rows (see `_move_deliveries` for a message planned for both records).
    """
    try:
        urn = tel_urn(raw_phone, region)
    except InvalidPhoneNumberError:
        return None
    await session.flush()
    owner = await session.scalar(
        select(Patient).join(Address).where(Address.urn == urn, Patient.id != patient.id)
    )
    if owner is None:
        if await session.scalar(select(Address.id).where(Address.urn == urn)) is None:
            session.add(
                Address(
                    patient_id=patient.id, urn=urn, scheme="tel", reachable=True, created_at=now
                )
            )
        return patient
    for model in _REPLACED:
        await session.execute(
            delete(model).where(
                model.patient_id == owner.id,
                model.category.in_(select(model.category).where(model.patient_id == patient.id)),
            )
        )
    await session.flush()
    dropped = await _move_deliveries(session, patient.id, owner.id, now=now)
    for moved in (*_MOVED, *_REPLACED):
        await session.execute(
            update(moved).where(moved.patient_id == patient.id).values(patient_id=owner.id)
        )
    owner.name = owner.name or patient.name
    owner.language = patient.language or owner.language
    owner.timezone = patient.timezone or owner.timezone
    owner.onboarding_step = patient.onboarding_step
    owner.updated_at = now
    await session.execute(delete(Patient).where(Patient.id == patient.id))
    session.add(
        AuditEntry(
            actor=f"patient:{owner.id}",
            action="patient.merged",
            target=f"patient:{owner.id}",
            detail=f"from=patient:{patient.id} via=shared_contact"
            + (f" deliveries_dropped={dropped}" if dropped else ""),
            created_at=now,
        )
    )
    return owner


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
    taken: dict[str, tuple[int, str]] = {}
    wanted = sorted(set(targets.values()))
    for start in range(0, len(wanted), _CHUNK):
        found = await session.execute(
            select(Delivery.key, Delivery.id, Delivery.status).where(
                Delivery.key.in_(wanted[start : start + _CHUNK])
            )
        )
        taken.update({key: (ident, status) for key, ident, status in found})
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
    dropped = 0
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
