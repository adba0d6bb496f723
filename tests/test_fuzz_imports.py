"""Fuzz the CSV and .ics importers: never a traceback, every bad row by line, data intact."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.db.models import Address, Appointment, Patient
from bot.db.session import Database
from bot.settings import DEFAULT_CONTENT_DIR
from handlers.time.quiet_hours import QuietHours
from scheduler.import_rows import AppointmentRow, ImportFileError
from scheduler.imports import Pace, import_in_batches, read_appointment_file
from scheduler.rules import load_nudge_rules

LA = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 3, 2, 15, tzinfo=UTC)
RULES = load_nudge_rules(DEFAULT_CONTENT_DIR / "nudges.yaml")
EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
BREAK = re.compile(r"\r\n|\r|\n")
LINE_ERROR = re.compile(r"line [1-9]\d*( \(UID .+\))?: [^\n]+")

_folder = iter(range(10**9))


def parse(tmp_path: Path, data: bytes, suffix: str) -> tuple[list[AppointmentRow], list[str]]:
    """Read bytes as an appointment file; a whole-file refusal must be one clear line."""
    path = tmp_path / f"fuzz-{next(_folder)}{suffix}"
    path.write_bytes(data)
    try:
        rows, errors = read_appointment_file(path, None, clinic_zone=LA, region="US", now=NOW)
    except ImportFileError as exc:
        message = str(exc)
        assert message.startswith(f"cannot import {path}: ") or message.startswith("cannot read")
        assert "\n" not in message and "Traceback" not in message
        return [], []
    finally:
        path.unlink()
    for error in errors:
        assert LINE_ERROR.fullmatch(error), error
    error_lines = {int(error.split()[1].rstrip(":")) for error in errors}
    assert not error_lines & {row.line for row in rows}
    return rows, errors


@EXAMPLES
@given(st.binary(max_size=600))
def test_any_bytes_as_csv_never_raise(tmp_path: Path, data: bytes) -> None:
    parse(tmp_path, b"phone,telegram_id,start,id\n" + data, ".csv")


@EXAMPLES
@given(st.binary(max_size=600))
def test_any_bytes_as_ics_never_raise(tmp_path: Path, data: bytes) -> None:
    parse(tmp_path, b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n" + data, ".ics")


# Cells: plausible values, near misses and garbage, so that rows are good and bad in every way.
text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\0"), max_size=30)
phones = st.sampled_from(["(503) 555-0101", "+1 503 555 0102", "5035550103", "", "12345", "+999"])
telegram_ids = st.sampled_from(["", "7001234", "0", "-100123", "99999999999999999999", "abc"])
starts = st.one_of(
    st.sampled_from(
        [
            "2026-03-10T10:00:00-07:00",
            "2026-04-01 09:30",
            "2026-03-08 02:30",
            "9999-12-31T23:00:00-14:00",
            "0001-01-01T00:00",
            "1999-12-31T10:00:00Z",
            "2026-03-10",
            "next tuesday",
            "",
        ]
    ),
    st.datetimes(timezones=st.just(UTC)).map(lambda moment: moment.isoformat()),
    text,
)
zones = st.sampled_from(["", "America/New_York", "Mars/Olympus", "../etc/passwd"])
durations = st.sampled_from(["", "30", "0", "-5", "1441", "9" * 30, "x"])
statuses = st.sampled_from(["", "booked", "confirmed", "cancelled", "No-Show", "maybe"])
ids = st.one_of(st.sampled_from(["A-1", "A-2", "A-3", ""]), text, st.just("x" * 300))
names = st.one_of(text, st.just("N" * 300))
cells = st.tuples(ids, phones, telegram_ids, names, starts, zones, durations, names, statuses)
HEADER = "id,phone,telegram_id,name,start,timezone,duration_minutes,practitioner,status"


def csv_text(rows: Sequence[tuple[str, ...]]) -> str:
    def quoted(cell: str) -> str:
        return '"' + cell.replace('"', '""') + '"'

    return HEADER + "\n" + "".join(",".join(map(quoted, row)) + "\n" for row in rows)


@EXAMPLES
@given(st.lists(cells, max_size=12))
def test_every_csv_row_is_imported_or_reported_by_its_line(
    tmp_path: Path, rows: list[tuple[str, ...]]
) -> None:
    good, errors = parse(tmp_path, csv_text(rows).encode(), ".csv")
    # Each non-blank row is either imported or reported, once, by the line it starts on (a
    # quoted cell may hold line breaks, which move the rows after it down).
    starts, line = [], 2
    for row in rows:
        if any(cell.strip() for cell in row):
            starts.append(line)
        line += 1 + sum(len(BREAK.findall(cell)) for cell in row)
    lines = [row.line for row in good] + [int(e.split()[1].rstrip(":")) for e in errors]
    assert sorted(lines) == starts


@pytest.fixture
async def seeded(db: Database, tmp_path: Path) -> Database:
    """A database holding one appointment the fuzzed files never name."""
    path = tmp_path / "seed.csv"
    path.write_text("id,phone,name,start\nKEEP-1,(503) 555-0199,Kim Keep,2026-03-20 10:00\n")
    rows, _ = read_appointment_file(path, None, clinic_zone=LA, region="US", now=NOW)
    await import_in_batches(db, rows, rules=RULES, clinic_zone=LA, quiet=QuietHours(), now=NOW)
    return db


async def snapshot(db: Database) -> dict[str, tuple[object, ...]]:
    async with db.session() as session:
        found = await session.execute(
            select(Appointment.external_uid, Appointment.starts_at, Address.urn)
            .join(Patient, Patient.id == Appointment.patient_id)
            .join(Address, Address.patient_id == Patient.id)
        )
        return {uid or "": (start, urn) for uid, start, urn in found}


@EXAMPLES
@given(rows=st.lists(cells, min_size=1, max_size=8))
async def test_fuzzed_rows_import_and_leave_other_data_intact(
    tmp_path: Path, seeded: Database, rows: list[tuple[str, ...]]
) -> None:
    before = await snapshot(seeded)
    good, _ = parse(tmp_path, csv_text(rows).encode(), ".csv")
    report = await import_in_batches(
        seeded,
        good,
        rules=RULES,
        clinic_zone=LA,
        quiet=QuietHours(),
        now=NOW,
        pace=Pace(first=3, most=3, pause=0),
    )
    after = await snapshot(seeded)
    assert after["KEEP-1"] == before["KEEP-1"]
    last = {row.uid: row for row in good}
    for uid, row in last.items():
        assert after[uid][0] == row.starts_at
    assert report.created + report.updated + report.unchanged + report.cancelled == len(good)


# iCalendar: VEVENTs built from real property lines, near misses and garbage values.
ics_value = st.text(
    st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="\0"), max_size=25
)
ics_lines = st.one_of(
    st.sampled_from(
        [
            "UID:ics-1",
            "UID:ics-2",
            "DTSTART:20260310T170000Z",
            "DTSTART;TZID=America/New_York:20260310T090000",
            "DTSTART;TZID=Mars/Olympus:20260310T090000",
            "DTSTART;VALUE=DATE:20260310",
            "DTSTART:99991231T235959Z",
            "DTSTART;TZID=Asia/Tokyo:00010101T000000",
            "DTSTART:2026031",
            "DTEND:20260310T180000Z",
            "DTEND:20260310T160000Z",
            "DTEND:99991231T235959Z",
            "DURATION:PT45M",
            "DURATION:P9999999W",
            "DURATION:-PT5M",
            "ATTENDEE;CN=Dee Park:tel:+15035550111",
            "ATTENDEE:telegram:7001234",
            "ATTENDEE:telegram:-100123",
            "ATTENDEE:tel:12345",
            "CONTACT:Eve Stone\\, (503) 555-0112",
            "DESCRIPTION:Telegram: 0",
            "STATUS:CANCELLED",
            "STATUS:MAYBE",
            "SEQUENCE:2",
            "SEQUENCE:x",
            "LAST-MODIFIED:20260301T120000Z",
            "RRULE:FREQ=DAILY",
            "ORGANIZER;CN=Dr. Lee:mailto:lee@clinic.example",
        ]
    ),
    st.builds(
        "{}:{}".format,
        st.sampled_from(["UID", "DTSTART", "DTEND", "DURATION", "ATTENDEE", "STATUS", "X-Y"]),
        ics_value,
    ),
    st.builds("ATTENDEE;CN={}:tel:+15035550111".format, ics_value),
)
events = st.lists(st.lists(ics_lines, max_size=8), max_size=6)


def ics_text(calendar: list[list[str]], method: str) -> str:
    body = "".join(
        "BEGIN:VEVENT\r\n" + "".join(f"{line}\r\n" for line in event) + "END:VEVENT\r\n"
        for event in calendar
    )
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{method}{body}END:VCALENDAR\r\n"


@EXAMPLES
@given(calendar=events, method=st.sampled_from(["", "METHOD:CANCEL\r\n", "METHOD:x\r\n"]))
async def test_fuzzed_events_import_and_leave_other_data_intact(
    tmp_path: Path, seeded: Database, calendar: list[list[str]], method: str
) -> None:
    before = await snapshot(seeded)
    good, _ = parse(tmp_path, ics_text(calendar, method).encode(), ".ics")
    await import_in_batches(
        seeded,
        good,
        rules=RULES,
        clinic_zone=LA,
        quiet=QuietHours(),
        now=NOW,
        pace=Pace(first=2, most=2, pause=0),
    )
    after = await snapshot(seeded)
    assert after["KEEP-1"] == before["KEEP-1"]
    for row in good:
        assert after[row.uid][0] == row.starts_at
