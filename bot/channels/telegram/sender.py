"""Send one outbound message to a Telegram chat, mapping Telegram's errors to SendOutcome."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.channels.base import SendOutcome, SendStatus
from bot.channels.telegram.deps import Deps
from bot.channels.telegram.edges import mark_reachable
from bot.channels.telegram.ratelimit import SEND_GATE, SendWithdrawn, retry_seconds
from bot.channels.telegram.render import render
from bot.db.models import Address
from handlers.consent import refusal
from handlers.messages import OutboundMessage

__all__ = ["TelegramSender"]

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]


class TelegramSender:
    """The Telegram ChannelSender: paced by the bot's limiter, retried on network errors."""

    def __init__(
        self,
        bot: Any,
        deps: Deps,
        *,
        attempts: int = 3,
        backoff: float = 1.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._bot = bot
        self._deps = deps
        self._attempts = attempts
        self._backoff = backoff
        self._sleep = sleep

    async def send(self, urn: str, message: OutboundMessage) -> SendOutcome:
        """Send `message` to `telegram:<chat id>`; never raises for Telegram's errors."""
        scheme, _, ident = urn.partition(":")
        if scheme != "telegram" or not ident.lstrip("-").isdigit():
            return SendOutcome(SendStatus.FAILED, error="not_a_telegram_urn")
        if not await self._reachable(urn):
            return SendOutcome(SendStatus.UNREACHABLE, error="blocked")
        chat_id = int(ident)
        external_id = None

        async def gate() -> str | None:
            # Asked by the rate limiter after pacing, just before each part is posted.
            return await self._refusal(urn, message.consent)

        token = SEND_GATE.set(gate if message.consent is not None else None)
        try:
            for part in render(message):
                # Without a limiter to ask the gate after pacing, ask it here, just before.
                unpaced = getattr(self._bot, "rate_limiter", None) is None
                if unpaced and message.consent is not None and (reason := await gate()):
                    return SendOutcome(SendStatus.WITHDRAWN, error=reason)
                try:
                    outcome = await self._send_part(chat_id, part.text, part.markup)
                except SendWithdrawn as withdrawn:
                    log.info("telegram: not sent: %s", withdrawn.reason)
                    return SendOutcome(SendStatus.WITHDRAWN, error=withdrawn.reason)
                if outcome.status is not SendStatus.SENT:
                    return outcome
                external_id = outcome.external_id
        finally:
            SEND_GATE.reset(token)
        return SendOutcome(SendStatus.SENT, external_id=external_id)

    async def _reachable(self, urn: str) -> bool:
        async with self._deps.db.session() as session:
            reachable = await session.scalar(select(Address.reachable).where(Address.urn == urn))
        return reachable is not False

    async def _refusal(self, urn: str, consent: str | None) -> str | None:
        async with self._deps.db.session() as session:
            return await refusal(session, urn, consent)

    async def _send_part(self, chat_id: int, text: str, markup: Any) -> SendOutcome:
        for attempt in range(1, self._attempts + 1):
            try:
                sent = await self._bot.send_message(
                    chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup
                )
                return SendOutcome(SendStatus.SENT, external_id=str(sent.message_id))
            except Forbidden:
                await mark_reachable(self._deps, chat_id, False, "blocked")
                log.info("telegram: chat blocked the bot; marked unreachable")
                return SendOutcome(SendStatus.UNREACHABLE, error="forbidden")
            except RetryAfter as error:
                return SendOutcome(
                    SendStatus.RETRY, error="retry_after", retry_after=retry_seconds(error)
                )
            except BadRequest as error:  # a subclass of NetworkError: check it first
                if "chat not found" in error.message.lower():
                    await mark_reachable(self._deps, chat_id, False, "chat_not_found")
                    return SendOutcome(SendStatus.UNREACHABLE, error="chat_not_found")
                return SendOutcome(SendStatus.FAILED, error="bad_request")
            except NetworkError as error:  # 5xx, timeouts, connection errors
                if attempt == self._attempts:
                    return SendOutcome(SendStatus.RETRY, error=type(error).__name__)
                await self._sleep(self._backoff * 2 ** (attempt - 1))
            except TelegramError as error:
                return SendOutcome(SendStatus.FAILED, error=type(error).__name__)
        return SendOutcome(SendStatus.RETRY, error="attempts")  # pragma: no cover
