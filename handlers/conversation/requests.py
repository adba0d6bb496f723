"""Act on what a patient asks the bot to do (an intent), the same way on every channel.

Where channels differ it is in what they can show, read from the channel's facts: a chat
with buttons gets the reminders screen with its buttons, SMS gets the one-line summary.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select

from bot.db.models import AuditEntry, MessageLog
from content.sms import to_sms_text
from content.store import ContentStore
from handlers.conversation import topics
from handlers.conversation.answer import HUMAN_PAYLOAD, Answerer
from handlers.conversation.intents import Intent, IntentMatch
from handlers.conversation.onboarding import DONE, Onboarding, menu
from handlers.conversation.visit import Visit
from handlers.delivery.consent import opt_in, restore_after_stop, stop_everything
from handlers.messages import Attachment, OutboundMessage, QuickReply, ReplyKind
from handlers.patients import appointments, preferences, privacy
from handlers.patients.reminder_commands import describe
from handlers.wording import say

__all__ = ["CONSENT_QUESTION", "Requests"]

CONSENT_QUESTION = "consent"  # the first SMS asks for consent; a YES answers it


def _text(content: ContentStore, key: str, lang: str, kind: ReplyKind) -> OutboundMessage:
    return say(content, key, lang, kind=kind)


def _command_lines(content: ContentStore, lang: str) -> list[str]:
    """Return "/name - what it does" lines from the `telegram_commands` message."""
    lines = []
    for line in content.message("telegram_commands", lang).text.splitlines():
        name, sep, about = line.partition(" - ")
        if sep and name.strip().isidentifier():
            lines.append(f"/{name.strip()} - {about.strip()}")
    return lines


@dataclass(frozen=True)
class Requests:
    """Carry out intents; each returns the replies, or None to answer the text instead."""

    answerer: Answerer
    onboarding: Onboarding
    clinic_zone: str
    forget_key: bytes

    @property
    def content(self) -> ContentStore:
        """Return the clinic's content."""
        return self.answerer.content

    async def act(self, visit: Visit, match: IntentMatch) -> list[OutboundMessage] | None:
        """Carry out one intent for the visit's patient."""
        intent = match.intent
        if intent is Intent.STOP:
            return await self.stop(visit)
        if intent is Intent.START:
            return await self.start(visit)
        if intent is Intent.YES:
            return await self.yes(visit)
        if visit.opted_out:
            return None  # an opted-out number hears nothing until START
        handler: Callable[[Visit], Awaitable[list[OutboundMessage] | None]] | None = {
            Intent.HELP: self.help,
            Intent.HOW_TO_STOP: self.how_to_stop,
            Intent.REMINDERS: self.reminders,
            Intent.TOPICS: self.topics,
            Intent.APPOINTMENTS: self.appointments,
            Intent.MY_DATA: self.my_data,
            Intent.FORGET: self.forget,
            Intent.MENU: self.menu,
            Intent.BOT: self.bot,
            Intent.MORE: self.more,
        }.get(intent)
        if intent is Intent.LANGUAGE:
            return await self.language(visit, match.value)
        if handler is None:
            return None  # HUMAN goes to the hand-off with the answer
        return await handler(visit)

    async def stop(self, visit: Visit) -> list[OutboundMessage]:
        """Withdraw every consent and mark the patient's numbers opted out."""
        channel = visit.message.channel
        await stop_everything(
            visit.session, visit.patient.id, source=f"{channel}:stop", now=visit.now
        )
        visit.patient.pending_question = visit.patient.pending_since = None
        key = "sms_stop_confirmation" if visit.facts.plain_text else "chat_stopped"
        return [_text(self.content, key, visit.lang, ReplyKind.SYSTEM)]

    async def start(self, visit: Visit) -> list[OutboundMessage]:
        """Begin, resume onboarding, or come back after a stop."""
        session, patient, now, lang = visit.session, visit.patient, visit.now, visit.lang
        channel = visit.message.channel
        if visit.facts.plain_text:
            return await self._opt_in(visit, source=f"{channel}:start", restore=True)
        if patient.onboarding_step == DONE:
            back = await preferences.resubscribe(session, patient.id, channel=channel, now=now)
            replies = [say(self.content, "chat_resubscribed", lang)] if back else []
            return [*replies, menu(self.content, lang)]
        if self.onboarding.step_of(patient) is not None:
            return [await self.onboarding.prompt(session, patient, now=now)]
        return await self.onboarding.begin(session, patient, lang_hint=lang, now=now)

    async def yes(self, visit: Visit) -> list[OutboundMessage] | None:
        """Take a bare yes as consent when the clinic asked for it or the number had stopped."""
        pending = visit.patient.pending_question
        if visit.opted_out or pending == CONSENT_QUESTION:
            return await self._opt_in(visit, source=f"{visit.message.channel}:yes", restore=False)
        return None  # an appointment confirmation, an onboarding answer, or small talk

    async def _opt_in(self, visit: Visit, *, source: str, restore: bool) -> list[OutboundMessage]:
        session, patient, now = visit.session, visit.patient, visit.now
        restored = None
        if restore or visit.opted_out:
            # Back in after a STOP: what the patient had agreed to before it, no more.
            restored = await restore_after_stop(session, patient.id, source=source, now=now)
        if patient.pending_question == CONSENT_QUESTION:
            patient.pending_question = patient.pending_since = None
        if restored is not None:
            return [_text(self.content, "sms_resubscribed", visit.lang, ReplyKind.SYSTEM)]
        # A yes to the consent question, or a START from someone who never chose: what the
        # welcome's question offers ("appointment reminders and tips").
        await opt_in(session, patient.id, source=source, now=now)
        return [_text(self.content, "sms_opted_in", visit.lang, ReplyKind.SYSTEM)]

    async def help(self, visit: Visit) -> list[OutboundMessage]:
        """Say what the bot does; chats also get the list of commands."""
        lang = visit.lang
        if visit.facts.plain_text:
            return [_text(self.content, "sms_help", lang, ReplyKind.HELP)]
        help_text = self.content.message("help", lang)
        commands = "\n".join(_command_lines(self.content, lang))
        return [
            OutboundMessage(
                text=f"{help_text.text}\n\n{commands}",
                sms=help_text.sms,
                kind=ReplyKind.HELP,
                lang=lang,
            )
        ]

    async def how_to_stop(self, visit: Visit) -> list[OutboundMessage] | None:
        """Tell an SMS patient how to stop; chats answer the question instead."""
        if not visit.facts.plain_text:
            return None
        return [_text(self.content, "sms_how_to_stop", visit.lang, ReplyKind.SYSTEM)]

    async def language(self, visit: Visit, code: str | None) -> list[OutboundMessage]:
        """Switch to a language, or offer the languages."""
        if code is not None:
            changed = preferences.set_language(self.content, visit.patient, code, now=visit.now)
            if changed is not None:
                visit.lang = code
                return [changed]
        options = preferences.language_options()
        return [say(self.content, "language_prompt", visit.lang, options=options)]

    async def reminders(self, visit: Visit) -> list[OutboundMessage]:
        """Show the patient's tips: with buttons to change them, or in one SMS line."""
        session, patient, now = visit.session, visit.patient, visit.now
        if visit.facts.plain_text:
            text = await describe(
                session, self.content, patient, visit.lang, self.clinic_zone, now
            )
            return [OutboundMessage(text=text, sms=text, kind=ReplyKind.SYSTEM, lang=visit.lang)]
        zone = self.clinic_zone
        return [
            await preferences.summary(session, self.content, patient, clinic_zone=zone, now=now)
        ]

    async def topics(self, visit: Visit) -> list[OutboundMessage]:
        """Show the first page of topics (SMS: what to ask about)."""
        if visit.facts.plain_text:
            return await self.help(visit)
        first = topics.page(self.content, visit.lang, 1)
        return [first] if first else []

    async def appointments(self, visit: Visit) -> list[OutboundMessage]:
        """List the patient's next appointments with Confirm and Reschedule."""
        return [
            await appointments.listing(
                visit.session,
                self.content,
                visit.patient,
                clinic_zone=self.clinic_zone,
                now=visit.now,
            )
        ]

    async def my_data(self, visit: Visit) -> list[OutboundMessage]:
        """Send a copy of what the clinic holds, as a file where the channel takes one."""
        lang, patient = visit.lang, visit.patient
        if not visit.facts.attachments:
            return [say(self.content, "privacy_export_elsewhere", lang)]
        data = await privacy.export(visit.session, patient.id)
        visit.session.add(
            AuditEntry(
                actor=f"patient:{patient.id}",
                action="patient.exported",
                target=f"patient:{patient.id}",
                detail=None,
                created_at=visit.now,
            )
        )
        document = Attachment("my-data.json", privacy.export_json(data))
        caption = self.content.message("privacy_export", lang)
        return [
            OutboundMessage(
                text=caption.text,
                sms=caption.sms,
                kind=ReplyKind.SYSTEM,
                lang=lang,
                attachment=document,
            )
        ]

    async def forget(self, visit: Visit) -> list[OutboundMessage]:
        """Ask the patient to confirm erasing their data, with a signed single-use button."""
        lang = visit.lang
        if not visit.facts.buttons:
            return [say(self.content, "privacy_forget_elsewhere", lang)]
        yes = privacy.forget_button(
            self.forget_key, visit.message.address, visit.patient, visit.now
        )
        return [privacy.confirm_forget(self.content, lang, yes)]

    async def menu(self, visit: Visit) -> list[OutboundMessage]:
        """Show the main menu."""
        if visit.facts.plain_text:
            return await self.help(visit)
        return [menu(self.content, visit.lang)]

    async def bot(self, visit: Visit) -> list[OutboundMessage]:
        """Say plainly that this is an automated assistant, and how to reach a person."""
        return [say(self.content, "bot_identity", visit.lang, options=(self._human(visit),))]

    async def more(self, visit: Visit) -> list[OutboundMessage]:
        """Send the full answer to the patient's last question."""
        topic = await visit.session.scalar(
            select(MessageLog.topic)
            .where(
                MessageLog.patient_id == visit.patient.id,
                MessageLog.direction == "out",
                MessageLog.topic.is_not(None),
            )
            .order_by(MessageLog.id.desc())
            .limit(1)
        )
        full = self.answerer.more(topic, visit.lang) if topic else None
        if full is None:
            return [say(self.content, "more_nothing", visit.lang)]
        sms = to_sms_text(full.text)
        return [
            OutboundMessage(
                text=full.text,
                sms=sms,
                kind=ReplyKind.FAQ,
                lang=full.lang,
                options=full.options,
                topic=full.topic,
            )
        ]

    def _human(self, visit: Visit) -> QuickReply:
        return QuickReply(self.content.message("talk_to_staff", visit.lang).text, HUMAN_PAYLOAD)
