"""Free text: red-flag triage first, then a typed onboarding answer or time zone, else the core."""

from __future__ import annotations

from telegram import Update

from bot.channels.telegram.deps import Context, deps, find_chat_patient, inbound
from bot.channels.telegram.edges import claim
from bot.channels.telegram.replies import send_all
from handlers.conversation import Turn
from handlers.messages import OutboundMessage
from handlers.onboarding import Step
from handlers.preferences import set_timezone
from handlers.triage import triage

__all__ = ["TIMEZONE_QUESTION", "non_text", "text"]

TIMEZONE_QUESTION = "timezone"


async def text(update: Update, context: Context) -> None:
    """Reply to a text message from a private chat."""
    d, chat, message = deps(context), update.effective_chat, update.effective_message
    assert chat is not None and message is not None
    body = message.text or ""
    replies: list[OutboundMessage] | None = None
    remove_keyboard = False
    turn: Turn | None = None
    # One transaction: the patient, then a typed onboarding answer or the core's reply.
    async with d.db.session() as session, session.begin():
        if not await claim(session, d, update):
            return  # Telegram sent this update before: it was answered then
        found = await find_chat_patient(session, d, update)
        patient, now = found[0], d.clock()
        # Triage runs before anything reads the text as an answer: a red flag always goes to
        # the core, which replies with emergency advice and records the event.
        if triage(body, d.answerer.rules) is None:
            if patient.pending_question == TIMEZONE_QUESTION:
                patient.pending_question = patient.pending_since = None
                if len(body.split()) == 1:
                    replies = [await set_timezone(session, d.content, patient, body, now=now)]
            elif d.onboarding.step_of(patient) is not None:
                remove_keyboard = d.onboarding.step_of(patient) is Step.CONTACT
                replies = await d.onboarding.typed(session, patient, body, now=now)
        if replies is None:
            remove_keyboard = False
            message_in = inbound(update, d, text=body)
            turn = await d.conversation.respond(session, message_in, found=found)
    if turn is not None:
        replies = await d.conversation.finish(turn)  # staff alerts follow the commit
    await send_all(context.bot, chat.id, replies or [], remove_keyboard=remove_keyboard)


async def non_text(update: Update, context: Context) -> None:
    """Answer a photo, sticker, voice note, document or location with what the bot reads."""
    d, chat = deps(context), update.effective_chat
    assert chat is not None
    replies = await d.conversation.handle(inbound(update, d, text=None))
    await send_all(context.bot, chat.id, replies)
