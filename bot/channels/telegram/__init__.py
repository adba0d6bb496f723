"""The Telegram channel: python-telegram-bot translating between Telegram and handlers/."""

from __future__ import annotations

import os

# Opt in to PTB's future timedelta durations (RetryAfter.retry_after and friends) so that PTB 22
# does not warn on every flood-control error; our code reads either form.
os.environ.setdefault("PTB_TIMEDELTA", "1")

from bot.channels.telegram.web import TelegramChannel, TelegramOptions

__all__ = ["TelegramChannel", "TelegramOptions"]
