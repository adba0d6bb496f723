"""Patient commands: help, topics, reminders, appointments, human, language, stop, privacy."""

from __future__ import annotations

import io

from telegram import InputFile, Update

from bot.channels.telegram.commands import command_list
from bot.channels.telegram.deps import CHANNEL, Context, deps, inbound, patient_session
from bot.channels.telegram.replies import send_all
from bot.db.models import AuditEntry
from handlers import appointments, preferences, privacy, topics
from handlers.answer import HUMAN_PAYLOAD
from handlers.messages import OutboundMessage, ReplyKind
from handlers.wording import say

__all__ = [
    "appointments_command",
    "forget_command",
    "help_command",
    "human_command",
    "language_command",
    "mydata_command",
    "reminders_command",
    "stop_command",
    "topics_command",
]


def _chat_id(update: Update) -> int:
    chat = update.effective_chat
    assert chat is not None
    return chat.id


async def _lang(update: Update, context: Context) -> str:
    d = deps(context)
    async with patient_session(d, update, create=False) as (_, patient):
        return (patient.language if patient else None) or "en"


async def help_command(update: Update, context: Context) -> None:
    """Say what the bot does and list the commands."""
    d, lang = deps(context), await _lang(update, context)
    help_text = d.content.message("help", lang)
    commands = "\n".join(f"/{name} - {about}" for name, about in command_list(d.content, lang))
    reply = OutboundMessage(
        text=f"{help_text.text}\n\n{commands}", sms=help_text.sms, kind=ReplyKind.HELP, lang=lang
    )
    await send_all(context.bot, _chat_id(update), [reply])


async def topics_command(update: Update, context: Context) -> None:
    """Show the first page of topics."""
    d, lang = deps(context), await _lang(update, context)
    first = topics.page(d.content, lang, 1)
    await send_all(context.bot, _chat_id(update), [first] if first else [])


async def reminders_command(update: Update, context: Context) -> None:
    """Show the patient's reminders with buttons to change them."""
    d = deps(context)
    async with patient_session(d, update) as (session, patient):
        assert patient is not None
        reply = await preferences.summary(
            session, d.content, patient, clinic_zone=d.clinic_zone, now=d.clock()
        )
    await send_all(context.bot, _chat_id(update), [reply])


async def appointments_command(update: Update, context: Context) -> None:
    """List the patient's next appointments with Confirm and Reschedule buttons."""
    d = deps(context)
    async with patient_session(d, update) as (session, patient):
        assert patient is not None
        reply = await appointments.listing(
            session, d.content, patient, clinic_zone=d.clinic_zone, now=d.clock()
        )
    await send_all(context.bot, _chat_id(update), [reply])


async def human_command(update: Update, context: Context) -> None:
    """Hand the conversation to staff, or say how to reach a person if there is no staff group."""
    d = deps(context)
    replies = await d.conversation.handle(inbound(update, d, text=None, payload=HUMAN_PAYLOAD))
    await send_all(context.bot, _chat_id(update), replies)


async def language_command(update: Update, context: Context) -> None:
    """Offer the languages."""
    d, lang = deps(context), await _lang(update, context)
    options = preferences.language_options()
    await send_all(
        context.bot, _chat_id(update), [say(d.content, "language_prompt", lang, options=options)]
    )


async def stop_command(update: Update, context: Context) -> None:
    """Stop every automated message; questions are still answered, /start resumes."""
    d = deps(context)
    async with patient_session(d, update) as (session, patient):
        assert patient is not None
        await preferences.stop(session, patient.id, channel=CHANNEL, now=d.clock())
        reply = say(d.content, "chat_stopped", patient.language or "en")
    await send_all(context.bot, _chat_id(update), [reply])


async def mydata_command(update: Update, context: Context) -> None:
    """Send the patient a JSON file of everything the clinic holds about them."""
    d, now = deps(context), deps(context).clock()
    async with patient_session(d, update, create=False) as (session, patient):
        data = await privacy.export(session, patient.id) if patient else {}
        lang = (patient.language if patient else None) or "en"
        if patient is not None:
            session.add(
                AuditEntry(
                    actor=f"patient:{patient.id}",
                    action="patient.exported",
                    target=f"patient:{patient.id}",
                    detail=None,
                    created_at=now,
                )
            )
    document = InputFile(io.BytesIO(privacy.export_json(data)), filename="my-data.json")
    caption = d.content.message("privacy_export", lang).text
    await context.bot.send_document(_chat_id(update), document=document, caption=caption)


async def forget_command(update: Update, context: Context) -> None:
    """Ask the patient to confirm erasing their data."""
    d, lang, chat_id = deps(context), await _lang(update, context), _chat_id(update)
    async with patient_session(d, update, create=False) as (_, patient):
        if patient is None:  # nothing held about this chat
            reply = say(d.content, "privacy_kept", lang)
        else:
            key = privacy.forget_key(context.bot.token)
            yes = privacy.forget_button(key, chat_id, patient, d.clock())
            reply = privacy.confirm_forget(d.content, lang, yes)
    await send_all(context.bot, chat_id, [reply])
