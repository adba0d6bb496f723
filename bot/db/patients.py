"""Queries about patients: finding them by address, consent, message log and safety events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Address,
    Consent,
    ConsentCategory,
    ConsentEvent,
    MessageLog,
    Patient,
    SafetyEvent,
)
from bot.db.upsert import insert_for
from scheduler.state import request_tip_replan

__all__ = [
    "LogEntry",
    "consents_of",
    "find_or_create_patient",
    "log_message",
    "log_messages",
    "reachable_again",
    "record_safety_event",
    "set_consent",
    "urn_scheme",
]


def urn_scheme(urn: str) -> str:
    """Return the scheme of an address URN ("telegram", "tel", "cli"); ValueError if malformed."""
    scheme, sep, path = urn.partition(":")
    if not sep or not scheme.isalpha() or not path:
        raise ValueError(f"not an address URN: {scheme or urn[:16]!r}")
    return scheme


def reachable_again(address: Address) -> None:
    """Mark an address reachable: the patient wrote from it, so we may write back."""
    if not address.reachable:
        address.reachable, address.unreachable_reason = True, None


# Built once: every inbound message runs this lookup, and building it costs more than running it.
_BY_URN = select(Address, Patient).join(Patient).where(Address.urn == bindparam("urn"))
# The same, locking both rows to the end of the transaction (PostgreSQL; SQLite's writer lock
# already serializes): a second message from the patient waits, then reads what the first
# left, so STOP and START at once are applied one after the other, never interleaved.
_BY_URN_LOCKED = _BY_URN.with_for_update()


async def find_or_create_patient(
    session: AsyncSession,
    urn: str,
    *,
    now: datetime,
    name: str | None = None,
    lock: bool = False,
    language: str | None = None,
) -> tuple[Patient, Address, bool]:
    """Return the patient and address for a URN, creating both on first contact.

    `lock=True` holds the patient's row until the transaction ends, so one patient's messages
    are handled one at a time. A patient created here starts with `language` remembered.
    """
    scheme = urn_scheme(urn)
    by_urn = _BY_URN_LOCKED if lock else _BY_URN
    row = (await session.execute(by_urn, {"urn": urn})).first()
    if row is not None:
        return row.Patient, row.Address, False
    patient = Patient(name=name, language=language, created_at=now, updated_at=now)
    address = Address(urn=urn, scheme=scheme, reachable=True, created_at=now, patient=patient)
    if session.get_bind().dialect.name == "sqlite":
        # Every SQLite transaction here begins IMMEDIATE (bot.db.engine): it has held the one
        # write lock since before the select, so no other writer can have added this address
        # since, and the savepoint (two more round trips) would guard against nothing.
        session.add_all([patient, address])
        await session.flush()
        return patient, address, True
    try:
        async with session.begin_nested():
            session.add_all([patient, address])
    except IntegrityError:
        # Another request created this address between our select and insert.
        row = (await session.execute(by_urn, {"urn": urn})).one()
        return row.Patient, row.Address, False
    return patient, address, True


async def set_consent(
    session: AsyncSession,
    patient_id: int,
    category: ConsentCategory,
    *,
    granted: bool,
    source: str,
    now: datetime,
) -> None:
    """Record a patient's yes or no for one category, keeping the history.

    One upsert on (patient, category): two messages at once (YES and STOP) both land, the
    later commit winning, instead of the second failing on the unique key.
    """
    values = {"granted": granted, "source": source, "recorded_at": now}
    statement = insert_for(session, Consent).values(
        patient_id=patient_id, category=category, **values
    )
    await session.execute(
        statement.on_conflict_do_update(index_elements=["patient_id", "category"], set_=values)
    )
    event = ConsentEvent(patient_id=patient_id, category=category, granted=granted, source=source)
    event.recorded_at = now
    session.add(event)
    if category == ConsentCategory.TIPS and granted:  # tips start now, not a day later
        await request_tip_replan(session, patient_id, now)


async def consents_of(session: AsyncSession, patient_id: int) -> dict[ConsentCategory, bool]:
    """Return the patient's current consent per category (absent means never asked)."""
    rows = await session.execute(
        select(Consent.category, Consent.granted).where(Consent.patient_id == patient_id)
    )
    return {ConsentCategory(category): granted for category, granted in rows}


@dataclass(frozen=True)
class LogEntry:
    """One message for the log (`body` only when the clinic stores bodies)."""

    patient_id: int | None
    direction: str
    channel: str
    status: str
    kind: str | None = None
    topic: str | None = None
    external_id: str | None = None
    body: str | None = None


_LOG_INSERT = insert(cast(Table, MessageLog.__table__))


async def log_messages(
    session: AsyncSession, entries: Sequence[LogEntry], *, now: datetime
) -> None:
    """Add messages to the log in one statement (a message in and its reply, say)."""
    rows = [
        {
            "patient_id": entry.patient_id,
            "direction": entry.direction,
            "channel": entry.channel,
            "kind": entry.kind,
            "topic": entry.topic,
            "status": entry.status,
            "external_id": entry.external_id,
            "body": entry.body,
            "created_at": now,
        }
        for entry in entries
    ]
    if rows:
        # Core, every column given (None as NULL): the rows share one statement and one
        # round trip, where the ORM's bulk insert splits them by which columns are None.
        await session.execute(_LOG_INSERT, rows)


async def log_message(
    session: AsyncSession,
    *,
    patient_id: int | None,
    direction: str,
    channel: str,
    status: str,
    now: datetime,
    kind: str | None = None,
    topic: str | None = None,
    external_id: str | None = None,
    body: str | None = None,
) -> None:
    """Add one message to the log (pass `body` only when the clinic stores bodies)."""
    entry = LogEntry(patient_id, direction, channel, status, kind, topic, external_id, body)
    await log_messages(session, [entry], now=now)


async def record_safety_event(
    session: AsyncSession,
    *,
    patient_id: int,
    category: str,
    rule: str,
    channel: str,
    now: datetime,
) -> None:
    """Record that a patient's message raised a red flag (never the message itself)."""
    session.add(
        SafetyEvent(
            patient_id=patient_id, category=category, rule=rule, channel=channel, created_at=now
        )
    )
