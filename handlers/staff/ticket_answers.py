"""A staff answer to a handed-off conversation, from the staff group or the console.

The answer goes to the patient's own channel through a checked sender
(handlers.delivery.sending), so a patient who stopped or was erased is not written to; it is
audited, and the sender records it in the message log like every other message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from bot.db.models import Patient, Ticket, TicketStatus
from bot.db.session import Database
from handlers.delivery.outcomes import SendStatus
from handlers.delivery.sending import Transport
from handlers.messages import OutboundMessage, ReplyKind
from handlers.staff.roles import audit
from handlers.staff.tickets import reply_address

__all__ = ["CLOSED", "NO_CHANNEL", "answer_ticket"]

log = logging.getLogger(__name__)

CLOSED = "closed"  # the ticket is not open (closed meanwhile, or never existed)
NO_CHANNEL = "no_channel"  # the patient has no address this process can send to


async def answer_ticket(
    db: Database,
    senders: Mapping[str, Transport],
    ticket_id: int,
    text: str,
    *,
    actor: str,
    now: datetime,
) -> str:
    """Send `text` to an open ticket's patient; return "sent", CLOSED, NO_CHANNEL or why not
    ("opted_out", "erased", a provider's failure).

    `senders` are checked senders by address scheme. Every attempt but a closed ticket is
    audited as `ticket.replied` with its status.
    """
    async with db.session() as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None or ticket.status != TicketStatus.OPEN:
            return CLOSED
        urn = await reply_address(session, ticket)
        patient = await session.get(Patient, ticket.patient_id)
    sender = senders.get(urn.partition(":")[0]) if urn else None
    if urn is None or sender is None:
        status = NO_CHANNEL
    else:
        lang = (patient.language if patient else None) or "en"
        answer = OutboundMessage(text=text, sms=text, kind=ReplyKind.HUMAN, lang=lang)
        outcome = await sender.send(urn, answer)
        refused = outcome.status == SendStatus.WITHDRAWN and outcome.error
        status = outcome.error if refused and outcome.error else str(outcome.status)
    async with db.session() as session, session.begin():
        await audit(session, actor, "ticket.replied", now, f"ticket:{ticket_id}", detail=status)
    log.info("staff answer: ticket=%s status=%s", ticket_id, status)
    return status
