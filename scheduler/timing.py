"""Local wall-clock times to UTC instants, across DST (quiet hours: handlers.time.quiet_hours)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
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
