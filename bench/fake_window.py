"""The providers' rate limit as the fakes enforce it: N arrivals in any one-second window."""

from __future__ import annotations

from collections import deque

__all__ = ["SlidingWindow"]


class SlidingWindow:
    """Admit at most `rate` arrivals in any window [t, t + 1) of monotonic seconds."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._arrivals: deque[float] = deque()

    def wait(self, now: float) -> float | None:
        """Return how long until an arrival at `now` would fit, or None if it fits now."""
        while self._arrivals and now - self._arrivals[0] >= 1.0:
            self._arrivals.popleft()
        if len(self._arrivals) >= self.rate:
            return 1.0 - (now - self._arrivals[0])
        return None

    def book(self, now: float) -> None:
        """Count an arrival admitted at `now`."""
        self._arrivals.append(now)
