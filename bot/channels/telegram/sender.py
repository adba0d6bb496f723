"""Send one outbound message to a Telegram chat: a transport mapping Telegram's errors.

It decides nothing and writes nothing: the core checks consent and reachability before it
posts, paces with the shared rate lanes, and records a blocked chat (handlers.delivery.consent).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.channels.base import SendOutcome, SendStatus
from bot.channels.telegram.ratelimit import PACED, retry_seconds
from bot.channels.telegram.render import render
from handlers.messages import OutboundMessage

__all__ = ["TelegramSender"]

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]


class TelegramSender:
    """The Telegram ChannelSender: posts through the bot, retried on network errors."""

    def __init__(
        self,
        bot: Any,
        *,
        attempts: int = 3,
        backoff: float = 1.0,
        sleep: Sleep = asyncio.sleep,
        paced: bool = False,
    ) -> None:
        self._bot = bot
        # The outbox paces with the shared lanes; other sends go through the bot's limiter.
        self._limits = {"rate_limit_args": PACED} if paced else {}
        self._attempts = attempts
        self._backoff = backoff
        self._sleep = sleep

    @property
    def route(self) -> str:
        """Return what Telegram rate-limits: the bot (its id, never the token's secret)."""
        token = str(getattr(self._bot, "token", "") or "")
        return token.partition(":")[0] or "bot"

    async def send(self, urn: str, message: OutboundMessage) -> SendOutcome:
        """Send `message` to `telegram:<chat id>`; never raises for Telegram's errors."""
        scheme, _, ident = urn.partition(":")
        if scheme != "telegram" or not ident.lstrip("-").isdigit():
            return SendOutcome(SendStatus.FAILED, error="not_a_telegram_urn")
        chat_id = int(ident)
        external_id = None
        for part in render(message):
            outcome = await self._send_part(chat_id, part.text, part.markup)
            if outcome.status is not SendStatus.SENT:
                return outcome
            external_id = outcome.external_id
        return SendOutcome(SendStatus.SENT, external_id=external_id)

    async def _send_part(self, chat_id: int, text: str, markup: Any) -> SendOutcome:
        for attempt in range(1, self._attempts + 1):
            try:
                sent = await self._bot.send_message(
                    chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup, **self._limits
                )
                return SendOutcome(SendStatus.SENT, external_id=str(sent.message_id))
            except Forbidden:
                log.info("telegram: chat blocked the bot")
                return SendOutcome(SendStatus.UNREACHABLE, error="forbidden")
            except RetryAfter as error:
                return SendOutcome(
                    SendStatus.RATE_LIMITED, error="retry_after", retry_after=retry_seconds(error)
                )
            except BadRequest as error:  # a subclass of NetworkError: check it first
                if "chat not found" in error.message.lower():
                    return SendOutcome(SendStatus.UNREACHABLE, error="chat_not_found")
                return SendOutcome(SendStatus.FAILED, error="bad_request")
            except NetworkError as error:  # 5xx, timeouts, connection errors
                if attempt == self._attempts:
                    return SendOutcome(SendStatus.RETRY, error=type(error).__name__)
                await self._sleep(self._backoff * 2 ** (attempt - 1))
            except TelegramError as error:
                return SendOutcome(SendStatus.FAILED, error=type(error).__name__)
        return SendOutcome(SendStatus.RETRY, error="attempts")  # pragma: no cover
