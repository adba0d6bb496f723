"""The one path from an inbound message to outbound replies, shared by every channel."""

from __future__ import annotations

import logging

from bot.clock import Clock
from bot.db.patients import find_or_create_patient, log_message, record_safety_event
from bot.db.session import Database
from handlers.alerts import AlertSink
from handlers.answer import HUMAN_PAYLOAD, TOPIC_PREFIX, Answerer, Reply
from handlers.messages import InboundMessage, OutboundMessage, ReplyKind

__all__ = ["Conversation"]

log = logging.getLogger(__name__)


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

    async def handle(self, message: InboundMessage) -> list[OutboundMessage]:
        """Reply to one inbound message."""
        now = self._clock()
        async with self._db.session() as session, session.begin():
            patient, address, created = await find_or_create_patient(
                session, message.address, now=now, name=message.display_name
            )
            if not address.reachable:  # they wrote to us, so we can write back
                address.reachable, address.unreachable_reason = True, None
            await log_message(
                session,
                patient_id=patient.id,
                direction="in",
                channel=message.channel,
                status="received",
                now=now,
                external_id=message.external_id,
                body=message.text if self._store_bodies else None,
            )
            reply = self._reply(message, patient.language)
            if reply.kind is ReplyKind.RED_FLAG and reply.category and reply.rule:
                await record_safety_event(
                    session,
                    patient_id=patient.id,
                    category=reply.category,
                    rule=reply.rule,
                    channel=message.channel,
                    now=now,
                )
            await log_message(
                session,
                patient_id=patient.id,
                direction="out",
                channel=message.channel,
                status="replied",
                now=now,
                kind=reply.kind,
                topic=reply.topic,
                body=reply.text if self._store_bodies else None,
            )
            patient_id = patient.id
        log.info(
            "message: patient=%s channel=%s new=%s reply=%s topic=%s",
            patient_id,
            message.channel,
            created,
            reply.kind,
            reply.topic,
        )
        if reply.kind is ReplyKind.RED_FLAG and reply.category:
            await self._alerts.red_flag(
                patient_id=patient_id, category=reply.category, channel=message.channel
            )
        return [_outbound(reply)]

    def _reply(self, message: InboundMessage, lang: str | None) -> Reply:
        answerer = self._answerer
        if message.payload is not None:
            return self._choice(message.payload, lang or "en")
        if message.text is None or not message.text.strip():
            return self._system(ReplyKind.NON_TEXT, lang or "en")
        return answerer.answer(message.text, lang)

    def _choice(self, payload: str, lang: str) -> Reply:
        if payload == HUMAN_PAYLOAD:
            return self._system(ReplyKind.HUMAN, lang)
        if payload.startswith(TOPIC_PREFIX):
            found = self._answerer.topic(payload.removeprefix(TOPIC_PREFIX), lang)
            if found is not None:
                return found
        # A stale or forged button: say so gently instead of guessing.
        return self._system(ReplyKind.FALLBACK, lang)

    def _system(self, kind: ReplyKind, lang: str) -> Reply:
        message = self._answerer.content.message(str(kind), lang)
        return Reply(kind, lang, message.text, message.sms)


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
