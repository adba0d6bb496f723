"""Before any handler: drop duplicates and edits, keep groups quiet, track blocks; log errors.

Every update id is recorded once (Telegram resends an update its webhook did not answer). A
patient's private message or button is recorded by the inbound pipeline inside the transaction
that decides the reply (the handler calls `hand_over`), so the record commits with the work;
any other update is recorded here, before its handler runs, or, for a private update a staff
flow took instead, by `settle` after the handlers.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy import update as sql_update
from telegram import ChatMember, ChatMemberUpdated, Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, filters

from bot.channels.telegram.deps import CHANNEL, Context, Deps, deps, urn_of
from bot.db.dedupe import first_delivery
from bot.db.models import Address

__all__ = ["first_time", "gate", "hand_over", "log_error", "mark_reachable", "settle"]

log = logging.getLogger(__name__)

# The updates the pipeline may record in its own transaction (see patient.message).
_PRIVATE_MESSAGE = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE


def _private(update: Update) -> bool:
    query = update.callback_query
    if query is not None:
        message = query.message
        return message is not None and message.chat.type == ChatType.PRIVATE
    return bool(_PRIVATE_MESSAGE.check_update(update))


@dataclass
class _Deferred:
    """An update id the gate left for the handler to record."""

    update_id: int
    recorded: bool = False


# Handlers of one update run in one task, so the gate's mark is seen by them and no other.
_deferred: ContextVar[_Deferred | None] = ContextVar("telegram_deferred_update", default=None)


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
    if _private(update):
        _deferred.set(_Deferred(update.update_id))
    elif not await first_time(d, update.update_id):
        raise ApplicationHandlerStop
    if update.my_chat_member is not None:
        await _membership(d, update.my_chat_member)
        raise ApplicationHandlerStop
    chat = update.effective_chat
    in_group = chat is not None and chat.type != ChatType.PRIVATE
    # In groups the bot only points to a private chat; buttons are acknowledged silently.
    if in_group and not (_is_start(update) or update.callback_query):
        raise ApplicationHandlerStop


def hand_over(update: Update) -> None:
    """Leave recording the update to the pipeline, which does it in the reply's transaction.

    The record commits or rolls back with the pipeline's work: a message whose transaction
    failed was not answered, so a resend of it is answered then.
    """
    pending = _deferred.get()
    if pending is not None and pending.update_id == update.update_id:
        pending.recorded = True


async def settle(update: Update, context: Context) -> None:
    """After the handlers: record a deferred update no handler claimed."""
    pending = _deferred.get()
    if pending is not None and pending.update_id == update.update_id and not pending.recorded:
        pending.recorded = True
        await first_time(deps(context), update.update_id)


async def log_error(update: object, context: Context) -> None:
    """Log a handler failure by update id and error class, never with message content."""
    update_id = update.update_id if isinstance(update, Update) else None
    error = context.error
    log.error(
        "telegram: update=%s failed: %s", update_id, type(error).__name__ if error else "unknown"
    )
