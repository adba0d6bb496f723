"""Quiet hours: when an automated message may go out in the patient's own time zone.

The one home of quiet hours: the window test, the instant arithmetic across DST, and the
choices the scheduler and senders make with them (`QuietHours`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

__all__ = ["QuietHours", "is_quiet", "next_allowed_time"]

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


def _local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


class QuietHours:
    """Night hours (default 21:00-08:00 local) when no automated message goes out.

    Built once from the QUIET_HOURS_START/END settings; an empty window (start == end) is off.
    """

    def __init__(self, start: time = time(21), end: time = time(8)) -> None:
        self.start, self.end = start, end

    def is_quiet(self, instant: datetime, zone: ZoneInfo) -> bool:
        """Say whether an instant falls in quiet hours in the given zone."""
        return is_quiet(instant.astimezone(zone).time(), self.start, self.end)

    def next_allowed(self, instant: datetime, zone: ZoneInfo) -> datetime:
        """Return the instant itself if allowed, else the end of this quiet period."""
        return next_allowed_time(instant, zone, self.start, self.end)

    def last_allowed_before(self, instant: datetime, zone: ZoneInfo) -> datetime:
        """Return the instant if allowed, else the last allowed minute before quiet began."""
        if not self.is_quiet(instant, zone):
            return instant
        local = instant.astimezone(zone)
        day = local.date() if local.time() >= self.start else local.date() - timedelta(days=1)
        return _local_instant(day, self.start, zone) - timedelta(minutes=1)

    def nearest_allowed_before(
        self, instant: datetime, deadline: datetime, zone: ZoneInfo
    ) -> datetime | None:
        """Move a quiet-hours instant to the nearest allowed time before `deadline`, or None."""
        if not self.is_quiet(instant, zone):
            return instant if instant < deadline else None
        later, earlier = self.next_allowed(instant, zone), self.last_allowed_before(instant, zone)
        candidates = [t for t in (later, earlier) if t < deadline]
        if not candidates:
            return None
        return min(candidates, key=lambda t: abs(t - instant))
