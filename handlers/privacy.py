"""What the clinic holds about a patient: export it as JSON, or erase it after confirmation."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, delete, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Base, Patient
from content.store import ContentStore
from handlers.messages import OutboundMessage
from handlers.staff import audit
from handlers.wording import option, say

__all__ = ["FORGET_NO", "FORGET_YES", "confirm_forget", "export", "export_json", "forget"]

FORGET_YES = "forget:yes"
FORGET_NO = "forget:no"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


async def _patient_tables(session: AsyncSession) -> list[Table]:
    # Every table that holds rows about a patient, present in this database's schema, so a
    # table added later is exported and erased without touching this module.
    connection = await session.connection()
    existing = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    return [
        table
        for table in Base.metadata.sorted_tables
        if "patient_id" in table.c and table.name in existing
    ]


async def export(session: AsyncSession, patient_id: int) -> dict[str, Any]:
    """Return every row the clinic holds about a patient, table by table."""
    patient = await session.get(Patient, patient_id)
    if patient is None:
        return {}
    data: dict[str, Any] = {
        "patient": {
            column.key: _plain(getattr(patient, column.key))
            for column in Patient.__table__.columns
        }
    }
    for table in await _patient_tables(session):
        rows = await session.execute(
            select(table).where(table.c.patient_id == patient_id).order_by(*table.primary_key)
        )
        data[table.name] = [
            {key: _plain(value) for key, value in row._mapping.items()} for row in rows
        ]
    return data


def export_json(data: dict[str, Any]) -> bytes:
    """Encode an export as readable UTF-8 JSON."""
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")


def confirm_forget(content: ContentStore, lang: str) -> OutboundMessage:
    """Ask the patient to confirm erasing their data."""
    options = (
        option(content, "privacy_forget_yes", lang, FORGET_YES),
        option(content, "privacy_forget_no", lang, FORGET_NO),
    )
    return say(content, "privacy_forget_confirm", lang, options=options)


async def forget(session: AsyncSession, patient_id: int, *, actor: str, now: datetime) -> int:
    """Erase a patient and everything about them; audit-log it; return the rows removed."""
    removed = 0
    for table in reversed(await _patient_tables(session)):
        count = await session.scalar(
            select(func.count()).select_from(table).where(table.c.patient_id == patient_id)
        )
        removed += count or 0
        await session.execute(delete(table).where(table.c.patient_id == patient_id))
    await session.execute(delete(Patient).where(Patient.id == patient_id))
    removed += 1
    await audit(session, actor, "patient.erased", now, f"patient:{patient_id}", f"rows={removed}")
    return removed
