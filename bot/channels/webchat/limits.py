"""Abuse controls: which sites may embed the chat, and how fast a visitor may go."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["ChatPace", "OriginPolicy", "StartsPerIp"]

Monotonic = Callable[[], float]


class OriginPolicy:
    """Allow the configured origins and the app's own; refuse every other site."""

    def __init__(self, allowed: frozenset[str], public_url: str | None = None) -> None:
        own = {public_url.rstrip("/").lower()} if public_url else set()
        self._allowed = allowed | own

    def allows(self, origin: str | None, own_origin: str) -> bool:
        """Say whether a request from `origin` may use the chat (`own_origin`: this app's)."""
        if origin is None:
            return False
        origin = origin.lower()
        return origin == own_origin.lower() or origin in self._allowed

    def is_cross_site(self, origin: str, own_origin: str) -> bool:
        """Say whether an allowed origin needs CORS headers (another site than the app)."""
        return origin.lower() != own_origin.lower()


class StartsPerIp:
    """At most `limit` chats started per client IP in any 60 seconds (per process)."""

    def __init__(
        self, limit: int = 10, *, window: float = 60.0, clock: Monotonic = time.monotonic
    ) -> None:
        self._limit, self._window, self._clock = limit, window, clock
        self._starts: OrderedDict[str, deque[float]] = OrderedDict()

    def take(self, ip: str) -> float | None:
        """Count a start for `ip`; return None if allowed, else the seconds to wait."""
        now = self._clock()
        self._forget_idle(now)
        starts = self._starts.setdefault(ip, deque())
        self._starts.move_to_end(ip)
        while starts and now - starts[0] >= self._window:
            starts.popleft()
        if len(starts) >= self._limit:
            return self._window - (now - starts[0])
        starts.append(now)
        return None

    def _forget_idle(self, now: float) -> None:
        # Least recently seen first: drop IPs with nothing in the window, so memory stays
        # bounded by the IPs of the last minute.
        while self._starts:
            ip, starts = next(iter(self._starts.items()))
            if starts and now - starts[-1] < self._window:
                break
            del self._starts[ip]


class ChatPace:
    """A token bucket per chat: `rate` messages a second, bursts of up to `burst`."""

    def __init__(
        self,
        rate: float = 2.0,
        burst: int = 5,
        *,
        clock: Monotonic = time.monotonic,
        max_chats: int = 100_000,
    ) -> None:
        self._rate, self._burst, self._clock, self._max = rate, float(burst), clock, max_chats
        self._buckets: OrderedDict[int, tuple[float, float]] = OrderedDict()

    def take(self, chat_id: int) -> float | None:
        """Spend one message for the chat; return None if allowed, else the seconds to wait."""
        now = self._clock()
        tokens, then = self._buckets.pop(chat_id, (self._burst, now))
        tokens = min(self._burst, tokens + (now - then) * self._rate)
        allowed = tokens >= 1.0
        self._buckets[chat_id] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self._max:  # the least recently active chat is full again
            self._buckets.popitem(last=False)
        return None if allowed else (1.0 - tokens) / self._rate
