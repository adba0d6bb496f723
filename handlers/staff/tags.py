"""Patient tags for choosing an announcement's audience: add, remove, list; changes audited."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Address, PatientTag
from bot.db.upsert import insert_for
from handlers.staff.audience import AudienceError, parse_audience
from handlers.staff.roles import audit

__all__ = ["TagError", "add_tag", "list_tags", "remove_tag"]


class TagError(ValueError):
    """A tag request that cannot be done; the message is one line for staff."""


def _clean(tag: str) -> str:
    try:
        [cleaned] = parse_audience(f"tag={tag}").tags
    except (AudienceError, ValueError):
        raise TagError(f"bad tag {tag!r}: one word of letters, digits, - or _") from None
    return cleaned


async def _patient_id(session: AsyncSession, urn: str) -> int:
    patient_id = await session.scalar(select(Address.patient_id).where(Address.urn == urn))
    if patient_id is None:
        raise TagError(f"no patient has the address {urn.partition(':')[0]}:…")
    return patient_id


async def add_tag(session: AsyncSession, urn: str, tag: str, *, actor: str, now: datetime) -> bool:
    """Tag the patient with this address; False if they already had the tag."""
    cleaned, patient_id = _clean(tag), await _patient_id(session, urn)
    # One upsert: two staff tagging at once both succeed, and the tag is stored once.
    statement = insert_for(session, PatientTag).values(patient_id=patient_id, tag=cleaned)
    added = await session.execute(
        statement.on_conflict_do_nothing(index_elements=["patient_id", "tag"]).returning(
            PatientTag.id
        )
    )
    if added.first() is None:
        return False
    await audit(session, actor, "tag.add", now, target=f"patient:{patient_id}", detail=cleaned)
    return True


async def remove_tag(
    session: AsyncSession, urn: str, tag: str, *, actor: str, now: datetime
) -> bool:
    """Remove a tag from the patient with this address; False if they did not have it."""
    cleaned, patient_id = _clean(tag), await _patient_id(session, urn)
    result = await session.execute(
        delete(PatientTag).where(PatientTag.patient_id == patient_id, PatientTag.tag == cleaned)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await audit(session, actor, "tag.remove", now, target=f"patient:{patient_id}", detail=cleaned)
    return True


async def list_tags(session: AsyncSession, urn: str | None = None) -> list[tuple[int, str]]:
    """Return (patient id, tag) pairs, for one address or for everyone."""
    query = select(PatientTag.patient_id, PatientTag.tag).order_by(
        PatientTag.patient_id, PatientTag.tag
    )
    if urn is not None:
        query = query.where(PatientTag.patient_id == await _patient_id(session, urn))
    return [(int(pid), str(tag)) for pid, tag in await session.execute(query)]
