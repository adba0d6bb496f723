"""Read appointments from a CSV export: one row per appointment, a documented header."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from scheduler.import_rows import (
    MAX_DURATION,
    MAX_ROWS,
    MAX_UID,
    AppointmentRow,
    ImportFileError,
    StartWindow,
    bounded,
    derived_uid,
    parse_status,
    phone_urn,
    shown,
    telegram_urn,
    zone_named,
)

__all__ = ["COLUMNS", "parse_csv", "parse_start"]

COLUMNS = (
    "id",
    "phone",
    "telegram_id",
    "name",
    "start",
    "timezone",
    "duration_minutes",
    "practitioner",
    "status",
)


def parse_start(
    raw: str, zone_name: str, clinic_zone: ZoneInfo, window: StartWindow | None = None
) -> datetime:
    """Return the UTC instant of a start cell: ISO 8601 with an offset, or local in a zone.

    A local time in the spring-forward gap moves forward by the gap and a doubled fall-back
    time means the first one (fold=0), the same choices as `scheduler.timing.local_instant`.
    A start outside `window` (or beyond what a datetime holds) is a ValueError.
    """
    text = raw.strip()
    if not text:
        raise ValueError("missing start")
    zone = zone_named(zone_name) if zone_name.strip() else clinic_zone
    try:
        date.fromisoformat(text)
    except ValueError:
        pass
    else:
        raise ValueError(f"unparseable date {shown(text)}: no time of day")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"unparseable date {shown(text)}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    try:
        instant = value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-14:00 is in the year 10000
        if window is None:
            raise ValueError(f"start {shown(text)} is out of range") from None
        raise window.outside(shown(text)) from None
    return instant if window is None else window.check(instant, shown(text))


def _duration(raw: str) -> int | None:
    text = raw.strip()
    if not text:
        return None
    try:
        minutes = int(text)
    except ValueError:
        minutes = 0
    if not 0 < minutes <= MAX_DURATION:
        raise ValueError(f"bad duration_minutes {shown(text)}")
    return minutes


def _row(
    line: int, cells: dict[str, str], clinic_zone: ZoneInfo, region: str, window: StartWindow
) -> AppointmentRow:
    phone, telegram_id = cells.get("phone", "").strip(), cells.get("telegram_id", "").strip()
    # A phone number wins over a Telegram id: SMS reaches the patient before they ever open
    # the Telegram bot, and one row maps to one address.
    if phone:
        urn = phone_urn(phone, region)
    elif telegram_id:
        urn = telegram_urn(telegram_id)
    else:
        raise ValueError("missing phone or telegram_id")
    starts_at = parse_start(cells.get("start", ""), cells.get("timezone", ""), clinic_zone, window)
    status = parse_status(cells.get("status", ""))
    duration = _duration(cells.get("duration_minutes", ""))
    uid = cells.get("id", "").strip() or derived_uid(urn, starts_at)
    if len(uid) > MAX_UID:
        raise ValueError(f"id longer than {MAX_UID} characters")
    return AppointmentRow(
        line=line,
        uid=uid,
        urn=urn,
        name=bounded(cells.get("name"), "name"),
        starts_at=starts_at,
        duration_minutes=duration,
        practitioner=bounded(cells.get("practitioner"), "practitioner"),
        status=status,
    )


def parse_csv(
    text: str, *, clinic_zone: ZoneInfo, region: str, now: datetime
) -> tuple[list[AppointmentRow], list[str]]:
    """Parse CSV text into rows and "line N: reason" errors; ImportFileError on a bad header.

    Starts must fall in `StartWindow.around(now)`.

    Column names are matched case-insensitively; columns not in COLUMNS are ignored.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ImportFileError(f"not a CSV file: {exc}") from None
    names = [name.strip().lower().replace(" ", "_") for name in header or []]
    if "start" not in names or not {"phone", "telegram_id"} & set(names):
        raise ImportFileError("the CSV header needs a `start` column and `phone` or `telegram_id`")
    window = StartWindow.around(now)
    records: list[tuple[int, list[str]]] = []
    broken: list[str] = []  # a broken quote ends the file: after every row's error
    previous = reader.line_num
    while True:
        line = previous + 1  # where the row starts: a quoted cell may span several lines
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            broken.append(f"line {line}: not valid CSV ({exc})")
            break  # the reader cannot resynchronise after a broken quote
        if cells is None:
            break
        previous = reader.line_num
        if any(cell.strip() for cell in cells):
            records.append((line, cells))
            if len(records) > MAX_ROWS:
                raise ImportFileError.too_many()  # before the costly checks of each row
    rows: list[AppointmentRow] = []
    errors: list[str] = []
    for line, cells in records:
        try:
            rows.append(
                _row(line, dict(zip(names, cells, strict=False)), clinic_zone, region, window)
            )
        except ValueError as exc:
            errors.append(f"line {line}: {exc}")
    return rows, errors + broken
