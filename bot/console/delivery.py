"""Staff answers from the console reach the patient as the staff group's replies do."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from bot.app import Services
from bot.channels.base import SendOutcome, SendStatus
from bot.db.models import Patient, Ticket, TicketStatus
from bot.db.patients import log_message
from handlers.messages import OutboundMessage, ReplyKind
from handlers.staff.roles import audit
from handlers.staff.tickets import close_ticket, reply_address
from handlers.wording import say

__all__ = ["Sender", "close_and_tell", "patient_senders", "reply_to_ticket"]

log = logging.getLogger(__name__)


class Sender(Protocol):
    """What answers a patient on one channel."""

    async def send(self, urn: str, message: OutboundMessage) -> SendOutcome: ...


class _AsReply:
    """SMS answers go as replies (the patient wrote to us): no quiet hours, as in the group."""

    def __init__(self, sender: Any) -> None:
        self._sender = sender

    async def send(self, urn: str, message: OutboundMessage) -> SendOutcome:
        outcome: SendOutcome = await self._sender.send(urn, message, reply=True)
        return outcome


def patient_senders(state: Any) -> dict[str, Sender]:
    """Return the senders by address scheme for the channels this process runs."""
    senders: dict[str, Sender] = {}
    telegram = getattr(state, "telegram", None)
    if telegram is not None:
        senders["telegram"] = telegram.sender()
    sms = getattr(state, "sms", None)
    if sms is not None:
        senders["tel"] = _AsReply(sms.sender)
    return senders


async def reply_to_ticket(
    services: Services, senders: dict[str, Sender], ticket_id: int, text: str, actor: str
) -> str:
    """Send a staff answer to an open ticket's patient on their channel; return the status."""
    now = services.conversation.clock()
    async with services.db.session() as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None or ticket.status != TicketStatus.OPEN:
            return "closed"
        urn = await reply_address(session, ticket)
        patient = await session.get(Patient, ticket.patient_id)
    scheme = urn.partition(":")[0] if urn else ""
    sender = senders.get(scheme)
    if urn is None or sender is None:
        status = "no_channel"
    else:
        lang = (patient.language if patient else None) or "en"
        answer = OutboundMessage(text=text, sms=text, kind=ReplyKind.HUMAN, lang=lang)
        status = str((await sender.send(urn, answer)).status)
    async with services.db.session() as session, session.begin():
        await audit(session, actor, "ticket.replied", now, f"ticket:{ticket_id}", detail=status)
        if status == SendStatus.SENT:
            body = text if services.settings.store_message_bodies else None
            await log_message(
                session,
                patient_id=ticket.patient_id,
                direction="out",
                channel="sms" if scheme == "tel" else scheme,
                status=status,
                now=now,
                kind="staff",
                body=body,
            )
    log.info("console answer: ticket=%s status=%s", ticket_id, status)
    return status


async def close_and_tell(
    services: Services, senders: dict[str, Sender], ticket_id: int, actor: str
) -> bool:
    """Close a ticket (audited) and tell the patient, as /close does; False if not open."""
    now = services.conversation.clock()
    async with services.db.session() as session, session.begin():
        ticket = await close_ticket(session, ticket_id, actor=actor, now=now, detail="console")
        urn = await reply_address(session, ticket) if ticket else None
        patient = await session.get(Patient, ticket.patient_id) if ticket else None
    if ticket is None:
        return False
    sender = senders.get(urn.partition(":")[0]) if urn else None
    if sender is not None and urn is not None:
        lang = (patient.language if patient else None) or "en"
        await sender.send(urn, say(services.conversation.answerer.content, "ticket_closed", lang))
    return True
