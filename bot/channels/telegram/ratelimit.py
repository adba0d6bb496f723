"""Flood control in one process: at most one message a second per chat and 30 a second overall.

It paces what python-telegram-bot sends from this process (answers to patients); the outbox's
sends are paced across every process by the shared lanes (scheduler.lanes) as well.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter

__all__ = ["PACED", "ChatPacer", "ClinicRateLimiter", "EvenPacer", "retry_seconds"]

# `rate_limit_args` of a request the outbox has paced already with the shared lanes
# (scheduler.lanes): pacing it again here would only slow every process to this one's rate.
# PTB's AIORateLimiter reads an int there (a max_retries override); no real one is negative.
PACED = -1

Sleep = Callable[[float], Awaitable[None]]
_PRUNE_AT = 10_000


def retry_seconds(error: RetryAfter) -> float:
    """Return how long Telegram asked us to wait, in seconds."""
    value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class ChatPacer:
    """Space the messages to each chat at least `interval` seconds apart."""

    def __init__(
        self,
        interval: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._sleep = sleep
        self._next: dict[object, float] = {}

    async def wait(self, chat: object) -> None:
        """Wait until `chat` may receive its next message, and book the slot after it."""
        now = self._clock()
        if len(self._next) > _PRUNE_AT:
            self._next = {key: due for key, due in self._next.items() if due > now}
        due = max(self._next.get(chat, now), now)
        self._next[chat] = due + self._interval
        if due > now:
            await self._sleep(due - now)


class EvenPacer:
    """Let one send through at a time, each at least `interval` after the previous one went.

    Gaps are measured between actual sends (not booked slots), so a late wake-up of the event
    loop can never squeeze two sends closer together than the interval.
    """

    def __init__(
        self,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._sleep = sleep
        self._last: float | None = None
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return when the next send may go."""
        async with self._lock:
            if self._last is not None:
                wait = self._last + self._interval - self._clock()
                if wait > 0:
                    await self._sleep(wait)
            self._last = self._clock()


class ClinicRateLimiter(AIORateLimiter):
    """PTB's limiter (group rates) plus even spacing overall, per-chat pacing, RetryAfter waits.

    PTB's overall limiter lets a burst of `overall_max_rate` through at once, so a second can
    see twice the limit and Telegram answers 429; spacing every send 1/rate apart never does.
    """

    def __init__(
        self,
        *,
        overall_max_rate: int = 30,
        max_retries: int = 2,
        pacer: ChatPacer | None = None,
        overall: EvenPacer | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(
            overall_max_rate=0,  # overall pacing is ours (below): even spacing, no bursts
            overall_time_period=1,
            group_max_rate=20,
            group_time_period=60,
            max_retries=0,  # we wait on RetryAfter ourselves, with an injectable sleep
        )
        self._pacer = pacer or ChatPacer(sleep=sleep)
        # overall_max_rate=0 means no overall limit, as in PTB's own limiter. A fifth of a ms
        # over 1/rate keeps float rounding from ever fitting rate+1 sends into one second.
        self._overall = overall or (
            EvenPacer(1.0 / overall_max_rate + 0.0002, sleep=sleep)
            if overall_max_rate > 0
            else None
        )
        self._retries = max_retries
        self._sleep = sleep

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Pace the request for its chat, and honour RetryAfter up to `max_retries` times."""
        if rate_limit_args == PACED:  # the outbox's: paced across processes, 429s are its own
            return await callback(*args, **kwargs)
        chat = data.get("chat_id")
        for attempt in range(self._retries + 1):
            if chat is not None:
                await self._pacer.wait(str(chat))
                if self._overall is not None:
                    await self._overall.wait()
            try:
                return await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
            except RetryAfter as error:
                if attempt == self._retries:
                    raise
                await self._sleep(retry_seconds(error))
        raise AssertionError("unreachable")  # pragma: no cover
