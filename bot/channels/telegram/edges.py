"""Before any handler: drop duplicates and edits, keep groups quiet, track blocks; log errors."""

from __future__ import annotations

import logging

from sqlalchemy import update as sql_update
from telegram import ChatMember, ChatMemberUpdated, Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from bot.channels.telegram.deps import CHANNEL, Context, Deps, deps, urn_of
from bot.db.dedupe import first_delivery
from bot.db.models import Address

__all__ = ["first_time", "gate", "log_error", "mark_reachable"]

log = logging.getLogger(__name__)


async def first_time(d: Deps, update_id: int) -> bool:
    """Record an update id; False when it was already handled (Telegram resends on timeouts)."""
    async with d.db.session() as session, session.begin():
        return await first_delivery(session, CHANNEL, str(update_id), now=d.clock())


async def mark_reachable(d: Deps, chat_id: int, reachable: bool, reason: str | None) -> None:
    """Mark a chat's address reachable or not (blocked), if the clinic knows it."""
    async with d.db.session() as session, session.begin():
        await session.execute(
            sql_update(Address)
            .where(Address.urn == urn_of(chat_id))
            .values(reachable=reachable, unreachable_reason=reason)
        )


async def _membership(d: Deps, change: ChatMemberUpdated) -> None:
    if change.chat.type != ChatType.PRIVATE:
        return
    status = change.new_chat_member.status
    if status in {ChatMember.BANNED, ChatMember.LEFT}:
        await mark_reachable(d, change.chat.id, False, "blocked")
    elif status == ChatMember.MEMBER:
        await mark_reachable(d, change.chat.id, True, None)


def _is_start(update: Update) -> bool:
    message = update.message
    words = (message.text or "").split() if message else []
    return bool(words) and words[0].split("@")[0] == "/start"


async def gate(update: Update, context: Context) -> None:
    """Stop updates no handler should see, before they reach one."""
    if update.edited_message or update.edited_channel_post or update.channel_post:
        raise ApplicationHandlerStop  # an edit is not a new question: no second reply
    d = deps(context)
    if not await first_time(d, update.update_id):
        raise ApplicationHandlerStop
    if update.my_chat_member is not None:
        await _membership(d, update.my_chat_member)
        raise ApplicationHandlerStop
    chat = update.effective_chat
    in_group = chat is not None and chat.type != ChatType.PRIVATE
    # In groups the bot only points to a private chat; buttons are acknowledged silently.
    if in_group and not (_is_start(update) or update.callback_query):
        raise ApplicationHandlerStop


async def log_error(update: object, context: Context) -> None:
    """Log a handler failure by update id and error class, never with message content."""
    update_id = update.update_id if isinstance(update, Update) else None
    error = context.error
    log.error(
        "telegram: update=%s failed: %s", update_id, type(error).__name__ if error else "unknown"
    )
