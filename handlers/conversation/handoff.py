"""Hand-off in the conversation: open a ticket on request, route an open ticket's messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Patient
from content.opening_hours import parse_opening_hours
from content.store import ContentStore
from content.text import fold
from handlers.conversation.answer import HUMAN_PAYLOAD, Reply
from handlers.messages import Channel, InboundMessage, ReplyKind
from handlers.patients.appointments import describe_when
from handlers.patients.preferences import zone_of
from handlers.staff.tickets import open_ticket, open_ticket_of
from handlers.time.clinic_zone import clinic_zone_name
from handlers.wording import fill

__all__ = ["HUMAN_WORDS", "HandOff", "hand_off", "wants_human"]

# A whole message of one of these asks for a person (SMS has no /human command or buttons).
HUMAN_WORDS = frozenset("human humano person persona agent agente staff".split())


@dataclass(frozen=True)
class HandOff:
    """What an open (or just opened) ticket changes about one inbound message."""

    ticket_id: int
    reply: Reply | None  # the patient's reply instead of the core's; None with `silent`
    silent: bool = False  # forwarded to staff: no automated reply, a person answers
    forward: str | None = None  # the patient's words for the ticket thread
    opened: bool = False  # a new ticket: staff must be told


def wants_human(text: str | None) -> bool:
    """Say whether a message is only a request for a person ("human", "HUMANO")."""
    return fold(text or "") in HUMAN_WORDS


def _opened_reply(
    content: ContentStore, patient: Patient, lang: str, now: datetime, sms: bool
) -> Reply:
    opened = content.message("ticket_opened", lang)
    text, short = opened.text, opened.sms
    hours = parse_opening_hours(content.clinic)
    if hours is not None and not hours.is_open(now):
        opens = hours.next_opening(now)
        if opens is not None:
            zone = zone_of(patient, clinic_zone_name(content.clinic))
            when = describe_when(opens, zone, lang)
            later = content.message("ticket_after_hours", lang)
            text = f"{text}\n\n{fill(later.text, {'when': when})}"
            short = f"{short} {fill(later.sms, {'when': when})}"
    return Reply(ReplyKind.HUMAN, lang, text, short if sms else text)


async def hand_off(
    session: AsyncSession,
    content: ContentStore,
    patient: Patient,
    message: InboundMessage,
    reply: Reply,
    *,
    now: datetime,
) -> HandOff | None:
    """Open a ticket on request, or route a patient's message to their open ticket.

    Red flags are left alone: the patient gets the emergency reply and staff an alert.
    Buttons, stickers and answers to the clinic's questions are answered as usual.
    """
    if reply.kind is ReplyKind.RED_FLAG:
        return None
    lang = patient.language or reply.lang or "en"
    asked = message.payload == HUMAN_PAYLOAD or (
        message.payload is None and wants_human(message.text)
    )
    ticket = await open_ticket_of(session, patient.id)
    if asked:
        if ticket is not None:
            already = content.message("ticket_already_open", lang)
            return HandOff(ticket.id, Reply(ReplyKind.HUMAN, lang, already.text, already.sms))
        ticket, _ = await open_ticket(
            session, patient.id, reason="human", channel=message.channel, now=now
        )
        sms = message.channel is Channel.SMS
        return HandOff(ticket.id, _opened_reply(content, patient, lang, now, sms), opened=True)
    if ticket is None or message.payload is not None or not (message.text or "").strip():
        return None
    if reply.kind is ReplyKind.PAIN_SCORE:
        return None
    return HandOff(ticket.id, None, silent=True, forward=message.text)
