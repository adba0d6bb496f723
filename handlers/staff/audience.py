"""Who an announcement is for: a compact audience spec, and the recipients it selects in SQL."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Address,
    Appointment,
    AppointmentStatus,
    Consent,
    ConsentCategory,
    Patient,
    PatientStatus,
    PatientTag,
)

__all__ = [
    "CHANNELS",
    "Audience",
    "AudienceError",
    "Recipient",
    "Selection",
    "parse_audience",
    "select_recipients",
]

CHANNELS = ("telegram", "sms", "both")
LANGUAGES = ("en", "es")
MAX_DAYS = 365
_TAG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_DAYS = re.compile(r"^(\d{1,3})d?$")
_UPCOMING = (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED)


class AudienceError(ValueError):
    """An audience spec that cannot be understood; the message is one line for the user."""


@dataclass(frozen=True)
class Audience:
    """Filters that all apply: channel, language, any of some tags, an appointment soon."""

    channel: str = "both"
    lang: str | None = None
    tags: tuple[str, ...] = field(default=())
    appointment_within_days: int | None = None

    def spec(self) -> str:
        """Return the compact form, as `parse_audience` reads it."""
        parts = [f"channel={self.channel}"] if self.channel != "both" else []
        if self.lang:
            parts.append(f"lang={self.lang}")
        if self.tags:
            parts.append("tag=" + ",".join(self.tags))
        if self.appointment_within_days is not None:
            parts.append(f"appointment_within={self.appointment_within_days}d")
        return ";".join(parts) or "all"

    def to_json(self) -> str:
        """Return the audience as stored on the broadcast row."""
        return json.dumps(
            {
                "channel": self.channel,
                "lang": self.lang,
                "tags": list(self.tags),
                "appointment_within_days": self.appointment_within_days,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, raw: str) -> Audience:
        """Read an audience stored by `to_json`."""
        data: dict[str, Any] = json.loads(raw)
        return cls(
            channel=str(data.get("channel") or "both"),
            lang=data.get("lang"),
            tags=tuple(data.get("tags") or ()),
            appointment_within_days=data.get("appointment_within_days"),
        )


def _tags(value: str) -> tuple[str, ...]:
    tags = tuple(dict.fromkeys(t.strip().lower() for t in value.split(",") if t.strip()))
    bad = [t for t in tags if not _TAG.match(t)]
    if not tags or bad:
        raise AudienceError(f"bad tag {bad[0] if bad else value!r}: use letters, digits, - or _")
    return tags


def parse_audience(spec: str) -> Audience:
    """Parse `all`, `channel=sms`, `lang=es`, `tag=knee,seniors`, `appointment_within=7d`,
    combined with `;`; raise AudienceError with a one-line reason otherwise."""
    values: dict[str, Any] = {}
    parts = [p.strip() for p in spec.split(";") if p.strip()]
    if not parts:
        raise AudienceError("empty audience: use all, channel=, lang=, tag=, appointment_within=")
    for part in parts:
        if part.lower() == "all":
            continue
        name, sep, value = (s.strip().lower() for s in part.partition("="))
        if not sep or not value:
            raise AudienceError(f"unknown audience {part!r}")
        if name in values:
            raise AudienceError(f"audience {name} given twice")
        if name == "channel" and value in CHANNELS:
            values["channel"] = value
        elif name == "lang" and value in LANGUAGES:
            values["lang"] = value
        elif name == "tag":
            values["tags"] = _tags(value)
        elif name == "appointment_within" and (days := _DAYS.match(value)):
            number = int(days.group(1))
            if not 1 <= number <= MAX_DAYS:
                raise AudienceError(f"appointment_within must be 1 to {MAX_DAYS} days")
            values["appointment_within_days"] = number
        else:
            raise AudienceError(f"unknown audience {part!r}")
    return Audience(**values)


@dataclass(frozen=True)
class Recipient:
    """One patient and the one channel ("telegram" or "tel") the announcement goes to."""

    patient_id: int
    channel: str


@dataclass(frozen=True)
class Selection:
    """The recipients, and how many of the audience were left out and why."""

    recipients: tuple[Recipient, ...]
    excluded: dict[str, int]  # "no_consent", "opted_out", "unreachable"

    def by_channel(self) -> dict[str, int]:
        """Count recipients per channel."""
        counts = {"telegram": 0, "tel": 0}
        for recipient in self.recipients:
            counts[recipient.channel] += 1
        return counts


def _flag(condition: Any) -> Any:
    return func.max(case((condition, 1), else_=0))


async def select_recipients(session: AsyncSession, audience: Audience, now: datetime) -> Selection:
    """Select one row per patient in the audience with the channel it goes to, or why not.

    With channel "both", a patient reachable on Telegram and SMS gets Telegram only: one
    announcement per person, and Telegram is free and richer. SMS needs a reachable number
    that has not opted out; everyone needs announcement consent.
    """
    schemes = {"telegram": ["telegram"], "sms": ["tel"], "both": ["telegram", "tel"]}
    usable = and_(Address.reachable.is_(True), Address.opted_out_at.is_(None))
    flags = (
        select(
            Patient.id.label("patient_id"),
            _flag(and_(Address.scheme == "telegram", usable)).label("telegram_ok"),
            _flag(and_(Address.scheme == "tel", usable)).label("sms_ok"),
            _flag(and_(Address.scheme == "tel", Address.opted_out_at.is_not(None))).label(
                "sms_out"
            ),
        )
        .join(Address, Address.patient_id == Patient.id)
        .where(
            Patient.status == PatientStatus.ACTIVE,
            Address.scheme.in_(schemes[audience.channel]),
        )
        .group_by(Patient.id)
    )
    if audience.lang == "en":  # patients who never chose a language get English
        flags = flags.where(func.coalesce(Patient.language, "en") == "en")
    elif audience.lang:
        flags = flags.where(Patient.language == audience.lang)
    if audience.tags:
        flags = flags.where(
            exists().where(PatientTag.patient_id == Patient.id, PatientTag.tag.in_(audience.tags))
        )
    if audience.appointment_within_days is not None:
        until = now + timedelta(days=audience.appointment_within_days)
        flags = flags.where(
            exists().where(
                Appointment.patient_id == Patient.id,
                Appointment.starts_at >= now,
                Appointment.starts_at <= until,
                Appointment.status.in_(list(_UPCOMING)),
            )
        )
    per_patient = flags.subquery()
    consented = exists().where(
        Consent.patient_id == per_patient.c.patient_id,
        Consent.category == ConsentCategory.ANNOUNCEMENTS,
        Consent.granted.is_(True),
    )
    channel = case(
        (per_patient.c.telegram_ok == 1, literal("telegram")),
        (per_patient.c.sms_ok == 1, literal("tel")),
        else_=literal(None),
    )
    outcome = case(
        (and_(consented, channel.is_not(None)), literal("ok")),
        (and_(channel.is_(None), per_patient.c.sms_out == 1), literal("opted_out")),
        (~consented, literal("no_consent")),
        else_=literal("unreachable"),
    )
    rows = await session.execute(
        select(
            per_patient.c.patient_id, channel.label("channel"), outcome.label("outcome")
        ).order_by(per_patient.c.patient_id)
    )
    recipients: list[Recipient] = []
    excluded = {"no_consent": 0, "opted_out": 0, "unreachable": 0}
    for patient_id, chosen, result in rows:
        if result == "ok":
            recipients.append(Recipient(int(patient_id), str(chosen)))
        else:
            excluded[str(result)] += 1
    return Selection(tuple(recipients), excluded)
