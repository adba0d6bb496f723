"""Staff commands in a private chat (/stats, /close N ...): to anyone else they do not exist.

Every declared staff command (handlers.staff.commands) but the broadcast ones, which the
wizard in staff_broadcast owns, is a Telegram command here.
"""

from __future__ import annotations

from telegram import Update

from bot.channels.telegram.deps import Context, deps
from bot.channels.telegram.patient import message as help_command
from bot.channels.telegram.staff_group import run_for_staff, staff_group
from bot.console.auth import issue_link, sign_in_url
from handlers.staff.commands import COMMANDS
from handlers.staff.roles import staff_role

__all__ = ["CHAT_COMMANDS", "console_command", "staff_command"]

CHAT_COMMANDS = tuple(name for name in COMMANDS if name not in {"broadcast", "broadcasts"})


async def staff_command(update: Update, context: Context) -> None:
    """Run a staff command for staff; anyone else gets the unknown-command reply."""
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    if user is None or chat is None or message is None:
        return
    d = deps(context)
    async with d.db.session() as session:
        role = await staff_role(session, user.id)  # never cached: removal takes effect at once
    if role is None:
        await help_command(update, context)
        return
    head, _, line = (message.text or "").partition(" ")
    name = head[1:].split("@")[0].lower()
    text = await run_for_staff(d, staff_group(context), user, name, line.strip())
    await context.bot.send_message(chat.id, text)


async def console_command(update: Update, context: Context) -> None:
    """Give staff a single-use console sign-in link (private chat only); others get /help."""
    user, chat = update.effective_user, update.effective_chat
    d = deps(context)
    role = None
    if user is not None and chat is not None and chat.type == "private":
        async with d.db.session() as session:
            role = await staff_role(session, user.id)  # never cached
    if user is None or chat is None or role is None:
        await help_command(update, context)
        return
    async with d.db.session() as session, session.begin():
        token = await issue_link(session, user.id, now=d.clock(), actor=f"staff:{user.id}")
    base = context.bot_data.get("clinicbot.console_url", "http://127.0.0.1:8080")
    if token is not None:
        link = sign_in_url(base, token)
        await context.bot.send_message(chat.id, f"Console sign-in, valid 5 minutes, once:\n{link}")
