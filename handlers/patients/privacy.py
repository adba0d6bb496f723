"""What the clinic holds about a patient: export it as JSON, or erase it after confirmation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.dedupe import first_delivery
from bot.db.models import Base, Patient
from content.store import ContentStore
from handlers.messages import OutboundMessage
from handlers.staff.roles import audit
from handlers.wording import option, say

__all__ = [
    "FORGET_NO",
    "FORGET_TTL",
    "FORGET_YES",
    "confirm_forget",
    "export",
    "export_json",
    "forget",
    "forget_button",
    "forget_confirmed",
    "forget_key",
]

FORGET_YES = "forget:yes"  # followed by ":<expiry>:<mac>", see forget_button
FORGET_NO = "forget:no"
FORGET_TTL = timedelta(minutes=10)


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


def forget_key(secret: str) -> bytes:
    """Derive the key that signs erase buttons from a server secret (the bot's token)."""
    return hashlib.sha256(b"clinicbot/forget-button/" + secret.encode()).digest()


def _mac(key: bytes, address: str, patient: Patient, expires: int) -> str:
    # The patient's id and creation time: a record made later (even with a reused id) does
    # not match, so a button erases at most the record it was offered for, once.
    created = int(patient.created_at.timestamp() * 1_000_000)
    message = f"{address}|{patient.id}|{created}|{expires}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()[:15]
    return base64.urlsafe_b64encode(digest).decode()


def forget_button(key: bytes, address: str, patient: Patient, now: datetime) -> str:
    """Return the "erase" button's data: signed for this address and record, valid FORGET_TTL."""
    expires = int((now + FORGET_TTL).timestamp())
    return f"{FORGET_YES}:{expires:x}:{_mac(key, address, patient, expires)}"  # < 64 bytes


async def forget_confirmed(
    session: AsyncSession,
    payload: str,
    key: bytes,
    *,
    address: str,
    patient: Patient,
    now: datetime,
) -> bool:
    """Say whether an "erase" button is one we offered this chat and record, fresh and unused.

    A forged, altered, expired, other chat's or already used button is refused (the patient is
    asked to send /forget again). Using one records it (in processed_updates, like a webhook
    delivery), so it works once.
    """
    parts = payload.split(":")
    if len(parts) != 4 or ":".join(parts[:2]) != FORGET_YES:
        return False
    try:
        expires = int(parts[2], 16)
    except ValueError:
        return False
    fresh = now.timestamp() < expires <= (now + FORGET_TTL).timestamp()
    if not (fresh and hmac.compare_digest(parts[3], _mac(key, address, patient, expires))):
        return False
    return await first_delivery(session, "forget-button", parts[3], now=now)


def confirm_forget(content: ContentStore, lang: str, yes: str) -> OutboundMessage:
    """Ask the patient to confirm erasing their data; `yes` is the erase button's data."""
    options = (
        option(content, "privacy_forget_yes", lang, yes),
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
