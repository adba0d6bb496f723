"""Import appointments from CSV or iCalendar files: upsert by UID and replan their nudges.

Rows are keyed by `external_uid` (the CSV `id` or the VEVENT's UID, else a derived key, see
`scheduler.import_rows.derived_uid`). Importing the same file twice changes nothing; a moved
start updates the appointment and a cancelled row cancels it, and either way its pending
nudges are replanned in the same transaction, so no stale reminder goes out. Across imports,
the file imported last wins (there is no column to remember a VEVENT's SEQUENCE).

Rows go in short batches, each its own transaction (see `Pace`), so that webhooks keep
answering during a large import on SQLite; each batch is read and written in bulk. A batch
is idempotent, so an import stopped part-way and run again converges.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.migrate import upgrade
from bot.db.models import Appointment, AppointmentStatus
from bot.db.session import Database, connection_errors
from bot.errors import ContentError
from bot.settings import Settings
from handlers.time.clinic_zone import clinic_zone
from handlers.time.quiet_hours import QuietHours
from scheduler.import_csv import parse_csv
from scheduler.import_ics import parse_ics
from scheduler.import_rows import AppointmentRow, ImportFileError
from scheduler.import_source import read_text
from scheduler.import_store import Person, existing_appointments, new_ids, people_of
from scheduler.planner import replan_visits
from scheduler.rules import NudgeRule, load_nudge_rules
from scheduler.timing import patient_zone

__all__ = [
    "FORMATS",
    "ImportFileError",
    "ImportReport",
    "Pace",
    "clinic_zone_of",
    "import_appointment_file",
    "import_in_batches",
    "import_rows",
    "read_appointment_file",
]

FORMATS = {".csv": "csv", ".ics": "ics", ".ical": "ics", ".ifb": "ics"}
log = logging.getLogger(__name__)

_ATTEMPTS = 3
_KEEP = {AppointmentStatus.CONFIRMED, AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW}


@dataclass
class ImportReport:
    """What an import did: counts per outcome and one "line N: reason" per skipped row."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    cancelled: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: ImportReport) -> None:
        """Count another batch's outcomes in this report."""
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.cancelled += other.cancelled
        self.errors.extend(other.errors)

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


async def import_rows(
    session: AsyncSession,
    rows: Sequence[AppointmentRow],
    *,
    rules: Sequence[NudgeRule],
    clinic_zone: ZoneInfo,
    quiet: QuietHours,
    now: datetime,
) -> ImportReport:
    """Upsert parsed rows by UID and replan each created or changed appointment's nudges.

    Works in bulk: a few reads for all the rows, one flush, one replan of the touched
    appointments. Rows are applied in order, so a UID given twice ends as its last row says.
    """
    report = ImportReport()
    people = await people_of(session, rows, now)
    by_uid = await existing_appointments(session, list(dict.fromkeys(row.uid for row in rows)))
    touched: dict[str, tuple[Appointment, Person]] = {}
    created: list[Appointment] = []
    for row in rows:
        patient = people[row.urn]
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
            created.append(appointment)
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
        touched[row.uid] = (appointment, patient)
    ids = await new_ids(session, Appointment, len(created))
    for appointment, ident in zip(created, ids or [], strict=False):
        appointment.id = ident  # one executemany on SQLite, see new_ids
    session.add_all(created)
    await session.flush()  # the nudges' references need the new appointments' ids
    visits = [(a, patient_zone(p.timezone, clinic_zone)) for a, p in touched.values()]
    await replan_visits(session, visits, rules, quiet, now)
    return report


@dataclass(frozen=True)
class Pace:
    """How an import shares the database: batches that hold the write lock about `hold`
    seconds each, with `pause` seconds between them for the webhooks' transactions.

    SQLite has one writer at a time and another process's writer waits in SQLite's busy
    handler, which polls in growing sleeps (up to 100 ms): a short batch and a pause after
    each let it in within a few polls. The batch size follows the measured time per row.
    A 50 ms pause rather than 20 ms cost 8% of the import's speed and cut the webhooks' worst
    wait from ~1 s to ~0.2 s (bench/import_load.py, 20,000 rows).
    """

    hold: float = 0.05
    pause: float = 0.05
    first: int = 1  # the first batch also compiles the statements (~0.1 s here)
    most: int = 2000

    def next_size(self, size: int, elapsed: float) -> int:
        """Return the size of the next batch after `size` rows took `elapsed` seconds."""
        if elapsed <= 0:
            return min(self.most, size * 2)
        return max(1, min(self.most, int(size * min(2.0, self.hold / elapsed))))


async def _import_batch(
    database: Database,
    rows: Sequence[AppointmentRow],
    *,
    rules: Sequence[NudgeRule],
    clinic_zone: ZoneInfo,
    quiet: QuietHours,
    now: datetime,
) -> tuple[ImportReport, float]:
    """Import one batch in its own transaction; return its report and seconds in it."""
    for attempt in range(_ATTEMPTS):
        try:
            async with database.session() as session, session.begin():
                await session.connection()  # BEGIN (IMMEDIATE on SQLite: waits for the lock)
                began = time.perf_counter()
                report = await import_rows(
                    session, rows, rules=rules, clinic_zone=clinic_zone, quiet=quiet, now=now
                )
            return report, time.perf_counter() - began
        except IntegrityError:
            # On PostgreSQL a webhook (or another import) created one of these addresses or
            # UIDs after our read: the batch rolled back whole; read again and redo it.
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


async def import_in_batches(
    database: Database,
    rows: Sequence[AppointmentRow],
    *,
    rules: Sequence[NudgeRule],
    clinic_zone: ZoneInfo,
    quiet: QuietHours,
    now: datetime,
    pace: Pace = Pace(),
) -> ImportReport:
    """Import rows in short transactions, committing each batch.

    Each batch is idempotent (rows are keyed by UID), so an import interrupted between
    batches, run again, ends where one uninterrupted run would.
    """
    report = ImportReport()
    size, start, holds = pace.first, 0, []
    while start < len(rows):
        batch = rows[start : start + size]
        part, elapsed = await _import_batch(
            database, batch, rules=rules, clinic_zone=clinic_zone, quiet=quiet, now=now
        )
        report.add(part)
        start += len(batch)
        holds.append(elapsed)
        log.debug("import batch of %d rows held the database %.0f ms", len(batch), elapsed * 1e3)
        size = pace.next_size(len(batch), elapsed)
        if start < len(rows):
            await asyncio.sleep(pace.pause)
    if holds:
        ranked = sorted(holds)
        log.info(
            "imported %d rows in %d batches, holding the database %.0f ms median, "
            "%.0f ms p99, %.0f ms longest",
            len(rows),
            len(holds),
            statistics.median(ranked) * 1e3,
            ranked[int(0.99 * (len(ranked) - 1))] * 1e3,
            ranked[-1] * 1e3,
        )
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
    """Return the clinic zone (handlers.time.clinic_zone) for a command that loads no content."""
    if settings.clinic_timezone:
        return clinic_zone({}, settings.clinic_timezone)  # no need to read the content
    path = settings.content_dir / "clinic.yaml"
    try:
        facts = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ContentError(f"{path}: no usable clinic timezone ({exc})") from None
    return clinic_zone(facts if isinstance(facts, dict) else {})


async def import_appointment_file(
    settings: Settings, path: Path, fmt: str | None, *, now: datetime
) -> ImportReport:
    """Parse a file, migrate the database and import the good rows in short batches."""
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
        async with connection_errors(database.engine):
            report = await import_in_batches(
                database, rows, rules=rules, clinic_zone=clinic_zone, quiet=quiet, now=now
            )
    finally:
        await database.close()
    report.errors = errors
    return report
