"""The bulk reads and writes of an import batch: a few statements for any number of rows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Address, Appointment, Base, Patient
from bot.db.patients import urn_scheme
from scheduler.import_rows import AppointmentRow

__all__ = ["Person", "existing_appointments", "new_ids", "people_of"]

LOOKUP_CHUNK = 500


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), LOOKUP_CHUNK):
        yield items[start : start + LOOKUP_CHUNK]


async def existing_appointments(
    session: AsyncSession, uids: Sequence[str]
) -> dict[str, Appointment]:
    """Return the stored appointments with these UIDs, by UID."""
    found: dict[str, Appointment] = {}
    for chunk in _chunks(uids):
        query = select(Appointment).where(Appointment.external_uid.in_(chunk))
        for appointment in (await session.execute(query)).scalars():
            found[appointment.external_uid or ""] = appointment
    return found


async def new_ids(session: AsyncSession, table: type[Base], count: int) -> list[int] | None:
    """On SQLite, return ids for `count` new rows of `table`, so that inserting them is one
    executemany instead of one INSERT ... RETURNING each (SQLite does not promise the order of
    a multi-row RETURNING, so SQLAlchemy falls back to a statement per row). None elsewhere.

    Safe because every SQLite transaction here begins IMMEDIATE: no other writer can take
    the ids after max(id) before this transaction commits.
    """
    if session.get_bind().dialect.name != "sqlite":
        return None
    if not count:
        return []
    top = (await session.execute(select(func.max(table.__table__.c.id)))).scalar() or 0
    return list(range(top + 1, top + 1 + count))


async def _insert(
    session: AsyncSession, table: type[Base], values: list[dict[str, Any]]
) -> list[int]:
    """Insert rows in a few statements and return their ids, in order."""
    if not values:
        return []
    ids = await new_ids(session, table, len(values))
    if ids is None:  # PostgreSQL: one batched INSERT ... RETURNING, in parameter order
        statement = insert(table).returning(table.__table__.c.id, sort_by_parameter_order=True)
        return list(await session.scalars(statement, values))
    await session.execute(
        insert(table), [{**v, "id": i} for v, i in zip(values, ids, strict=True)]
    )
    return ids


@dataclass(frozen=True)
class Person:
    """What an import needs of a row's patient."""

    id: int
    timezone: str | None


async def people_of(
    session: AsyncSession, rows: Sequence[AppointmentRow], now: datetime
) -> dict[str, Person]:
    """Return the patient of every row's address, creating the new ones, in a few statements.

    A patient's name is the first name the rows give, stored when they have none yet.
    """
    names: dict[str, str] = {}
    for row in rows:
        if row.name:
            names.setdefault(row.urn, row.name)
    urns = list(dict.fromkeys(row.urn for row in rows))
    found: dict[str, Person] = {}
    for chunk in _chunks(urns):
        query = select(Address.urn, Patient).join(Patient).where(Address.urn.in_(chunk))
        for urn, patient in await session.execute(query):
            found[urn] = Person(patient.id, patient.timezone)
            if patient.name is None and urn in names:
                patient.name, patient.updated_at = names[urn], now
    new = [urn for urn in urns if urn not in found]
    values = [{"name": names.get(urn), "created_at": now, "updated_at": now} for urn in new]
    patient_ids = await _insert(session, Patient, values)
    addresses = [
        {
            "patient_id": ident,
            "urn": urn,
            "scheme": urn_scheme(urn),
            "reachable": True,
            "created_at": now,
        }
        for urn, ident in zip(new, patient_ids, strict=True)
    ]
    await _insert(session, Address, addresses)
    found.update((urn, Person(ident, None)) for urn, ident in zip(new, patient_ids, strict=True))
    return found
