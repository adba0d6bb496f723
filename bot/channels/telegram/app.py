"""Build the python-telegram-bot Application: the bot, its limiter and every handler."""

from __future__ import annotations

from dataclasses import dataclass
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

from bot.channels.telegram import (
    edges,
    on_callback,
    on_command,
    on_start,
    on_text,
    staff_broadcast,
    staff_commands,
)
from bot.channels.telegram.deps import Deps
from bot.channels.telegram.ratelimit import ClinicRateLimiter

__all__ = ["TelegramApp", "build_application", "file_url_for"]

TelegramApp = Application[Any, Any, Any, Any, Any, Any]
DEFAULT_BASE_URL = "https://api.telegram.org/bot"
_LAST = 1000  # the handler group that runs after every other one (edges.settle)


def file_url_for(base_url: str) -> str:
    """Return the file URL matching a Bot API URL (`.../bot` becomes `.../file/bot`)."""
    root, _, tail = base_url.rstrip("/").rpartition("/")
    return f"{root}/file/{tail}" if tail == "bot" else f"{base_url.rstrip('/')}/file/bot"


@dataclass(frozen=True)
class _Command:
    name: str
    callback: Any


_COMMANDS = (
    _Command("help", on_command.help_command),
    _Command("topics", on_command.topics_command),
    _Command("reminders", on_command.reminders_command),
    _Command("appointments", on_command.appointments_command),
    _Command("human", on_command.human_command),
    _Command("language", on_command.language_command),
    _Command("stop", on_command.stop_command),
    _Command("mydata", on_command.mydata_command),
    _Command("forget", on_command.forget_command),
    # Staff only (the role is checked on every call; others get the /help reply).
    _Command("stats", staff_commands.stats_command),
    _Command("close", staff_commands.close_command),
    _Command("console", staff_commands.console_command),
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
    application.add_handler(CommandHandler("start", on_start.start, filters=private))
    application.add_handler(CommandHandler("start", on_start.group_start, filters=~private))
    for command in _COMMANDS:
        application.add_handler(CommandHandler(command.name, command.callback, filters=private))
    application.add_handler(CallbackQueryHandler(on_callback.button))
    application.add_handler(MessageHandler(private & filters.CONTACT, on_start.contact))
    application.add_handler(
        MessageHandler(private & filters.TEXT & ~filters.COMMAND, on_text.text)
    )
    application.add_handler(MessageHandler(private & filters.COMMAND, on_command.help_command))
    application.add_handler(
        MessageHandler(
            private & ~filters.TEXT & ~filters.StatusUpdate.ALL & filters.UpdateType.MESSAGE,
            on_text.non_text,
        )
    )
    application.add_error_handler(edges.log_error)
    return application
