"""Send neutral replies to a chat, or edit the message whose button was pressed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from telegram import CallbackQuery, InlineKeyboardMarkup, LinkPreviewOptions, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.channels.telegram.render import render
from handlers.messages import OutboundMessage

__all__ = ["edit_or_send", "send_all"]

_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


async def send_all(
    bot: Any, chat_id: int, messages: Sequence[OutboundMessage], *, remove_keyboard: bool = False
) -> None:
    """Send each reply, split to fit, with its keyboard on its last part."""
    for message in messages:
        for part in render(message, remove_keyboard=remove_keyboard):
            await bot.send_message(
                chat_id,
                part.text,
                parse_mode=ParseMode.HTML,
                reply_markup=part.markup,
                link_preview_options=_NO_PREVIEW,
            )


async def edit_or_send(
    query: CallbackQuery, chat_id: int, messages: Sequence[OutboundMessage]
) -> None:
    """Show the first reply in place of the pressed message (when it fits); send the rest."""
    if not messages:
        return
    first, rest = messages[0], list(messages[1:])
    parts = render(first)
    target = query.message
    editable = isinstance(target, Message) and len(parts) == 1
    if not editable or not isinstance(parts[0].markup, InlineKeyboardMarkup | None):
        await send_all(query.get_bot(), chat_id, [first, *rest])
        return
    try:
        await query.edit_message_text(
            parts[0].text,
            parse_mode=ParseMode.HTML,
            reply_markup=parts[0].markup,
            link_preview_options=_NO_PREVIEW,
        )
    except BadRequest as error:
        # Pressing a button that leaves the message as it was is not an error for the patient.
        if "not modified" not in error.message.lower():
            raise
    await send_all(query.get_bot(), chat_id, rest)
