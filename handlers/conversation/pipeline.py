"""The one inbound pipeline: every channel's message goes through `Pipeline.handle`.

One call per message, one write transaction: de-duplicate on the channel's delivery id, find
or create the patient, triage once, then what the clinic is waiting for (a consent answer, a
time zone, an onboarding step, an appointment reply, a pain score), then intents (stop,
start, help, a person, language, tips, topics, appointments, my data, forget, more), then the
answer. It returns the replies; staff alerts, ticket posts and reschedule requests follow the
commit. Channels translate in and render out; nothing else.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.dedupe import first_delivery
from bot.db.models import Address
from bot.db.patients import (
    LogEntry,
    consents_of,
    find_or_create_patient,
    log_messages,
    reachable_again,
)
from bot.db.session import Database
from content.store import ContentStore
from handlers.alerts import StaffDesk
from handlers.channels import facts_of
from handlers.conversation import topics
from handlers.conversation.answer import HUMAN_PAYLOAD, TOPIC_PREFIX
from handlers.conversation.buttons import Buttons, answered_by_core
from handlers.conversation.conversation import Conversation
from handlers.conversation.intents import Intent, IntentMatch, intent_of
from handlers.conversation.onboarding import Onboarding, Step
from handlers.conversation.requests import CONSENT_QUESTION, Requests
from handlers.conversation.visit import Visit
from handlers.messages import InboundMessage, OutboundMessage, ReplyKind
from handlers.patients.appointment_replies import (
    AppointmentIntent,
    apply_reply,
    pending_appointment,
    understand,
)
from handlers.patients.language_memory import clear_language, reply_language
from handlers.patients.preferences import set_timezone
from handlers.patients.privacy import forget_key
from handlers.patients.reminder_commands import (
    ReminderCommandError,
    apply_change,
    parse_tips_command,
)
from handlers.time.quiet_hours import QuietHours
from handlers.triage import Category, triage
from handlers.wording import say

__all__ = ["Pipeline", "PostEraser"]

log = logging.getLogger(__name__)

TIMEZONE_QUESTION = "timezone"
_TIPS_ERRORS = {"night": "sms_tips_night", "zone": "sms_tips_zone"}
# Small talk is covered by the first SMS's welcome itself; anything else is answered after it.
_WELCOME_COVERS = frozenset(
    {ReplyKind.GREETING, ReplyKind.HELP, ReplyKind.THANKS, ReplyKind.FALLBACK, ReplyKind.NON_TEXT}
)
PostEraser = Callable[[Sequence[tuple[int, int, int]]], Awaitable[object]]


class Pipeline:
    """Turn one inbound message from any channel into the replies to send back."""

    def __init__(
        self,
        db: Database,
        conversation: Conversation,
        *,
        onboarding: Onboarding,
        clock: Clock,
        clinic_zone: str,
        quiet: QuietHours | None = None,
        secret: str | None = None,
    ) -> None:
        self._db = db
        self._conversation = conversation
        self._clock = clock
        self._quiet = quiet or QuietHours()
        # Erase buttons are signed with a server secret; without one, a key of this process.
        key = forget_key(secret or secrets.token_hex(32))
        self.requests = Requests(conversation.answerer, onboarding, clinic_zone, key)
        self.buttons = Buttons(self.requests)
        self._erase_posts: PostEraser | None = None

    @property
    def content(self) -> ContentStore:
        """Return the clinic's content."""
        return self._conversation.answerer.content

    @property
    def conversation(self) -> Conversation:
        """Return the answering core."""
        return self._conversation

    @property
    def post_eraser(self) -> PostEraser | None:
        """Return what removes an erased patient's staff-group posts, if anything does."""
        return self._erase_posts

    def erase_posts_with(self, eraser: PostEraser) -> None:
        """Remove an erased patient's staff-group posts with `eraser` (set by the staff group)."""
        self._erase_posts = eraser

    async def handle(self, message: InboundMessage) -> list[OutboundMessage]:
        """Return the replies to one message (none for a delivery seen before)."""
        now = self._clock()
        async with self._db.session() as session, session.begin():
            if message.delivery_id is not None and not await first_delivery(
                session, message.channel, message.delivery_id, now=now
            ):
                log.info("inbound: duplicate delivery ignored: channel=%s", message.channel)
                return []
            if message.payload is not None and not await _known(session, message.address):
                # No button was ever offered to this address (or its record was erased).
                return [self.buttons.stale(message.language_hint or "en")]
            found = await find_or_create_patient(
                session, message.address, now=now, name=message.display_name, lock=True
            )
            patient, address, created = found
            reachable_again(address)
            facts = facts_of(message.channel)
            match = intent_of(message.text) if message.payload is None else None
            clear = _clear(message, match)
            keyword = match is not None and match.keyword
            remembered = patient.language
            lang = reply_language(remembered, message.text, clear, keyword=keyword)
            if remembered is None and clear is None:
                lang = message.language_hint or lang  # the app's setting, not remembered
            visit = Visit(session, message, patient, address, created, now, lang, facts)
            if clear is not None and lang == clear and remembered != lang:
                patient.language = lang  # remembered: every reply, tip and broadcast uses it
            replies = await self._decide(visit, match)
            if visit.effects.turn is None and not visit.effects.erased_patient:
                # The core logs what it answers; the rest is logged here (not an erased one).
                await self._log(visit, replies or [])
            patient_id = visit.patient.id
        return await self._after_commit(visit, patient_id, replies)

    async def _decide(
        self, visit: Visit, match: IntentMatch | None
    ) -> list[OutboundMessage] | None:
        """Decide inside the transaction; None means the core's answer (in effects.turn)."""
        message, text = visit.message, visit.text
        flag = triage(text, self.requests.answerer.rules) if text else None
        red = flag is not None and flag.category is not Category.CHECK
        visit.flag = flag
        if message.payload is not None:
            return await self._button(visit, message.payload)
        if message.contact is not None:
            return await self._contact(visit)
        if not red:
            # An intent comes before what the clinic is waiting for ("/help" is not a time
            # zone), except a bare yes, which may be that answer.
            if match is not None and match.intent not in {Intent.HUMAN, Intent.YES}:
                acted = await self.requests.act(visit, match)
                if acted is not None:
                    return acted
            waiting = await self._waiting(visit, match)
            if waiting is not None:
                return waiting
            tips = await self._tips(visit)
            if tips is not None:
                return tips
        payload = HUMAN_PAYLOAD if match is not None and match.intent is Intent.HUMAN else None
        await self._answer(visit, payload=None if red else payload)
        return None

    async def _waiting(
        self, visit: Visit, match: IntentMatch | None
    ) -> list[OutboundMessage] | None:
        """Take the message as the answer to a question the clinic asked, if it is one."""
        patient, now = visit.patient, visit.now
        if match is not None and match.intent is Intent.YES:
            consent = await self.requests.yes(visit)
            if consent is not None:
                return consent
        if visit.opted_out:
            return None
        if patient.pending_question == TIMEZONE_QUESTION:
            patient.pending_question = patient.pending_since = None
            if len(visit.text.split()) == 1:
                return [
                    await set_timezone(visit.session, self.content, patient, visit.text, now=now)
                ]
        onboarding = self.requests.onboarding
        step = onboarding.step_of(patient)
        if step is not None:
            typed = await self._onboarding_typed(visit, step, match)
            if typed is not None:
                return typed
        appointment_id = pending_appointment(patient.pending_question)
        if appointment_id is not None:
            yes = match is not None and match.intent is Intent.YES
            intent = AppointmentIntent.CONFIRM if yes else understand(visit.text)
            if intent is not None:
                return await self._appointment_reply(visit, appointment_id, intent)
        return None

    async def _onboarding_typed(
        self, visit: Visit, step: Step, match: IntentMatch | None
    ) -> list[OutboundMessage] | None:
        onboarding, patient = self.requests.onboarding, visit.patient
        if match is not None and match.intent is Intent.YES and step.startswith("consent"):
            return await onboarding.choose(visit.session, patient, f"ob:{step}:yes", now=visit.now)
        replies = await onboarding.typed(visit.session, patient, visit.text, now=visit.now)
        if replies is not None and step is Step.CONTACT:
            return [_closing(reply) for reply in replies]
        return replies

    async def _appointment_reply(
        self, visit: Visit, appointment_id: int, intent: AppointmentIntent
    ) -> list[OutboundMessage]:
        patient = visit.patient
        patient.pending_question = patient.pending_since = None
        done = await apply_reply(
            visit.session,
            patient_id=patient.id,
            appointment_id=appointment_id,
            intent=intent,
            now=visit.now,
        )
        if not done:
            key = "sms_appointment_unknown"
        elif intent is AppointmentIntent.CONFIRM:
            key = "sms_appointment_confirmed"
        else:
            key = "sms_appointment_reschedule"
            visit.effects.reschedules.append(appointment_id)
        return [say(self.content, key, visit.lang)]

    async def _tips(self, visit: Visit) -> list[OutboundMessage] | None:
        """Change tips from text ("TIPS ON", "TIPS 7:30", "CONSEJOS NO"), on any channel."""
        try:
            change = parse_tips_command(visit.text, self._quiet)
        except ReminderCommandError as error:
            return [say(self.content, _TIPS_ERRORS.get(str(error), "sms_tips_help"), visit.lang)]
        if change is None:
            return None
        patient = visit.patient
        await apply_change(
            visit.session,
            patient,
            change,
            actor=f"patient:{patient.id}",
            source=f"{visit.message.channel}:tips",
            now=visit.now,
            record_consent=True,  # the patient asked for tips in words
        )
        return await self.requests.reminders(visit)

    async def _button(self, visit: Visit, payload: str) -> list[OutboundMessage] | None:
        if answered_by_core(payload):
            await self._answer(visit, payload=payload)
            return None
        target = self.buttons.browse_target(payload)
        if target is not None:
            return await self._browse(visit, target)
        replies = await self.buttons.press(visit, payload)
        return replies if replies is not None else [self.buttons.stale(visit.lang)]

    async def _browse(self, visit: Visit, payload: str) -> list[OutboundMessage] | None:
        parsed = topics.parse(payload)
        if parsed is None:
            return [self.buttons.stale(visit.lang)]
        topic, number = parsed
        if topic is None:
            page = topics.page(self.content, visit.lang, number)
            return [page] if page else [self.buttons.stale(visit.lang)]
        # An unknown topic gets the core's polite "not sure", never an error.
        await self._answer(visit, payload=TOPIC_PREFIX + topic)
        visit.effects.back_to_page = number
        return None

    async def _contact(self, visit: Visit) -> list[OutboundMessage]:
        contact = visit.message.contact
        assert contact is not None
        onboarding = self.requests.onboarding
        at_step = onboarding.step_of(visit.patient) is Step.CONTACT
        kept, replies = await onboarding.contact(
            visit.session, visit.patient, contact.phone, own=contact.own, now=visit.now
        )
        visit.patient = kept  # the clinic's existing record, when the number was known
        return [_closing(r) for r in replies] if at_step and contact.own else replies

    async def _answer(self, visit: Visit, *, payload: str | None) -> None:
        """Let the answering core reply (triage, hand-off, FAQ), inside this transaction."""
        message = visit.message
        if payload is not None and payload != message.payload:
            message = InboundMessage(
                address=message.address,
                channel=message.channel,
                text=None,
                received_at=message.received_at,
                external_id=message.external_id,
                display_name=message.display_name,
                payload=payload,
            )
        patient = visit.patient
        if visit.facts.plain_text and not visit.opted_out and not await self._welcomed(visit):
            patient.pending_question, patient.pending_since = CONSENT_QUESTION, visit.now
            visit.effects.welcome = True
        found = (patient, visit.address, visit.created)
        visit.effects.turn = await self._conversation.respond(
            visit.session, message, found=found, lang=visit.lang, flag=visit.flag
        )

    async def _log(self, visit: Visit, replies: list[OutboundMessage]) -> None:
        """Log the message and the reply by ids and kind; bodies only if configured."""
        message, patient_id = visit.message, visit.patient.id
        stored = self._conversation.store_bodies
        entries = [
            LogEntry(
                patient_id,
                "in",
                message.channel,
                "received",
                external_id=message.external_id,
                body=message.text if stored else None,
            )
        ]
        entries += [
            LogEntry(
                patient_id,
                "out",
                message.channel,
                "replied",
                kind=reply.kind,
                topic=reply.topic,
                body=reply.text if stored else None,
            )
            for reply in replies[:1]
        ]
        await log_messages(visit.session, entries, now=visit.now)
        log.info(
            "message: patient=%s channel=%s reply=%s",
            patient_id,
            message.channel,
            replies[0].kind if replies else None,
        )

    async def _welcomed(self, visit: Visit) -> bool:
        """Say whether an SMS patient has had the welcome (and its consent question)."""
        if visit.created:
            return False
        patient = visit.patient
        if patient.pending_question is not None:
            return True
        return bool(await consents_of(visit.session, patient.id))

    async def _after_commit(
        self, visit: Visit, patient_id: int, replies: list[OutboundMessage] | None
    ) -> list[OutboundMessage]:
        effects = visit.effects
        desk = self._conversation.alerts
        for appointment_id in effects.reschedules:
            # Staff get the request (a ticket when a staff group is set up).
            if isinstance(desk, StaffDesk):
                await desk.reschedule(
                    patient_id=patient_id,
                    appointment_id=appointment_id,
                    channel=visit.message.channel,
                )
        if effects.erased_posts and self._erase_posts is not None:
            await self._erase_posts(effects.erased_posts)
        if effects.turn is None:
            return replies or []
        answers = await self._conversation.finish(effects.turn)  # staff alerts on red flags
        if visit.opted_out:
            return []  # an opted-out number gets nothing until START, not even an answer
        if effects.back_to_page is not None and answers:
            back = self.buttons.with_back(answers[0], effects.back_to_page, visit.lang)
            answers = [back, *answers[1:]]
        if not effects.welcome:
            return answers
        welcome = say(self.content, "sms_welcome", visit.lang)
        if answers and answers[0].kind is ReplyKind.RED_FLAG:
            return [*answers, welcome]
        if answers and answers[0].kind in _WELCOME_COVERS:
            return [welcome]
        return [welcome, *answers]


def _clear(message: InboundMessage, match: IntentMatch | None) -> str | None:
    """Return the language a message is clearly in; a keyword only says so when Spanish."""
    if message.payload is not None:
        return None
    if match is not None and match.keyword:
        return "es" if match.lang == "es" else None
    return clear_language(message.text)


async def _known(session: AsyncSession, address: str) -> bool:
    """Say whether an address belongs to a patient the clinic holds."""
    return await session.scalar(select(Address.id).where(Address.urn == address)) is not None


def _closing(reply: OutboundMessage) -> OutboundMessage:
    """Mark a reply as closing the contact step's keyboard."""
    return replace(reply, close_keyboard=True)
