"""Build the python-telegram-bot Application: the bot, its limiter and every handler."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.channels.telegram import edges, patient, staff_broadcast, staff_commands
from bot.channels.telegram.deps import Deps
from bot.channels.telegram.ratelimit import ClinicRateLimiter
from bot.channels.telegram.staff_group import erase_ticket_posts

__all__ = ["TelegramApp", "build_application", "file_url_for"]

TelegramApp = Application[Any, Any, Any, Any, Any, Any]
DEFAULT_BASE_URL = "https://api.telegram.org/bot"
_LAST = 1000  # the handler group that runs after every other one (edges.settle)


def file_url_for(base_url: str) -> str:
    """Return the file URL matching a Bot API URL (`.../bot` becomes `.../file/bot`)."""
    root, _, tail = base_url.rstrip("/").rpartition("/")
    return f"{root}/file/{tail}" if tail == "bot" else f"{base_url.rstrip('/')}/file/bot"


# Staff only (the role is checked on every call; others get the /help reply).
_STAFF_COMMANDS = (
    *((name, staff_commands.staff_command) for name in staff_commands.CHAT_COMMANDS),
    ("console", staff_commands.console_command),  # a sign-in link, in a private chat only
)


def build_application(
    token: str,
    deps: Deps,
    *,
    base_url: str = DEFAULT_BASE_URL,
    webhook: bool,
    request: BaseRequest | None = None,
    rate_limiter: ClinicRateLimiter | None = None,
) -> TelegramApp:
    """Build the Application; with `webhook` it has no Updater (updates come over HTTP)."""
    builder = (
        Application.builder()
        .token(token)
        .base_url(base_url)
        .base_file_url(file_url_for(base_url))
        .rate_limiter(rate_limiter or ClinicRateLimiter())
        .job_queue(None)  # schedules live in our tables (see scheduler/), not in PTB
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    if webhook:
        builder = builder.updater(None)
    application: TelegramApp = builder.build()
    deps.install(application.bot_data)
    private = filters.ChatType.PRIVATE
    application.add_handler(TypeHandler(Update, edges.gate), group=-1)
    application.add_handler(TypeHandler(Update, edges.settle), group=_LAST)
    staff_broadcast.register(application)  # before the patient handlers: it must match first
    for name, callback in _STAFF_COMMANDS:
        application.add_handler(CommandHandler(name, callback, filters=private))
    application.add_handler(CommandHandler("start", patient.group_start, filters=~private))
    # Everything else a patient sends or presses goes to the one inbound pipeline.
    application.add_handler(CallbackQueryHandler(patient.button))
    application.add_handler(
        MessageHandler(
            private & ~filters.StatusUpdate.ALL & filters.UpdateType.MESSAGE, patient.message
        )
    )
    application.add_error_handler(edges.log_error)
    content = deps.content

    async def erase_posts(posts: Sequence[tuple[int, int, int]]) -> None:
        erase = erase_ticket_posts(
            application.bot, content, posts, alerts=deps.conversation.alerts
        )
        if application.running:
            # Paced (the staff group takes about a message a second): in the background, so
            # other patients' updates do not wait; the Application awaits it when it stops.
            application.create_task(erase, name="erase-ticket-posts")
        else:
            await erase

    deps.pipeline.erase_posts_with(erase_posts)
    return application
