"""One imported appointment row, and the checks both file formats share."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from bot.db.models import AppointmentStatus
from bot.errors import ClinicbotError

__all__ = [
    "MAX_DURATION",
    "MAX_ROWS",
    "MAX_UID",
    "AppointmentRow",
    "ImportFileError",
    "StartWindow",
    "bounded",
    "derived_uid",
    "parse_status",
    "phone_urn",
    "shown",
    "telegram_urn",
    "zone_named",
]

MAX_UID = 255  # appointments.external_uid is String(255)
MAX_DURATION = 24 * 60  # minutes
MAX_TEXT = 200  # patients.name and appointments.practitioner are String(200)
MAX_ROWS = 100_000  # appointments (CSV rows or VEVENTs) in one file
EARLIEST_START = datetime(2000, 1, 1, tzinfo=UTC)
YEARS_AHEAD = 5
_TELEGRAM_ID = re.compile(r"-?\d{1,19}")
_MAX_TELEGRAM_USER = 2**53  # Telegram user ids have at most 52 significant bits


class ImportFileError(ClinicbotError):
    """The file as a whole cannot be imported: unreadable, or of an unknown format."""

    exit_code = 2

    @classmethod
    def too_many(cls) -> ImportFileError:
        """The error for a file with more than MAX_ROWS appointments."""
        return cls(f"more than {MAX_ROWS:,} appointments: split the file")


@dataclass(frozen=True)
class AppointmentRow:
    """A parsed appointment; `status` None means "on", without saying booked or confirmed."""

    line: int
    uid: str
    urn: str
    name: str | None
    starts_at: datetime
    duration_minutes: int | None
    practitioner: str | None
    status: AppointmentStatus | None


@dataclass(frozen=True)
class StartWindow:
    """The starts an import accepts: from 2000 to five years after `now`.

    Anything outside is a typo or a placeholder (9999-12-31, 0001-01-01), and near the ends of
    `datetime` the arithmetic of planning nudges overflows.
    """

    earliest: datetime
    latest: datetime

    @classmethod
    def around(cls, now: datetime) -> StartWindow:
        """Return the window for an import run at `now`."""
        try:
            latest = now.replace(year=now.year + YEARS_AHEAD)
        except ValueError:  # 29 February, five years before a common year
            latest = now.replace(year=now.year + YEARS_AHEAD, day=28)
        return cls(EARLIEST_START, latest)

    def check(self, starts_at: datetime, raw: str) -> datetime:
        """Return `starts_at` if inside the window; ValueError naming the window otherwise."""
        if not self.earliest <= starts_at <= self.latest:
            raise self.outside(raw)
        return starts_at

    def outside(self, raw: str) -> ValueError:
        """The error for a start `raw` outside the window (or beyond what a datetime holds)."""
        return ValueError(
            f"start {raw} is out of range ({self.earliest:%Y-%m-%d} to {self.latest:%Y-%m-%d})"
        )


def shown(text: str) -> str:
    """Quote a user's value for a one-line error, cut short."""
    return repr(text if len(text) <= 40 else text[:37] + "...")


def bounded(value: str | None, what: str) -> str | None:
    """Return a name-like cell, None when blank; ValueError if it does not fit its column."""
    text = (value or "").strip()
    if len(text) > MAX_TEXT:
        raise ValueError(f"{what} longer than {MAX_TEXT} characters")
    return text or None


def phone_urn(raw: str, region: str) -> str:
    """Return `tel:+E164` for a phone number; ValueError (without the number) if invalid."""
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException:
        raise ValueError("bad phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("bad phone number")
    return "tel:" + phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def telegram_urn(raw: str) -> str:
    """Return `telegram:<id>` for a Telegram user id; ValueError if it is not one.

    A patient is a user, whose id is positive: 0 is nobody and a negative id is a group or
    channel, where a reminder would reach everyone in it.
    """
    text = raw.strip()
    if not _TELEGRAM_ID.fullmatch(text) or int(text) >= _MAX_TELEGRAM_USER:
        raise ValueError(f"bad telegram_id {shown(text)}")
    if int(text) <= 0:
        raise ValueError("telegram_id must be a positive user id")
    return f"telegram:{int(text)}"


def zone_named(name: str) -> ZoneInfo:
    """Return the IANA zone of that name; ValueError "unknown zone" otherwise."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown zone {shown(name)}") from None


def parse_status(raw: str) -> AppointmentStatus | None:
    """Return the status a cell names, None when blank; ValueError "unknown status" otherwise."""
    text = raw.strip().lower().replace("-", "_").replace(" ", "_")
    if not text:
        return None
    try:
        return AppointmentStatus(text)
    except ValueError:
        raise ValueError(f"unknown status {shown(raw.strip())}") from None


def derived_uid(urn: str, starts_at: datetime) -> str:
    """Return a stable key for a row without an id: the patient's address and start instant.

    The key names the (patient, start) pair, not the appointment: a moved time or a changed
    phone number looks like a new appointment (the old one is left as it was, not cancelled),
    and two rows for one patient at one instant are the same appointment.
    """
    instant = starts_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    digest = hashlib.sha256(f"{urn}|{instant}".encode()).hexdigest()[:40]
    return f"derived:{digest}"
