"""Appointments: upload a CSV or .ics file, see a dry-run of what would change, then commit."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from bot.console.auth import SignedIn
from bot.console.guard import staff_only
from bot.console.state import PendingImport, console_of
from bot.errors import ContentError
from bot.settings import Settings
from handlers.staff.roles import audit
from handlers.time.quiet_hours import QuietHours
from scheduler.import_rows import AppointmentRow
from scheduler.import_source import MAX_FILE_BYTES
from scheduler.imports import (
    FORMATS,
    ImportFileError,
    ImportReport,
    clinic_zone_of,
    import_in_batches,
    import_rows,
    read_appointment_file,
)
from scheduler.rules import NudgeRule, load_nudge_rules

__all__ = ["import_commit", "import_dry_run", "imports_page"]

log = logging.getLogger(__name__)


class _DryRun(Exception):
    """Raised inside the dry-run's transaction so that everything it wrote is rolled back."""


def _parse(
    settings: Settings, name: str, text: str, now: Any
) -> tuple[list[AppointmentRow], list[str]]:
    """Parse through the CLI's reader (same limits and checks) from a private temporary file."""
    suffix = Path(name).suffix.lower()
    if suffix not in FORMATS:
        raise ImportFileError(f"{name!r} is not a .csv or .ics file")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            return read_appointment_file(
                path,
                None,
                clinic_zone=clinic_zone_of(settings),
                region=settings.default_region,
                now=now,
            )
        except ImportFileError as exc:  # name the upload, not the temporary path
            raise ImportFileError(str(exc).replace(str(path), name)) from None


def _rules(settings: Settings) -> tuple[NudgeRule, ...]:
    try:
        return tuple(load_nudge_rules(settings.content_dir / "nudges.yaml"))
    except ValueError as exc:
        raise ContentError(str(exc)) from None


@staff_only
async def imports_page(request: Request, who: SignedIn) -> Response:
    """Show the upload form."""
    context = {"who": who, "page": "appointments"}
    return console_of(request).render(request, "appointments.html", context)


async def _read_upload(request: Request) -> tuple[str, str]:
    async with request.form(max_files=1, max_fields=10) as form:  # closes the spooled file
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ImportFileError("choose a .csv or .ics file")
        data = await upload.read(MAX_FILE_BYTES + 1)
        name = Path(upload.filename).name[:100]
    if len(data) > MAX_FILE_BYTES:
        raise ImportFileError(f"the file is larger than {MAX_FILE_BYTES // 2**20} MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError("the file is not UTF-8 text") from None
    return name, text


@staff_only
async def import_dry_run(request: Request, who: SignedIn) -> Response:
    """Run the import in a transaction that is rolled back, and show what it would do."""
    console = console_of(request)
    services = console.services(request)
    settings, now = services.settings, console.now(request)
    context: dict[str, Any] = {"who": who, "page": "appointments"}
    try:
        name, text = await _read_upload(request)
        rows, errors = _parse(settings, name, text, now)
        report = ImportReport()
        try:
            async with services.db.session() as session, session.begin():
                report = await import_rows(
                    session,
                    rows,
                    rules=_rules(settings),
                    clinic_zone=clinic_zone_of(settings),
                    quiet=QuietHours(settings.quiet_hours_start, settings.quiet_hours_end),
                    now=now,
                )
                raise _DryRun
        except _DryRun:
            pass
        report.errors = errors
        key = console.keep_upload(PendingImport(who.telegram_user_id, name, text, now))
        context.update(name=name, report=report, key=key, rows=len(rows))
    except (ImportFileError, ContentError) as exc:
        context["error"] = str(exc)
    return console.render(request, "appointments.html", context)


@staff_only
async def import_commit(request: Request, who: SignedIn) -> Response:
    """Import the file the dry-run checked (re-parsed now), in short batches; audited."""
    console = console_of(request)
    services = console.services(request)
    settings, now = services.settings, console.now(request)
    form = await request.form()
    pending = console.uploads.pop(str(form.get("key", "")), None)
    context: dict[str, Any] = {"who": who, "page": "appointments"}
    if pending is None or pending.owner != who.telegram_user_id:
        context["error"] = "that check is too old or unknown: upload the file again"
        return console.render(request, "appointments.html", context, 409)
    try:
        rows, errors = _parse(settings, pending.name, pending.text, now)
        report = await import_in_batches(
            services.db,
            rows,
            rules=_rules(settings),
            clinic_zone=clinic_zone_of(settings),
            quiet=QuietHours(settings.quiet_hours_start, settings.quiet_hours_end),
            now=now,
        )
    except (ImportFileError, ContentError) as exc:
        context["error"] = str(exc)
        return console.render(request, "appointments.html", context, 422)
    report.errors = errors
    async with services.db.session() as session, session.begin():
        await audit(session, who.actor, "appointments.imported", now, detail=report.summary())
    log.info("console import: %s", report.summary())
    context.update(name=pending.name, report=report, committed=True, rows=len(rows))
    return console.render(request, "appointments.html", context)
