"""Read appointments from an iCalendar (.ics) file: one VEVENT per appointment, keyed by UID.

What is read from each VEVENT:

- UID: the appointment's key (a derived key when missing, see `derived_uid`).
- DTSTART: a date-time in its TZID zone, in UTC (`Z`), or floating (the clinic's zone).
  An all-day event or an unknown TZID is an error. DTEND or DURATION gives the length.
- STATUS: CANCELLED cancels, CONFIRMED confirms, TENTATIVE or none means booked; a calendar
  with METHOD:CANCEL cancels every event in it.
- The patient: the first ATTENDEE whose address is `tel:` or `telegram:` (its CN is the name);
  else a phone number in CONTACT (the text before it is the name); else in DESCRIPTION, which
  may say `Telegram: <id>` instead. A mailto: ATTENDEE's CN still gives the name.
- ORGANIZER's CN is the practitioner.
- SEQUENCE, then LAST-MODIFIED: when a UID appears more than once in a file, the newest wins.

RRULE and RECURRENCE-ID (recurring events) are reported and skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from icalendar import Calendar, Component

from bot.db.models import AppointmentStatus
from scheduler.import_rows import (
    MAX_DURATION,
    MAX_ROWS,
    MAX_UID,
    AppointmentRow,
    ImportFileError,
    StartWindow,
    bounded,
    derived_uid,
    phone_urn,
    shown,
    telegram_urn,
    zone_named,
)

__all__ = ["parse_ics"]

_STATUS = {
    "": None,
    "TENTATIVE": None,
    "CONFIRMED": AppointmentStatus.CONFIRMED,
    "CANCELLED": AppointmentStatus.CANCELLED,
}
_TELEGRAM = re.compile(r"\btelegram(?:[ _]?id)?\s*[:#=]?\s*(-?\d{3,19})\b", re.IGNORECASE)
_OLDEST = datetime.min.replace(tzinfo=UTC)
_REPEATABLE = {"ATTENDEE", "CONTACT", "RRULE"}
# What icalendar raises from a malformed value it parses lazily (on `.dt`, say), besides
# ValueError: each is one bad event, not a traceback.
_MALFORMED = (ValueError, TypeError, AttributeError, KeyError, IndexError, OverflowError)

Version = tuple[int, datetime, int]


def _prop(component: Component, name: str) -> Any:
    # icalendar types a property as a union of every value class; each caller knows which.
    # It gives a list when the property is repeated: fine for ATTENDEE or CONTACT, an error
    # for the ones an event has once (two DTSTARTs say nothing we can trust).
    value = component.get(name)
    if isinstance(value, list) and name not in _REPEATABLE:
        raise ValueError(f"{name} appears more than once")
    return value


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _param(prop: Any, name: str) -> str | None:
    params = getattr(prop, "params", None)
    value = params.get(name) if params is not None else None
    if value is None:
        return None
    return str(value).strip() or None


def _first_number(text: str, region: str) -> tuple[str, int] | None:
    for match in phonenumbers.PhoneNumberMatcher(text, region):
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        return f"tel:{e164}", match.start
    return None


def _patient(event: Component, region: str) -> tuple[str, str | None]:
    attendees = _listed(_prop(event, "ATTENDEE"))
    named = next((n for a in attendees if (n := _param(a, "CN"))), None)
    for attendee in attendees:
        scheme, _, path = str(attendee).strip().partition(":")
        if scheme.lower() == "tel":
            return phone_urn(path, region), _param(attendee, "CN") or named
        if scheme.lower() == "telegram":
            return telegram_urn(path), _param(attendee, "CN") or named
    for contact in _listed(_prop(event, "CONTACT")):
        found = _first_number(str(contact), region)
        if found is not None:
            before = str(contact)[: found[1]].strip(" ,;-:\n")
            return found[0], named or _param(contact, "CN") or before or None
    description = str(_prop(event, "DESCRIPTION") or "")
    found = _first_number(description, region)
    if found is not None:
        return found[0], named
    telegram = _TELEGRAM.search(description)
    if telegram is not None:
        return telegram_urn(telegram.group(1)), named
    raise ValueError("no phone or telegram id (ATTENDEE tel:, CONTACT or DESCRIPTION)")


def _raw(prop: Any) -> str:
    try:
        return str(prop.to_ical().decode("utf-8", "replace"))[:40]
    except (AttributeError, ValueError, TypeError):
        return "?"


def _instant(prop: Any, clinic_zone: ZoneInfo) -> datetime | None:
    """Return the UTC instant of a date-time property, None when no datetime holds it."""
    try:
        value = prop.dt
    except (ValueError, AttributeError):
        raise ValueError("unparseable date") from None
    if not isinstance(value, datetime):
        raise ValueError("an all-day event has no start time")
    if value.tzinfo is None:
        # icalendar leaves a TZID it cannot resolve naive; no TZID at all means floating time.
        tzid = _param(prop, "TZID")
        value = value.replace(tzinfo=zone_named(tzid) if tzid else clinic_zone)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 00010101T000000 in Tokyo is in the year 0
        return None


def _minutes(event: Component, starts_at: datetime, clinic_zone: ZoneInfo) -> int | None:
    if _prop(event, "DTEND") is not None:
        ends_at = _instant(_prop(event, "DTEND"), clinic_zone)
        if ends_at is None:
            raise ValueError("the end is out of range")
        length = ends_at - starts_at
    elif _prop(event, "DURATION") is not None:
        length = _prop(event, "DURATION").dt
    else:
        return None
    if not isinstance(length, timedelta) or length <= timedelta(0):
        raise ValueError("the event ends before it starts")
    if length > timedelta(minutes=MAX_DURATION):
        raise ValueError(f"the event is longer than {MAX_DURATION} minutes")
    return int(length.total_seconds() // 60)


def _event(
    event: Component,
    line: int,
    cancelled: bool,
    clinic_zone: ZoneInfo,
    region: str,
    window: StartWindow,
) -> AppointmentRow:
    if _prop(event, "RRULE") is not None or _prop(event, "RECURRENCE-ID") is not None:
        raise ValueError("recurring events are not supported")
    start = _prop(event, "DTSTART")
    if start is None:
        raise ValueError("missing start")
    instant = _instant(start, clinic_zone)
    if instant is None:
        raise window.outside(_raw(start))
    starts_at = window.check(instant, _raw(start))
    raw_status = str(_prop(event, "STATUS") or "").strip().upper()
    if raw_status not in _STATUS:
        raise ValueError(f"unknown status {shown(raw_status)}")
    status = AppointmentStatus.CANCELLED if cancelled else _STATUS[raw_status]
    urn, name = _patient(event, region)
    uid = str(_prop(event, "UID") or "").strip() or derived_uid(urn, starts_at)
    if len(uid) > MAX_UID:
        raise ValueError(f"UID longer than {MAX_UID} characters")
    return AppointmentRow(
        line=line,
        uid=uid,
        urn=urn,
        name=bounded(name, "name"),
        starts_at=starts_at,
        duration_minutes=_minutes(event, starts_at, clinic_zone),
        practitioner=bounded(_param(_prop(event, "ORGANIZER"), "CN"), "practitioner"),
        status=status,
    )


def _version(event: Component, order: int) -> Version:
    try:
        sequence = int(_prop(event, "SEQUENCE") or 0)
        modified = (
            _prop(event, "LAST-MODIFIED").dt if _prop(event, "LAST-MODIFIED") is not None else None
        )
    except (ValueError, AttributeError, TypeError):
        sequence, modified = 0, None
    if not isinstance(modified, datetime):
        modified = _OLDEST
    elif modified.tzinfo is None:
        modified = modified.replace(tzinfo=UTC)
    return sequence, modified, order


def _event_lines(text: str) -> Iterator[int]:
    # icalendar keeps no line numbers: find each VEVENT's BEGIN line in the raw text, in the
    # same document order as Calendar.walk.
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().upper() == "BEGIN:VEVENT":
            yield number


def parse_ics(
    text: str, *, clinic_zone: ZoneInfo, region: str, now: datetime
) -> tuple[list[AppointmentRow], list[str]]:
    """Parse iCalendar text into rows and "line N (UID u): reason" errors.

    Starts must fall in `StartWindow.around(now)`.
    """
    window = StartWindow.around(now)
    lines = list(_event_lines(text))
    if len(lines) > MAX_ROWS:
        raise ImportFileError.too_many()  # before icalendar parses it all
    try:
        calendar = Calendar.from_ical(text)
        cancelled = str(_prop(calendar, "METHOD") or "").strip().upper() == "CANCEL"
    except _MALFORMED as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise ImportFileError(f"not an iCalendar file: {reason}") from None
    newest: dict[str, tuple[Version, AppointmentRow]] = {}
    errors: list[str] = []
    for order, event in enumerate(calendar.walk("VEVENT")):
        line = lines[order] if order < len(lines) else 0
        uid = event.get("UID")
        uid = str(uid).strip() if isinstance(uid, str) else ""
        where = f"line {line}" + (f" (UID {shown(uid)})" if uid else "")
        try:
            row = _event(event, line, cancelled, clinic_zone, region, window)
        except ValueError as exc:
            errors.append(f"{where}: {exc}")
            continue
        except _MALFORMED as exc:
            errors.append(f"{where}: malformed event ({type(exc).__name__})")
            continue
        version = _version(event, order)
        if row.uid not in newest or newest[row.uid][0] < version:
            newest[row.uid] = (version, row)
    rows = sorted((row for _, row in newest.values()), key=lambda row: row.line)
    return rows, errors
