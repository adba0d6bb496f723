"""Sign-in links and sessions: tokens given once, only their SHA-256 stored, checked each time."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.console.models import ConsoleLink, ConsoleSession
from bot.db.models import AuditEntry, Staff, StaffRole
from handlers.staff.roles import audit

__all__ = [
    "LINK_LIFETIME",
    "SessionPolicy",
    "SignedIn",
    "issue_link",
    "redeem_link",
    "revoke_session",
    "session_of",
    "sign_in_url",
    "token_hash",
]

LINK_LIFETIME = timedelta(minutes=5)
_TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often


def sign_in_url(base: str, token: str) -> str:
    """Return the sign-in link for a token."""
    return f"{base.rstrip('/')}/console/signin?t={token}"


def token_hash(token: str) -> str:
    """Return the hex SHA-256 of a token: all the database ever holds of it."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lasts without use (idle) and at most (absolute)."""

    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)


@dataclass(frozen=True)
class SignedIn:
    """The staff member behind a request."""

    session_id: int
    telegram_user_id: int
    role: StaffRole
    name: str

    @property
    def actor(self) -> str:
        """Return the audit actor, as the staff group's commands write it."""
        return f"staff:{self.telegram_user_id}"

    @property
    def is_admin(self) -> bool:
        """Say whether they may manage staff."""
        return self.role is StaffRole.ADMIN


async def _active_staff(session: AsyncSession, telegram_user_id: int) -> Staff | None:
    found: Staff | None = await session.scalar(
        select(Staff).where(Staff.telegram_user_id == telegram_user_id, Staff.active.is_(True))
    )
    return found


async def issue_link(
    session: AsyncSession, telegram_user_id: int, *, now: datetime, actor: str
) -> str | None:
    """Store a new single-use sign-in token for an active staff member; return it, or None."""
    if await _active_staff(session, telegram_user_id) is None:
        return None
    token = secrets.token_urlsafe(32)
    session.add(
        ConsoleLink(
            token_hash=token_hash(token),
            telegram_user_id=telegram_user_id,
            created_at=now,
            expires_at=now + LINK_LIFETIME,
        )
    )
    await audit(session, actor, "console.link", now, target=f"staff:{telegram_user_id}")
    return token


async def redeem_link(
    session: AsyncSession, token: str, *, now: datetime, policy: SessionPolicy
) -> tuple[str, SignedIn] | None:
    """Spend a sign-in token and open a session; return (cookie token, who), or None.

    The update that marks the link used checks it is unused and unexpired, so a link opened
    twice at once signs in once.
    """
    digest = token_hash(token)
    used = await session.execute(
        update(ConsoleLink)
        .where(
            ConsoleLink.token_hash == digest,
            ConsoleLink.used_at.is_(None),
            ConsoleLink.expires_at > now,
        )
        .values(used_at=now)
        .returning(ConsoleLink.telegram_user_id)
    )
    user_id = used.scalar()
    if user_id is None:
        return None
    staff = await _active_staff(session, int(user_id))
    if staff is None:
        return None
    cookie = secrets.token_urlsafe(32)
    row = ConsoleSession(
        token_hash=token_hash(cookie),
        telegram_user_id=staff.telegram_user_id,
        role=staff.role,
        created_at=now,
        last_seen_at=now,
        expires_at=now + policy.absolute,
    )
    session.add(row)
    await session.flush()
    await audit(session, f"staff:{staff.telegram_user_id}", "console.signin", now)
    name = staff.name or str(staff.telegram_user_id)
    return cookie, SignedIn(row.id, staff.telegram_user_id, StaffRole(staff.role), name)


async def _changed_since(session: AsyncSession, staff: Staff, since: datetime) -> bool:
    """Say whether the member was removed or re-added since `since` (the audit trail says).

    Removed and added back before their next request, the role reads the same: the audit
    entry is what tells that the session belongs to the earlier membership.
    """
    found = await session.scalar(
        select(AuditEntry.id)
        .where(
            AuditEntry.created_at > since,
            AuditEntry.target == f"staff:{staff.telegram_user_id}",
            AuditEntry.action.in_(("staff.add", "staff.remove")),
        )
        .limit(1)
    )
    return found is not None


async def session_of(
    session: AsyncSession, cookie: str, *, now: datetime, policy: SessionPolicy
) -> SignedIn | None:
    """Return who holds this session cookie, or None; revoke it if it should no longer work.

    The staff row is read on every request, so a removed member or a changed role ends the
    session at once (the session keeps the role it was granted).
    """
    row = await session.scalar(
        select(ConsoleSession).where(
            ConsoleSession.token_hash == token_hash(cookie), ConsoleSession.revoked_at.is_(None)
        )
    )
    if row is None:
        return None
    staff = await _active_staff(session, row.telegram_user_id)
    why = None
    if staff is None:
        why = "staff_removed"
    elif staff.role != row.role or await _changed_since(session, staff, row.created_at):
        why = "role_changed"
    elif now >= row.expires_at:
        why = "expired"
    elif now - row.last_seen_at >= policy.idle:
        why = "idle"
    if why is not None or staff is None:
        row.revoked_at, row.revoked_why = now, why
        return None
    if now - row.last_seen_at >= _TOUCH_EVERY:
        row.last_seen_at = now
    name = staff.name or str(staff.telegram_user_id)
    return SignedIn(row.id, staff.telegram_user_id, StaffRole(staff.role), name)


async def revoke_session(session: AsyncSession, session_id: int, *, now: datetime) -> None:
    """Revoke one session (sign-out)."""
    await session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.id == session_id, ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_why="signed_out")
    )
