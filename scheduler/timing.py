"""Local wall-clock times to UTC instants, across DST, and quiet hours at night."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from handlers.quiet_hours import is_quiet, next_allowed_time

__all__ = [
    "QuietHours",
    "local_instant",
    "occurrences",
    "parse_hhmm",
    "patient_zone",
]


def patient_zone(name: str | None, default: ZoneInfo) -> ZoneInfo:
    """Return the patient's zone, or the clinic's when unset or unknown."""
    if not name:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return default


def parse_hhmm(text: str) -> time:
    """Parse "HH:MM" (24-hour); ValueError with a one-line message otherwise."""
    try:
        hours, minutes = text.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"{text!r} is not a time like 09:30") from None


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """Return the UTC instant of a local date and wall-clock time.

    Deliberate DST choices: a time that does not exist (the spring-forward gap, e.g. 02:30)
    moves forward by the gap (03:30 local); a time that happens twice (fall-back) means the
    first occurrence. Both come from fold=0, which zoneinfo applies consistently.
    """
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def occurrences(
    start: datetime, end: datetime, zone: ZoneInfo, at: time, weekdays: int
) -> Iterator[datetime]:
    """Yield UTC instants in [start, end) when local time is `at` on a chosen weekday.

    `weekdays` is a bitmask: bit 0 Monday ... bit 6 Sunday.
    """
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    while day <= last:
        if weekdays & (1 << day.weekday()):
            instant = local_instant(day, at, zone)
            if start <= instant < end:
                yield instant
        day += timedelta(days=1)


class QuietHours:
    """Night hours (default 21:00-08:00 local) when no automated message goes out.

    The instant arithmetic across DST lives in handlers.quiet_hours; this adds the choices
    the scheduler makes with it.
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
        return local_instant(day, self.start, zone) - timedelta(minutes=1)

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
