"""Import appointments from CSV or iCalendar files: upsert by UID and replan their nudges.

Rows are keyed by `external_uid` (the CSV `id` or the VEVENT's UID, else a derived key, see
`scheduler.import_rows.derived_uid`). Importing the same file twice changes nothing; a moved
start updates the appointment and a cancelled row cancels it, and either way its pending
nudges are replanned in the same transaction, so no stale reminder goes out. Across imports,
the file imported last wins (there is no column to remember a VEVENT's SEQUENCE).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.migrate import upgrade
from bot.db.models import Appointment, AppointmentStatus
from bot.db.patients import find_or_create_patient
from bot.db.session import Database
from bot.errors import ContentError
from bot.settings import Settings
from scheduler.import_csv import parse_csv
from scheduler.import_ics import parse_ics
from scheduler.import_rows import AppointmentRow, ImportFileError, zone_named
from scheduler.import_source import read_text
from scheduler.planner import patient_zone, replan_appointment
from scheduler.rules import NudgeRule, load_nudge_rules
from scheduler.timing import QuietHours

__all__ = [
    "FORMATS",
    "ImportFileError",
    "ImportReport",
    "clinic_zone_of",
    "import_appointment_file",
    "import_rows",
    "read_appointment_file",
]

FORMATS = {".csv": "csv", ".ics": "ics", ".ical": "ics", ".ifb": "ics"}
_LOOKUP_CHUNK = 500
_KEEP = {AppointmentStatus.CONFIRMED, AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW}


@dataclass
class ImportReport:
    """What an import did: counts per outcome and one "line N: reason" per skipped row."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    cancelled: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Return the one-line summary printed after the errors."""
        return (
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.cancelled} cancelled, {len(self.errors)} skipped"
        )


def _status(stored: str | None, incoming: AppointmentStatus | None, moved: bool) -> str:
    # The clinic's export knows less than we do: it says "booked" (or nothing) for a visit the
    # patient confirmed through the bot or staff marked completed or no-show. Keep what we know
    # unless the file says something firmer, or the visit moved (a new time is a new booking).
    if stored is None or moved or stored == AppointmentStatus.CANCELLED:
        return incoming or AppointmentStatus.BOOKED
    if incoming is None or (incoming == AppointmentStatus.BOOKED and stored in _KEEP):
        return stored
    return incoming


async def _existing(session: AsyncSession, uids: Sequence[str]) -> dict[str, Appointment]:
    found: dict[str, Appointment] = {}
    for start in range(0, len(uids), _LOOKUP_CHUNK):
        chunk = uids[start : start + _LOOKUP_CHUNK]
        query = select(Appointment).where(Appointment.external_uid.in_(chunk))
        for appointment in (await session.execute(query)).scalars():
            found[appointment.external_uid or ""] = appointment
    return found


async def import_rows(
    session: AsyncSession,
    rows: Sequence[AppointmentRow],
    *,
    rules: Sequence[NudgeRule],
    clinic_zone: ZoneInfo,
    quiet: QuietHours,
    now: datetime,
) -> ImportReport:
    """Upsert parsed rows by UID and replan each created or changed appointment's nudges."""
    report = ImportReport()
    by_uid = await _existing(session, list(dict.fromkeys(row.uid for row in rows)))
    for row in rows:
        patient, _, new_patient = await find_or_create_patient(
            session, row.urn, now=now, name=row.name
        )
        if not new_patient and patient.name is None and row.name:
            patient.name, patient.updated_at = row.name, now
        appointment = by_uid.get(row.uid)
        if appointment is None:
            appointment = Appointment(
                patient_id=patient.id,
                external_uid=row.uid,
                starts_at=row.starts_at,
                duration_minutes=row.duration_minutes or 60,
                practitioner=row.practitioner,
                status=_status(None, row.status, moved=False),
                created_at=now,
                updated_at=now,
            )
            session.add(appointment)
            await session.flush()  # the nudges' references need the id
            by_uid[row.uid] = appointment
            report.created += 1
        else:
            moved = appointment.starts_at != row.starts_at
            wanted = {
                "patient_id": patient.id,
                "starts_at": row.starts_at,
                "duration_minutes": row.duration_minutes or appointment.duration_minutes,
                "practitioner": row.practitioner or appointment.practitioner,
                "status": _status(appointment.status, row.status, moved),
            }
            changed = {k: v for k, v in wanted.items() if getattr(appointment, k) != v}
            if not changed:
                report.unchanged += 1
                continue
            was_cancelled = appointment.status == AppointmentStatus.CANCELLED
            for name, value in changed.items():
                setattr(appointment, name, value)
            appointment.updated_at = now
            if wanted["status"] == AppointmentStatus.CANCELLED and not was_cancelled:
                report.cancelled += 1
            else:
                report.updated += 1
        zone = patient_zone(patient.timezone, clinic_zone)
        await replan_appointment(session, appointment, rules, zone, quiet, now)
    return report


def read_appointment_file(
    path: Path, fmt: str | None, *, clinic_zone: ZoneInfo, region: str, now: datetime
) -> tuple[list[AppointmentRow], list[str]]:
    """Read and parse a CSV or .ics file (format from the extension unless given).

    The file must be a regular UTF-8 file within the limits of `scheduler.import_source`.

    Starts outside `StartWindow.around(now)` are bad rows.
    """
    kind = (fmt or FORMATS.get(path.suffix.lower(), "")).lower()
    if kind not in {"csv", "ics"}:
        shown = fmt or path.suffix or path.name
        raise ImportFileError(f"unknown format {shown!r} for {path}: use --format csv or ics")
    text = read_text(path)
    try:
        if kind == "ics":
            return parse_ics(text, clinic_zone=clinic_zone, region=region, now=now)
        return parse_csv(text, clinic_zone=clinic_zone, region=region, now=now)
    except ImportFileError as exc:
        raise ImportFileError(f"cannot import {path}: {exc}") from None


def clinic_zone_of(settings: Settings) -> ZoneInfo:
    """Return CLINIC_TIMEZONE, else the `timezone` in clinic.yaml; ContentError if neither."""
    if settings.clinic_timezone:
        return ZoneInfo(settings.clinic_timezone)
    path = settings.content_dir / "clinic.yaml"
    try:
        facts = yaml.safe_load(path.read_text(encoding="utf-8"))
        return zone_named(str(facts["timezone"]))
    except (OSError, yaml.YAMLError, TypeError, KeyError, ValueError) as exc:
        raise ContentError(f"{path}: no usable clinic timezone ({exc})") from None


async def import_appointment_file(
    settings: Settings, path: Path, fmt: str | None, *, now: datetime
) -> ImportReport:
    """Parse a file, migrate the database and import the good rows in one transaction."""
    clinic_zone = clinic_zone_of(settings)
    rows, errors = read_appointment_file(
        path, fmt, clinic_zone=clinic_zone, region=settings.default_region, now=now
    )
    try:
        rules = load_nudge_rules(settings.content_dir / "nudges.yaml")
    except ValueError as exc:
        raise ContentError(str(exc)) from None
    quiet = QuietHours(settings.quiet_hours_start, settings.quiet_hours_end)
    database = Database.open(settings.database_url)
    try:
        await upgrade(database.engine)
        async with database.session() as session, session.begin():
            report = await import_rows(
                session, rows, rules=rules, clinic_zone=clinic_zone, quiet=quiet, now=now
            )
    finally:
        await database.close()
    report.errors = errors
    return report
