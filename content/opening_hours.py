"""The clinic's opening hours from clinic.yaml: is it open now, and when does it open next."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["DAYS", "OpeningHours", "parse_opening_hours"]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class OpeningHours:
    """One opening span (or none: closed) per weekday, in the clinic's time zone."""

    zone: ZoneInfo
    spans: tuple[tuple[time, time] | None, ...]  # Monday first

    def is_open(self, now: datetime) -> bool:
        """Say whether the clinic is open at `now`."""
        local = now.astimezone(self.zone)
        span = self.spans[local.weekday()]
        return span is not None and span[0] <= local.time().replace(tzinfo=None) < span[1]

    def next_opening(self, now: datetime) -> datetime | None:
        """Return when the clinic next opens after `now` (None if it is never open)."""
        local = now.astimezone(self.zone)
        for ahead in range(8):
            day = local.date() + timedelta(days=ahead)
            span = self.spans[day.weekday()]
            if span is None:
                continue
            opens = datetime.combine(day, span[0], tzinfo=self.zone)
            if opens > now:
                return opens
        return None


def parse_opening_hours(clinic: Mapping[str, Any]) -> OpeningHours | None:
    """Read `opening_hours` (mon..sun: "09:00-19:00" or closed); None if absent.

    Raise ValueError naming the first bad entry, so `clinicbot content check` can report it.
    """
    raw = clinic.get("opening_hours")
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ValueError("opening_hours must map mon..sun to HH:MM-HH:MM or closed")
    unknown = sorted(set(map(str, raw)) - set(DAYS))
    if unknown:
        raise ValueError(f"opening_hours: unknown day {unknown[0]!r} (use mon..sun)")
    spans: list[tuple[time, time] | None] = []
    for day in DAYS:
        value = raw.get(day, "closed")
        text = "closed" if value is None or value is False else str(value).strip().lower()
        if text == "closed":
            spans.append(None)
            continue
        match = _SPAN.match(text)
        if match is None:
            raise ValueError(f"opening_hours.{day}: {text!r} is not HH:MM-HH:MM or closed")
        opens = time(int(match[1]), int(match[2]))
        closes = time(int(match[3]), int(match[4]))
        if closes <= opens:
            raise ValueError(f"opening_hours.{day}: closes before it opens")
        spans.append((opens, closes))
    return OpeningHours(ZoneInfo(str(clinic.get("timezone", "UTC"))), tuple(spans))
