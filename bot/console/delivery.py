"""Staff answers and closes from the console reach the patient as the staff group's do.

The same core calls as the staff group (handlers.staff.ticket_answers, the declared `close`
command), through checked senders: a patient who stopped or was erased is not written to.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.app import Services
from bot.channels.base import SendOutcome
from handlers.delivery.sending import Checked, Transport
from handlers.messages import OutboundMessage
from handlers.staff.commands import run_staff_command
from handlers.staff.ticket_answers import answer_ticket

__all__ = ["close_and_tell", "patient_senders", "reply_to_ticket"]

log = logging.getLogger(__name__)


class _AsReply:
    """SMS answers go as replies (the patient wrote to us): no quiet hours, as in the group."""

    def __init__(self, sender: Any) -> None:
        self._sender = sender

    async def send(self, urn: str, message: OutboundMessage) -> SendOutcome:
        outcome: SendOutcome = await self._sender.send(urn, message, reply=True)
        return outcome


def patient_senders(state: Any, services: Services) -> dict[str, Transport]:
    """Return checked senders by address scheme for the channels this process runs."""
    transports: dict[str, Transport] = {}
    telegram = getattr(state, "telegram", None)
    if telegram is not None:
        transports["telegram"] = telegram.sender()
    sms = getattr(state, "sms", None)
    if sms is not None and sms.sender is not None:
        transports["tel"] = _AsReply(sms.sender)
    clock, bodies = services.conversation.clock, services.settings.store_message_bodies
    return {
        scheme: Checked(transport, services.db, clock=clock, store_bodies=bodies)
        for scheme, transport in transports.items()
    }


async def reply_to_ticket(
    services: Services, senders: dict[str, Transport], ticket_id: int, text: str, actor: str
) -> str:
    """Send a staff answer to an open ticket's patient on their channel; return the status."""
    now = services.conversation.clock()
    return await answer_ticket(services.db, senders, ticket_id, text, actor=actor, now=now)


async def close_and_tell(
    services: Services, senders: dict[str, Transport], ticket_id: int, actor: str, name: str
) -> bool:
    """Close a ticket with the declared `close` command and tell the patient; False if not open."""
    async with services.db.session() as session, session.begin():
        result = await run_staff_command(
            session,
            "close",
            {"ticket": str(ticket_id)},
            actor=actor,
            actor_name=name,
            env=services.staff_env(),
            now=services.conversation.clock(),
        )  # the role is read again inside: a removed member loses access at once
    for notice in result.notices:
        sender = senders.get(notice.urn.partition(":")[0])
        if sender is not None:
            await sender.send(notice.urn, notice.message)
    return result.ok
