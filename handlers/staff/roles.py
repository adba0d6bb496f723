"""Who is staff: roles checked on every call, bootstrapped from settings, changes audited."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AuditEntry, Staff, StaffRole

__all__ = ["add_staff", "audit", "bootstrap_staff", "list_staff", "remove_staff", "staff_role"]


async def audit(
    session: AsyncSession,
    actor: str,
    action: str,
    now: datetime,
    target: str | None = None,
    detail: str | None = None,
) -> None:
    """Record who did what to whom (ids only, never message text)."""
    session.add(
        AuditEntry(actor=actor, action=action, target=target, detail=detail, created_at=now)
    )


async def staff_role(session: AsyncSession, telegram_user_id: int) -> StaffRole | None:
    """Return the role of an active staff member, or None for everyone else."""
    role = await session.scalar(
        select(Staff.role).where(
            Staff.telegram_user_id == telegram_user_id, Staff.active.is_(True)
        )
    )
    return StaffRole(role) if role is not None else None


async def add_staff(
    session: AsyncSession,
    telegram_user_id: int,
    role: StaffRole,
    *,
    actor: str,
    now: datetime,
    name: str | None = None,
) -> None:
    """Add a staff member or change their role, and audit it."""
    found = await session.scalar(select(Staff).where(Staff.telegram_user_id == telegram_user_id))
    if found is None:
        session.add(
            Staff(
                telegram_user_id=telegram_user_id,
                name=name,
                role=role,
                active=True,
                created_at=now,
            )
        )
    else:
        found.role, found.active = role, True
        found.name = name or found.name
    await audit(session, actor, "staff.add", now, target=f"staff:{telegram_user_id}", detail=role)


async def remove_staff(
    session: AsyncSession, telegram_user_id: int, *, actor: str, now: datetime
) -> bool:
    """Deactivate a staff member (kept for the audit trail); False if unknown."""
    found = await session.scalar(select(Staff).where(Staff.telegram_user_id == telegram_user_id))
    if found is None or not found.active:
        return False
    found.active = False
    await audit(session, actor, "staff.remove", now, target=f"staff:{telegram_user_id}")
    return True


async def list_staff(session: AsyncSession) -> list[Staff]:
    """Return active staff, admins first."""
    rows = await session.execute(
        select(Staff).where(Staff.active.is_(True)).order_by(Staff.role, Staff.telegram_user_id)
    )
    return list(rows.scalars())


async def bootstrap_staff(
    session: AsyncSession, telegram_user_ids: Iterable[int], now: datetime
) -> int:
    """Make the ids in STAFF_TELEGRAM_IDS admins if they are not staff yet; return how many."""
    added = 0
    for user_id in telegram_user_ids:
        exists = await session.scalar(select(Staff.id).where(Staff.telegram_user_id == user_id))
        if exists is None:
            await add_staff(session, user_id, StaffRole.ADMIN, actor="settings", now=now)
            added += 1
    return added
