"""The one path from an inbound message to outbound replies, shared by every channel."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.models import Address, Appointment, MessageLog, Patient
from bot.db.patients import (
    LogEntry,
    find_or_create_patient,
    log_messages,
    reachable_again,
    record_safety_event,
)
from bot.db.session import Database
from handlers.alerts import AlertSink, StaffDesk
from handlers.conversation.answer import (
    HUMAN_PAYLOAD,
    MORE_PREFIX,
    NOT_TRIAGED,
    TOPIC_PREFIX,
    Answerer,
    Reply,
    Triaged,
)
from handlers.conversation.handoff import HandOff, hand_off
from handlers.messages import Channel, InboundMessage, OutboundMessage, ReplyKind
from handlers.patients.pain_score import PENDING_PREFIX as PAIN_PREFIX
from handlers.patients.pain_score import parse_pain_score, record_pain_score

__all__ = ["Conversation", "Turn"]

log = logging.getLogger(__name__)

PENDING_FOR = timedelta(days=3)  # after this, a number is no longer taken as the answer
MISSES_LOOKED_AT = 3  # from the second miss in a row the fallback offers a person first


@dataclass(frozen=True)
class Turn:
    """One message's outcome, decided inside its transaction: what to do after the commit."""

    patient_id: int
    channel: Channel
    reply: Reply
    handoff: HandOff | None
    created: bool  # the patient wrote for the first time


class Conversation:
    """Find the patient, log the message, decide the reply, record what safety requires."""

    def __init__(
        self,
        db: Database,
        answerer: Answerer,
        *,
        clock: Clock,
        alerts: AlertSink,
        store_bodies: bool = False,
    ) -> None:
        self._db = db
        self._answerer = answerer
        self._clock = clock
        self._alerts = alerts
        self._store_bodies = store_bodies

    @property
    def answerer(self) -> Answerer:
        """Return the answerer, whose content channels use for their own messages."""
        return self._answerer

    @property
    def alerts(self) -> AlertSink:
        """Return where staff alerts go, for flows outside this path (reschedule requests)."""
        return self._alerts

    @property
    def store_bodies(self) -> bool:
        """Say whether message bodies are stored (STORE_MESSAGE_BODIES)."""
        return self._store_bodies

    @property
    def clock(self) -> Clock:
        """Return the clock this conversation stamps messages with."""
        return self._clock

    async def handle(self, message: InboundMessage) -> list[OutboundMessage]:
        """Reply to one inbound message in a transaction of its own."""
        async with self._db.session() as session, session.begin():
            turn = await self.respond(session, message)
        return await self.finish(turn)

    async def respond(
        self,
        session: AsyncSession,
        message: InboundMessage,
        *,
        found: tuple[Patient, Address, bool] | None = None,
        lang: str | None = None,
        flag: Triaged = NOT_TRIAGED,
    ) -> Turn:
        """Do a message's database work inside the caller's transaction.

        A channel that already looked the patient up in the same transaction passes `found`
        (patient, address, created), so one inbound message costs one write transaction; one
        that knows the reply language or has triaged the message passes `lang` and `flag`.
        Call `finish` with the result once the transaction has committed.
        """
        now = self._clock()
        if found is None:
            found = await find_or_create_patient(
                session, message.address, now=now, name=message.display_name
            )
        patient, address, created = found
        reachable_again(address)
        misses = await _misses_in_a_row(session, patient.id) if message.text else 0
        reply = self._reply(message, lang or patient.language, flag, misses)
        if reply.category is None:  # a red flag or a safety check is never swallowed
            reply = await self._pending_answer(session, patient, message, now) or reply
        handoff: HandOff | None = None
        desk = self._alerts if isinstance(self._alerts, StaffDesk) else None
        if desk is not None and desk.handoff:  # a staff group: tickets, routing while open
            content = self._answerer.content
            handoff = await hand_off(session, content, patient, message, reply, now=now)
            reply = handoff.reply if handoff and handoff.reply else reply
        silent = handoff is not None and handoff.silent
        if reply.category and reply.rule:  # red flags and safety-net checks
            await record_safety_event(
                session,
                patient_id=patient.id,
                category=reply.category,
                rule=reply.rule,
                channel=message.channel,
                now=now,
            )
        stored = self._store_bodies
        incoming = LogEntry(
            patient.id,
            "in",
            message.channel,
            "received",
            external_id=message.external_id,
            body=message.text if stored else None,
        )
        outgoing = LogEntry(
            patient.id,
            "out",
            message.channel,
            "forwarded" if silent else "replied",
            kind=reply.kind,
            topic=reply.topic,
            body=reply.text if stored else None,
        )
        await log_messages(session, [incoming, outgoing], now=now)  # one statement
        return Turn(patient.id, message.channel, reply, handoff, created)

    async def finish(self, turn: Turn) -> list[OutboundMessage]:
        """After the commit: log, alert staff, and return the replies to send."""
        reply = turn.reply
        log.info(
            "message: patient=%s channel=%s new=%s reply=%s topic=%s",
            turn.patient_id,
            turn.channel,
            turn.created,
            reply.kind,
            reply.topic,
        )
        if reply.kind is ReplyKind.RED_FLAG and reply.category:
            await self._alerts.red_flag(
                patient_id=turn.patient_id, category=reply.category, channel=turn.channel
            )
        handoff, desk = turn.handoff, self._alerts
        if handoff is not None and isinstance(desk, StaffDesk):
            await desk.ticket_opened(patient_id=turn.patient_id)  # once; retried if it failed
            if handoff.forward is not None:
                await desk.ticket_message(ticket_id=handoff.ticket_id, text=handoff.forward)
        silent = handoff is not None and handoff.silent
        return [] if silent else [_outbound(reply)]

    async def _pending_answer(
        self, session: AsyncSession, patient: Patient, message: InboundMessage, now: datetime
    ) -> Reply | None:
        """Take a reply to a question the clinic asked (a 0-10 pain score), if it is one."""
        question = patient.pending_question or ""
        if not question.startswith(PAIN_PREFIX) or message.text is None:
            return None
        if patient.pending_since is None or now - patient.pending_since > PENDING_FOR:
            patient.pending_question = patient.pending_since = None
            return None
        score = parse_pain_score(message.text)
        if score is None:
            return None
        reference = question.removeprefix(PAIN_PREFIX)
        appointment = (
            await session.get(Appointment, int(reference)) if reference.isdigit() else None
        )
        appointment_id = appointment.id if appointment is not None else None  # may be gone
        await record_pain_score(session, patient.id, appointment_id, score, now)
        patient.pending_question = patient.pending_since = None
        lang = patient.language or "en"
        thanks = self._answerer.content.message("pain_score_thanks", lang)
        score_text = str(score)
        return Reply(
            ReplyKind.PAIN_SCORE,
            lang,
            thanks.text.replace("{score}", score_text),
            thanks.sms.replace("{score}", score_text),
        )

    def _reply(
        self, message: InboundMessage, lang: str | None, flag: Triaged, misses: int
    ) -> Reply:
        answerer = self._answerer
        if message.payload is not None:
            return self._choice(message.payload, lang or "en")
        if message.text is None or not message.text.strip():
            return self._system(ReplyKind.NON_TEXT, lang or "en")
        return answerer.answer(message.text, lang, misses, flag=flag)

    def _choice(self, payload: str, lang: str) -> Reply:
        if payload == HUMAN_PAYLOAD:
            return self._system(ReplyKind.HUMAN, lang)
        if payload.startswith(TOPIC_PREFIX):
            found = self._answerer.topic(payload.removeprefix(TOPIC_PREFIX), lang)
            if found is not None:
                return found
        more = self._answerer.more(payload.removeprefix(MORE_PREFIX), lang)
        if payload.startswith(MORE_PREFIX) and more is not None:
            return more
        # A stale or forged button: say so gently instead of guessing.
        return self._system(ReplyKind.FALLBACK, lang)

    def _system(self, kind: ReplyKind, lang: str) -> Reply:
        message = self._answerer.content.message(str(kind), lang)
        return Reply(kind, lang, message.text, message.sms)


async def _misses_in_a_row(session: AsyncSession, patient_id: int) -> int:
    """Count the patient's latest replies that were "not sure", up to the last other one."""
    kinds = await session.scalars(
        select(MessageLog.kind)
        .where(MessageLog.patient_id == patient_id, MessageLog.direction == "out")
        .order_by(MessageLog.id.desc())
        .limit(MISSES_LOOKED_AT)
    )
    misses = 0
    for kind in kinds:
        if kind != ReplyKind.FALLBACK:
            break
        misses += 1
    return misses


def _outbound(reply: Reply) -> OutboundMessage:
    return OutboundMessage(
        text=reply.text,
        sms=reply.sms,
        kind=reply.kind,
        lang=reply.lang,
        options=reply.options,
        topic=reply.topic,
        category=reply.category,
    )
