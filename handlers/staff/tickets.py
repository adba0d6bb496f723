"""Tickets: one open hand-off per patient, opened and closed with an audit trail."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Address, Ticket, TicketPost, TicketStatus
from handlers.channels import CHANNELS, scheme_of
from handlers.messages import Channel
from handlers.staff.roles import audit

__all__ = ["close_ticket", "open_ticket", "open_ticket_of", "reply_address", "ticket_posts_of"]

# Insert attempts before giving up: each failed one means another request won the race.
_ATTEMPTS = 3


async def open_ticket_of(session: AsyncSession, patient_id: int) -> Ticket | None:
    """Return the patient's open ticket, if any."""
    found: Ticket | None = await session.scalar(
        select(Ticket)
        .where(Ticket.patient_id == patient_id, Ticket.status == TicketStatus.OPEN)
        .order_by(Ticket.id)
        .limit(1)
    )
    return found


async def _channel_of(session: AsyncSession, patient_id: int) -> str:
    schemes = set(
        await session.scalars(select(Address.scheme).where(Address.patient_id == patient_id))
    )
    # Staff answer where the patient chats: the first channel, in CHANNELS' order, they use.
    return next((c.channel for c in CHANNELS.values() if c.scheme in schemes), Channel.CLI)


async def open_ticket(
    session: AsyncSession,
    patient_id: int,
    *,
    reason: str,
    channel: str | None,
    now: datetime,
) -> tuple[Ticket, bool]:
    """Return the patient's open ticket, opening one if there is none; True if it is new.

    Safe when two messages from the patient arrive at once: the database allows one open
    ticket per patient (index ix_tickets_patient_open), so the insert that loses the race
    fails inside its savepoint, and the winner's ticket is read and returned instead.
    """
    error: IntegrityError | None = None
    for _ in range(_ATTEMPTS):
        found = await open_ticket_of(session, patient_id)
        if found is not None:
            return found, False
        ticket = Ticket(
            patient_id=patient_id,
            status=TicketStatus.OPEN,
            reason=reason,
            channel=channel or await _channel_of(session, patient_id),
            opened_at=now,
        )
        try:
            async with session.begin_nested():
                session.add(ticket)  # flushed on leaving the savepoint: the number staff see
        except IntegrityError as exc:
            # Another request opened the patient's ticket between our select and insert
            # (or closed it again before we could read it: then try once more).
            error = exc
            continue
        await audit(session, f"patient:{patient_id}", "ticket.opened", now, f"ticket:{ticket.id}")
        return ticket, True
    assert error is not None
    raise error


async def close_ticket(
    session: AsyncSession,
    ticket_id: int,
    *,
    actor: str,
    now: datetime,
    detail: str | None = None,
) -> Ticket | None:
    """Close an open ticket and audit it; None if there is no such open ticket.

    The update checks the ticket is still open, so two closes at once close it (and audit it)
    once.
    """
    result = await session.execute(
        update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.status == TicketStatus.OPEN)
        .values(status=TicketStatus.CLOSED, closed_at=now, closed_by=actor)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    await audit(session, actor, "ticket.closed", now, target=f"ticket:{ticket_id}", detail=detail)
    return await session.get(Ticket, ticket_id)


async def reply_address(session: AsyncSession, ticket: Ticket) -> str | None:
    """Return the address URN a staff answer to this ticket goes to (the patient's channel)."""
    scheme = scheme_of(Channel(ticket.channel))
    urn: str | None = await session.scalar(
        select(Address.urn)
        .where(Address.patient_id == ticket.patient_id, Address.scheme == scheme)
        .order_by(Address.id.desc())
        .limit(1)
    )
    return urn


async def ticket_posts_of(session: AsyncSession, patient_id: int) -> list[tuple[int, int, int]]:
    """Return (ticket id, chat id, message id) of every staff-group post about the patient.

    Read before an erasure: the posts carry the patient's words, and their rows go with the
    tickets.
    """
    rows = await session.execute(
        select(TicketPost.ticket_id, TicketPost.chat_id, TicketPost.message_id)
        .join(Ticket, Ticket.id == TicketPost.ticket_id)
        .where(Ticket.patient_id == patient_id)
        .order_by(TicketPost.id)
    )
    return [(int(t), int(c), int(m)) for t, c, m in rows]
