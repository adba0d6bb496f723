"""/start and shared contacts: onboarding, resuming it, or the menu for a known patient."""

from __future__ import annotations

from telegram import Update

from bot.channels.telegram.deps import CHANNEL, Context, deps, patient_session
from bot.channels.telegram.replies import send_all
from handlers.messages import OutboundMessage
from handlers.onboarding import DONE, Step, menu
from handlers.preferences import resubscribe
from handlers.wording import say

__all__ = ["contact", "group_start", "start"]


def _lang_hint(update: Update) -> str:
    user = update.effective_user
    code = (user.language_code or "") if user else ""
    return "es" if code.startswith("es") else "en"


async def start(update: Update, context: Context) -> None:
    """Onboard a new patient, resume an unfinished onboarding, or show the menu."""
    d, chat = deps(context), update.effective_chat
    assert chat is not None
    now = d.clock()
    replies: list[OutboundMessage]
    async with patient_session(d, update) as (session, patient):
        assert patient is not None
        lang = patient.language or _lang_hint(update)
        if patient.onboarding_step == DONE:
            back = await resubscribe(session, patient.id, channel=CHANNEL, now=now)
            replies = [say(d.content, "chat_resubscribed", lang)] if back else []
            replies.append(menu(d.content, lang))
        elif d.onboarding.step_of(patient) is not None:
            replies = [await d.onboarding.prompt(session, patient, now=now)]
        else:
            replies = await d.onboarding.begin(
                session, patient, lang_hint=_lang_hint(update), now=now
            )
    await send_all(context.bot, chat.id, replies)


async def group_start(update: Update, context: Context) -> None:
    """Point a group to a private chat: patients are never discussed in groups."""
    d, chat = deps(context), update.effective_chat
    assert chat is not None
    await send_all(context.bot, chat.id, [say(d.content, "chat_group", _lang_hint(update))])


async def contact(update: Update, context: Context) -> None:
    """Link a shared phone number, accepting only the sender's own contact."""
    d, chat, user = deps(context), update.effective_chat, update.effective_user
    message = update.effective_message
    assert chat is not None and message is not None and message.contact is not None
    shared = message.contact
    own = user is not None and shared.user_id == user.id
    async with patient_session(d, update) as (session, patient):
        assert patient is not None
        at_step = d.onboarding.step_of(patient) is Step.CONTACT
        _, replies = await d.onboarding.contact(
            session, patient, shared.phone_number, own=own, now=d.clock()
        )
    await send_all(context.bot, chat.id, replies, remove_keyboard=at_step and own)
