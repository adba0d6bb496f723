"""Patients' private chats: translate an update into the core's message, render the replies.

Every private-chat message, command, shared contact and button of a patient goes through the
one pipeline (`handlers.conversation.pipeline`); this module only turns an `Update` into an
`InboundMessage` and the replies into Telegram calls (a button's reply edits the message it
was pressed on; a stale button gets a pop-up; a data export is a document).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from telegram import InputFile, Update
from telegram.constants import ChatType

from bot.channels.telegram.deps import CHANNEL, Context, Deps, deps, urn_of
from bot.channels.telegram.edges import hand_over
from bot.channels.telegram.replies import edit_or_send, send_all
from handlers.conversation.buttons import MENU_PAYLOADS
from handlers.messages import InboundMessage, OutboundMessage, ReplyKind, SharedContact
from handlers.patients import appointments
from handlers.wording import say

__all__ = ["button", "group_start", "message"]


def _lang_hint(update: Update) -> str | None:
    user = update.effective_user
    code = (user.language_code or "") if user else ""
    return "es" if code.startswith("es") else ("en" if code else None)


def _inbound(
    update: Update, d: Deps, *, text: str | None, payload: str | None = None
) -> InboundMessage:
    chat, user, message = update.effective_chat, update.effective_user, update.effective_message
    assert chat is not None
    contact = message.contact if message is not None and payload is None else None
    shared = None
    if contact is not None:
        own = user is not None and contact.user_id == user.id
        shared = SharedContact(contact.phone_number, own=own)
    return InboundMessage(
        address=urn_of(chat.id),
        channel=CHANNEL,
        text=text,
        received_at=d.clock(),
        external_id=str(message.message_id) if message else None,
        display_name=user.first_name if user else None,
        payload=payload,
        delivery_id=str(update.update_id),
        contact=shared,
        language_hint=_lang_hint(update),
    )


async def _send(context: Context, chat_id: int, replies: Sequence[OutboundMessage]) -> None:
    """Send replies in order; a data export goes as a document with its caption."""
    close = any(reply.close_keyboard for reply in replies)
    for reply in replies:
        if reply.attachment is not None:
            document = InputFile(io.BytesIO(reply.attachment.data), reply.attachment.filename)
            await context.bot.send_document(chat_id, document=document, caption=reply.text)
        else:
            await send_all(context.bot, chat_id, [reply], remove_keyboard=close)


async def message(update: Update, context: Context) -> None:
    """Answer a patient's text, command, shared contact, sticker or photo."""
    d, chat, received = deps(context), update.effective_chat, update.effective_message
    assert chat is not None and received is not None
    hand_over(update)  # the pipeline records the update id in its own transaction
    inbound = _inbound(update, d, text=received.text if received.contact is None else None)
    await _send(context, chat.id, await d.pipeline.handle(inbound))


async def button(update: Update, context: Context) -> None:
    """Act on a pressed button, answering the callback query exactly once."""
    d, query, chat = deps(context), update.callback_query, update.effective_chat
    assert query is not None and chat is not None
    payload = query.data or ""
    if chat.type != ChatType.PRIVATE:
        await query.answer()  # buttons in groups are acknowledged, nothing more
        return
    hand_over(update)
    replies = await d.pipeline.handle(_inbound(update, d, text=None, payload=payload))
    if replies and replies[0].kind is ReplyKind.STALE:
        await query.answer(replies[0].text)  # a pop-up: nothing changed
        return
    await query.answer()
    if (
        payload.startswith(appointments.PREFIX)
        or payload in MENU_PAYLOADS
        or any(reply.attachment is not None for reply in replies)
    ):
        await _send(context, chat.id, replies)
    else:
        await edit_or_send(query, chat.id, replies)


async def group_start(update: Update, context: Context) -> None:
    """Point a group to a private chat: patients are never discussed in groups."""
    d, chat = deps(context), update.effective_chat
    assert chat is not None
    lang = _lang_hint(update) or "en"
    await send_all(context.bot, chat.id, [say(d.content, "chat_group", lang)])
