"""Staff commands in a private chat (/stats, /close N): to anyone else they do not exist."""

from __future__ import annotations

from telegram import Update

from bot.channels.telegram.deps import Context, deps
from bot.channels.telegram.on_command import help_command
from bot.channels.telegram.staff_group import close_numbered, staff_group, stats_text
from bot.console.auth import issue_link, sign_in_url
from handlers.staff import staff_role

__all__ = ["close_command", "console_command", "stats_command"]


async def _is_staff(update: Update, context: Context) -> bool:
    """Check the sender's role now (never cached: a removed member loses access at once)."""
    user = update.effective_user
    if user is None:
        return False
    async with deps(context).db.session() as session:
        return await staff_role(session, user.id) is not None


async def _say(update: Update, context: Context, text: str) -> None:
    chat = update.effective_chat
    assert chat is not None
    await context.bot.send_message(chat.id, text)


async def stats_command(update: Update, context: Context) -> None:
    """Show the stats to staff; anyone else gets the unknown-command reply."""
    if not await _is_staff(update, context):
        await help_command(update, context)
        return
    group = staff_group(context)
    rules = group.confirm_rules if group else ("before_48h",)
    await _say(update, context, await stats_text(deps(context), rules))


async def close_command(update: Update, context: Context) -> None:
    """Close ticket N for staff (`/close 12`); anyone else gets the unknown-command reply."""
    user = update.effective_user
    if user is None or not await _is_staff(update, context):
        await help_command(update, context)
        return
    d, args = deps(context), context.args or []
    if len(args) != 1 or not args[0].isdigit():
        await _say(update, context, d.content.message("staff_close_usage", "en").text)
        return
    name = user.first_name or str(user.id)
    note = await close_numbered(
        d, staff_group(context), args[0], staff_id=user.id, staff_name=name
    )
    await _say(update, context, note)


async def console_command(update: Update, context: Context) -> None:
    """Give staff a single-use console sign-in link (private chat only); others get /help."""
    user, chat = update.effective_user, update.effective_chat
    if (
        user is None
        or chat is None
        or chat.type != "private"
        or not await _is_staff(update, context)
    ):
        await help_command(update, context)
        return
    d = deps(context)
    async with d.db.session() as session, session.begin():
        token = await issue_link(session, user.id, now=d.clock(), actor=f"staff:{user.id}")
    base = context.bot_data.get("clinicbot.console_url", "http://127.0.0.1:8080")
    if token is not None:
        await _say(
            update, context, f"Console sign-in, valid 5 minutes, once:\n{sign_in_url(base, token)}"
        )
