"""Quiet hours: when an automated message may go out in the patient's own time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, tzinfo

__all__ = ["is_quiet", "next_allowed_time"]

_DAY = 86400.0
_SCAN_STEP = timedelta(hours=1)
# Enough constant-offset stretches for the longest quiet window plus any DST or zone change.
_MAX_STRETCHES = 16


def is_quiet(local: time, start: time, end: time) -> bool:
    """Say whether a local wall-clock time falls in the quiet window [start, end)."""
    local = local.replace(tzinfo=None)
    if start == end:
        return False  # an empty window: quiet hours are off
    if start < end:
        return start <= local < end
    return local >= start or local < end  # the window wraps past midnight


def _seconds(moment: time) -> float:
    return moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6


def _offset(moment: datetime, tz: tzinfo) -> timedelta | None:
    return moment.astimezone(tz).utcoffset()


def _next_transition(begin: datetime, limit: datetime, tz: tzinfo) -> datetime | None:
    """Return the first instant in (begin, limit] where the zone's UTC offset changes."""
    offset = _offset(begin, tz)
    low = begin
    while low < limit:
        high = min(low + _SCAN_STEP, limit)
        if _offset(high, tz) != offset:
            # Zones change offset on whole seconds: bisect down to the second.
            lo, hi = int(low.timestamp()), int(high.timestamp())
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset(datetime.fromtimestamp(mid, UTC), tz) == offset:
                    lo = mid
                else:
                    hi = mid
            return max(datetime.fromtimestamp(hi, UTC), begin + timedelta(microseconds=1))
        low = high
    return None


def next_allowed_time(now: datetime, tz: tzinfo, start: time, end: time) -> datetime:
    """Return the first instant at or after `now` outside quiet hours in `tz`, in UTC.

    Correct across DST: when the morning's end time falls in a skipped hour, the answer is the
    moment the clocks jump; a repeated hour is quiet or not by the wall clock it shows.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    moment = now.astimezone(UTC)
    for _ in range(_MAX_STRETCHES):
        local = moment.astimezone(tz)
        if not is_quiet(local.time(), start, end):
            return moment
        # Within a stretch of constant offset the wall clock runs with UTC, so the window
        # ends when the clock has run from `local` to `end`, unless the offset changes first.
        wait = (_seconds(end) - _seconds(local.time())) % _DAY
        reaches_end = moment + timedelta(seconds=wait)
        transition = _next_transition(moment, reaches_end, tz)
        if transition is None:
            return reaches_end
        moment = transition
    raise ValueError("quiet hours never end in this time zone")  # pragma: no cover
