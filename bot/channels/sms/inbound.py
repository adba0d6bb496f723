"""Decide the SMS replies to one inbound text: keywords, consent, appointments, then the core."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.dedupe import first_delivery
from bot.db.models import Patient
from bot.db.patients import LogEntry, consents_of, find_or_create_patient, log_messages
from bot.db.session import Database
from content.language import detect_language
from handlers.alerts import StaffDesk
from handlers.appointment_replies import (
    AppointmentIntent,
    apply_reply,
    pending_appointment,
    understand,
)
from handlers.clinic_zone import clinic_zone_name
from handlers.consent import opt_in, restore_after_stop, stop_everything
from handlers.conversation import Conversation, Turn
from handlers.messages import Channel, InboundMessage, ReplyKind
from handlers.opt_out_words import OptOut, opt_out_request
from handlers.quiet_hours import QuietHours
from handlers.reminder_commands import (
    ReminderCommandError,
    apply_change,
    describe,
    parse_tips_command,
)
from handlers.sms_keywords import Keyword, classify, keyword_language
from handlers.triage import triage

__all__ = ["CONSENT_QUESTION", "SmsInbound"]

log = logging.getLogger(__name__)

CONSENT_QUESTION = "consent"
TIPS_SUMMARY = "sms_tips_summary"
_TIPS_ERRORS = {"night": "sms_tips_night", "zone": "sms_tips_zone"}
# Small talk is covered by the welcome itself; anything else is answered after it.
_WELCOME_COVERS = frozenset(
    {ReplyKind.GREETING, ReplyKind.HELP, ReplyKind.THANKS, ReplyKind.FALLBACK, ReplyKind.NON_TEXT}
)


class SmsInbound:
    """Turn one inbound SMS into the plain-text replies to send back."""

    def __init__(
        self,
        db: Database,
        conversation: Conversation,
        *,
        clock: Clock,
        store_bodies: bool,
        quiet: QuietHours | None = None,
    ) -> None:
        self._db = db
        self._conversation = conversation
        self._content = conversation.answerer.content
        self._clock = clock
        self._store_bodies = store_bodies
        self._quiet = quiet or QuietHours()

    async def handle(self, message: InboundMessage) -> list[str]:
        """Return the SMS replies to a message (none for a duplicate or an opted-out number).

        One write transaction per message: the delivery check, the keyword or appointment
        reply, or the shared core's answer. Staff alerts follow the commit.
        """
        now, text = self._clock(), message.text
        keyword = classify(text)
        # "please stop texting me" is a STOP; "stop the reminders?" gets how to stop. A red
        # flag in the same text goes to the core first (911 reply, staff alert).
        request = opt_out_request(text) if keyword is None else None
        if request is not None and self._red_flag(text):
            request = None
        if request is not None and request.kind is OptOut.CLEAR:
            keyword = Keyword.STOP
        how_to_stop = request is not None and request.kind is OptOut.UNSURE
        turn: Turn | None = None
        async with self._db.session() as session, session.begin():
            sid = message.external_id
            if sid and not await first_delivery(session, Channel.SMS, sid, now=now):
                log.info("sms inbound: duplicate delivery ignored")
                return []
            found = await find_or_create_patient(session, message.address, now=now, lock=True)
            patient, address, created = found
            lang = (
                patient.language
                or keyword_language(text)
                or (request.lang if request else None)
                or detect_language(text or "")
            )
            opted_out = address.opted_out_at is not None
            welcomed = not created and (
                patient.pending_question is not None
                or bool(await consents_of(session, patient.id))
            )
            asked_about = pending_appointment(patient.pending_question)
            reply = await self._keyword_or_answer(
                session, patient, keyword, text, opted_out, how_to_stop=how_to_stop
            )
            if reply is not None:
                await self._log(session, patient.id, message, reply, now)
                if reply == TIPS_SUMMARY:
                    zone = clinic_zone_name(self._content.clinic)
                    return [await describe(session, self._content, patient, lang, zone, now)]
                if reply != "sms_appointment_reschedule" or asked_about is None:
                    return [self._content.message(reply, lang).sms]
            else:
                if not welcomed and not opted_out:
                    patient.pending_question, patient.pending_since = CONSENT_QUESTION, now
                # Free text: the shared core triages first, logs, and records red flags.
                turn = await self._conversation.respond(session, message, found=found)
            patient_id = patient.id
        if turn is None:
            assert reply is not None  # only a reschedule request gets here without a turn
            # After the commit: staff get the request (a ticket when a staff group is set up).
            if isinstance(desk := self._conversation.alerts, StaffDesk) and asked_about:
                await desk.reschedule(
                    patient_id=patient_id, appointment_id=asked_about, channel=Channel.SMS
                )
            return [self._content.message(reply, lang).sms]
        answers = await self._conversation.finish(turn)  # staff alerts on red flags
        if opted_out:
            return []  # an opted-out number gets nothing until START, not even an answer
        texts = [answer.sms for answer in answers]
        if welcomed:
            return texts
        welcome = self._content.message("sms_welcome", lang).sms
        if answers and answers[0].kind is ReplyKind.RED_FLAG:
            return [*texts, welcome]
        if answers and answers[0].kind in _WELCOME_COVERS:
            return [welcome]
        return [welcome, *texts]

    async def _keyword_or_answer(
        self,
        session: AsyncSession,
        patient: Patient,
        keyword: Keyword | None,
        text: str | None,
        opted_out: bool,
        *,
        how_to_stop: bool = False,
    ) -> str | None:
        """Act on a keyword or an appointment reply; return the message key to send, if any."""
        now, pending = self._clock(), patient.pending_question
        if keyword is Keyword.STOP:
            await stop_everything(session, patient.id, source="sms:stop", now=now)
            patient.pending_question = patient.pending_since = None
            return "sms_stop_confirmation"
        if keyword is Keyword.START or (
            keyword is Keyword.YES and (opted_out or pending == CONSENT_QUESTION)
        ):
            source = f"sms:{keyword}"
            restored = None
            if keyword is Keyword.START or opted_out:
                # Back in after a STOP: what the patient had agreed to before it, no more.
                restored = await restore_after_stop(session, patient.id, source=source, now=now)
            if pending == CONSENT_QUESTION:
                patient.pending_question = patient.pending_since = None
            if restored is not None:
                return "sms_resubscribed"
            # A yes to the consent question, or a START from someone who never chose:
            # what the welcome's question offers ("appointment reminders and tips").
            await opt_in(session, patient.id, source=source, now=now)
            return "sms_opted_in"
        if opted_out:
            return None
        if keyword is Keyword.HELP:
            return "sms_help"
        if how_to_stop:
            return "sms_how_to_stop"
        if keyword is None and text is not None and not self._red_flag(text):
            try:
                change = parse_tips_command(text, self._quiet)
            except ReminderCommandError as error:
                return _TIPS_ERRORS.get(str(error), "sms_tips_help")
            if change is not None:
                await apply_change(
                    session,
                    patient,
                    change,
                    actor=f"patient:{patient.id}",
                    source="sms:tips",
                    now=now,
                    record_consent=True,  # the patient asked for tips by text
                )
                return TIPS_SUMMARY
        appointment_id = pending_appointment(pending)
        if appointment_id is None or self._red_flag(text):
            # Red-flag triage comes before anything else: "yes, but I can't feel my legs"
            # goes to the core (911 reply, safety event, staff alert), not to the calendar.
            return None
        intent = AppointmentIntent.CONFIRM if keyword is Keyword.YES else understand(text)
        if intent is None:
            return None  # a question while a confirmation is pending: answer it, keep asking
        patient.pending_question = patient.pending_since = None
        done = await apply_reply(
            session,
            patient_id=patient.id,
            appointment_id=appointment_id,
            intent=intent,
            now=now,
        )
        if not done:
            return "sms_appointment_unknown"
        if intent is AppointmentIntent.CONFIRM:
            return "sms_appointment_confirmed"
        return "sms_appointment_reschedule"

    def _red_flag(self, text: str | None) -> bool:
        answerer = self._conversation.answerer
        return text is not None and triage(text, answerer.rules) is not None

    async def _log(
        self,
        session: AsyncSession,
        patient_id: int,
        message: InboundMessage,
        reply_key: str,
        now: datetime,
    ) -> None:
        incoming = LogEntry(
            patient_id,
            "in",
            Channel.SMS,
            "received",
            external_id=message.external_id,
            body=message.text if self._store_bodies else None,
        )
        kind = reply_key.removeprefix("sms_")[:32]
        outgoing = LogEntry(patient_id, "out", Channel.SMS, "replied", kind=kind)
        await log_messages(session, [incoming, outgoing], now=now)
        log.info("sms keyword reply: patient=%s reply=%s", patient_id, reply_key)
