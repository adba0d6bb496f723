"""Appointment import: good rows in, bad rows reported by line, re-imports move and cancel."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot.db.models import Address, Appointment, AppointmentStatus, Delivery, Patient
from bot.db.session import Database
from bot.settings import DEFAULT_CONTENT_DIR
from handlers.time.quiet_hours import QuietHours
from scheduler import imports
from scheduler.import_csv import parse_csv, parse_start
from scheduler.import_rows import MAX_ROWS, ImportFileError, derived_uid
from scheduler.import_source import MAX_FILE_BYTES, MAX_LINE_CHARS
from scheduler.imports import ImportReport, Pace, import_in_batches, read_appointment_file
from scheduler.rules import load_nudge_rules
from tests.conftest import FakeClock

PAYLOADS = Path(__file__).parent / "payloads" / "appointments"
LA = ZoneInfo("America/Los_Angeles")
RULES = load_nudge_rules(DEFAULT_CONTENT_DIR / "nudges.yaml")
RULE_IDS = {"before_48h", "before_2h", "day_after", "rebook"}
NOW = datetime(2026, 3, 2, 15, tzinfo=UTC)  # the clock fixture's start
SMALL = Pace(first=2, most=2, pause=0)

CSV_ERRORS = [
    "line 5: bad phone number",
    "line 6: missing start",
    "line 7: unknown zone 'Mars/Olympus'",
    "line 8: unparseable date 'next tuesday'",
    "line 9: unknown status 'maybe'",
]
ICS_ERRORS = [
    "line 30 (UID 'ics-4@clinic.example'): unknown zone 'Mars/Olympus'",
    "line 36 (UID 'ics-5@clinic.example'): no phone or telegram id "
    "(ATTENDEE tel:, CONTACT or DESCRIPTION)",
    "line 42 (UID 'ics-6@clinic.example'): an all-day event has no start time",
    "line 48 (UID 'ics-7@clinic.example'): unparseable date",
    "line 54 (UID 'ics-8@clinic.example'): unknown status 'MAYBE'",
    "line 61 (UID 'ics-9@clinic.example'): missing start",
    "line 66 (UID 'ics-10@clinic.example'): bad phone number",
]


async def run_import(db: Database, name: str, clock: FakeClock) -> ImportReport:
    rows, errors = read_appointment_file(
        PAYLOADS / name, None, clinic_zone=LA, region="US", now=clock()
    )
    # Batches of two: every behaviour below also holds across batch boundaries.
    report = await import_in_batches(
        db, rows, rules=RULES, clinic_zone=LA, quiet=QuietHours(), now=clock(), pace=SMALL
    )
    report.errors = errors
    return report


async def appointments(db: Database) -> dict[str, Appointment]:
    async with db.session() as session:
        rows = (await session.execute(select(Appointment))).scalars()
        return {row.external_uid or "": row for row in rows}


async def nudges(db: Database) -> dict[tuple[str, str], list[tuple[str, datetime]]]:
    """Map (external uid, rule) to its nudges' (status, due_at), oldest due first."""
    async with db.session() as session:
        ids = await session.execute(select(Appointment.id, Appointment.external_uid))
        uids = dict(ids.all())
        rows = await session.execute(
            select(
                Delivery.kind,
                Delivery.reference,
                Delivery.content_ref,
                Delivery.status,
                Delivery.due_at,
            ).order_by(Delivery.due_at)
        )
        found: dict[tuple[str, str], list[tuple[str, datetime]]] = {}
        for kind, reference, rule, status, due_at in rows:
            assert kind == "nudge"
            prefix, appointment_id = reference.split(":")
            assert prefix == "appt"
            uid = uids[int(appointment_id)] or ""
            found.setdefault((uid, rule), []).append((status, due_at))
        return found


async def outbox_snapshot(db: Database) -> list[tuple[object, ...]]:
    async with db.session() as session:
        rows = await session.execute(select(Delivery).order_by(Delivery.key))
        return [
            (d.key, d.patient_id, d.status, d.reason, d.due_at, d.updated_at)
            for d in rows.scalars()
        ]


async def test_csv_import_creates_good_rows_and_reports_bad_lines(
    db: Database, clock: FakeClock
) -> None:
    report = await run_import(db, "schedule.csv", clock)
    assert (report.created, report.updated, report.unchanged, report.cancelled) == (5, 0, 0, 0)
    assert report.errors == CSV_ERRORS
    found = await appointments(db)
    derived = derived_uid("tel:+15035550108", datetime(2026, 3, 11, 17, tzinfo=UTC))
    assert set(found) == {"A-100", "A-101", "A-102", "A-109", derived}
    ana, ben = found["A-100"], found["A-101"]
    assert ana.starts_at == datetime(2026, 3, 10, 17, tzinfo=UTC)
    assert (ana.duration_minutes, ana.practitioner, ana.status) == (60, "Dr. Lee", "booked")
    # The day after the spring-forward change: 10:00 local is PDT (UTC-7), not PST.
    assert ben.starts_at == datetime(2026, 3, 9, 17, tzinfo=UTC)
    assert (ben.duration_minutes, ben.status) == (90, "confirmed")
    assert found["A-102"].status == "booked" and found["A-102"].duration_minutes == 60
    # 02:30 on the change day does not exist: it moves forward by the gap, to 03:30 PDT.
    assert found["A-109"].starts_at.astimezone(LA).time() == time(3, 30)
    async with db.session() as session:
        people = dict(
            (await session.execute(select(Address.urn, Patient.name).join(Patient))).all()
        )
    assert people == {
        "tel:+15035550101": "Ana Ruiz",
        "tel:+15035550102": "Ben Cho",
        "telegram:7001234": "Cam Diaz",
        "tel:+15035550108": "Dana Without Id",
        "tel:+15035550109": "Eli Gap",
    }
    planned = await nudges(db)
    assert set(planned) == {(uid, rule) for uid in found for rule in RULE_IDS}
    assert all(rows == [("pending", rows[0][1])] for rows in planned.values())
    # 48 real hours before a visit just after the change is 09:00 PST, not 10:00.
    due = planned["A-101", "before_48h"][0][1]
    assert due == datetime(2026, 3, 7, 17, tzinfo=UTC) and due.astimezone(LA).hour == 9
    assert planned["A-101", "day_after"][0][1] == datetime(2026, 3, 10, 17, tzinfo=UTC)


async def test_reimporting_the_same_file_changes_nothing(db: Database, clock: FakeClock) -> None:
    await run_import(db, "schedule.csv", clock)
    before_rows = {uid: a.updated_at for uid, a in (await appointments(db)).items()}
    before_outbox = await outbox_snapshot(db)
    clock.advance(hours=1)
    report = await run_import(db, "schedule.csv", clock)
    assert (report.created, report.updated, report.unchanged, report.cancelled) == (0, 0, 5, 0)
    assert report.errors == CSV_ERRORS
    assert {uid: a.updated_at for uid, a in (await appointments(db)).items()} == before_rows
    assert await outbox_snapshot(db) == before_outbox


async def test_reimport_moves_one_and_cancels_another(db: Database, clock: FakeClock) -> None:
    await run_import(db, "schedule.csv", clock)
    clock.advance(hours=1)
    report = await run_import(db, "schedule_moved.csv", clock)
    assert (report.created, report.updated, report.unchanged, report.cancelled) == (0, 1, 3, 1)
    assert report.errors == []
    found = await appointments(db)
    assert found["A-100"].starts_at == datetime(2026, 3, 10, 21, tzinfo=UTC)
    assert found["A-100"].updated_at == clock.now
    assert found["A-101"].status == "cancelled"
    planned = await nudges(db)
    assert planned["A-100", "before_48h"] == [
        ("cancelled", datetime(2026, 3, 8, 17, tzinfo=UTC)),
        ("pending", datetime(2026, 3, 8, 21, tzinfo=UTC)),
    ]
    assert planned["A-100", "before_2h"] == [
        ("cancelled", datetime(2026, 3, 10, 15, tzinfo=UTC)),
        ("pending", datetime(2026, 3, 10, 19, tzinfo=UTC)),
    ]
    # Same local day, so the next-morning check-in keeps its time and its row.
    assert planned["A-100", "day_after"] == [("pending", datetime(2026, 3, 11, 17, tzinfo=UTC))]
    assert {rows[0][0] for (uid, _), rows in planned.items() if uid == "A-101"} == {"cancelled"}
    others = [rows for (uid, _), rows in planned.items() if uid not in {"A-100", "A-101"}]
    assert all(len(rows) == 1 and rows[0][0] == "pending" for rows in others)


async def test_restoring_a_cancelled_appointment_brings_its_nudges_back(
    db: Database, clock: FakeClock
) -> None:
    await run_import(db, "schedule.csv", clock)
    first = await nudges(db)
    await run_import(db, "schedule_moved.csv", clock)
    report = await run_import(db, "schedule.csv", clock)
    assert (report.created, report.updated, report.unchanged, report.cancelled) == (0, 2, 3, 0)
    found = await appointments(db)
    assert found["A-101"].status == "confirmed"
    planned = await nudges(db)
    for rule in RULE_IDS:
        assert planned["A-101", rule] == first["A-101", rule]
    assert planned["A-100", "before_48h"] == [
        ("pending", datetime(2026, 3, 8, 17, tzinfo=UTC)),
        ("cancelled", datetime(2026, 3, 8, 21, tzinfo=UTC)),
    ]


async def test_what_the_bot_knows_survives_a_reimport(db: Database, clock: FakeClock) -> None:
    await run_import(db, "schedule.csv", clock)
    async with db.session() as session, session.begin():
        await session.execute(
            update(Appointment)
            .where(Appointment.external_uid.in_(["A-100", "A-102"]))
            .values(status=AppointmentStatus.CONFIRMED)
        )
    report = await run_import(db, "schedule.csv", clock)
    assert report.unchanged == 5
    found = await appointments(db)
    assert found["A-100"].status == found["A-102"].status == "confirmed"


async def test_ics_import_then_a_moved_and_a_cancelled_event(
    db: Database, clock: FakeClock
) -> None:
    report = await run_import(db, "schedule.ics", clock)
    assert (report.created, report.updated, report.unchanged, report.cancelled) == (3, 0, 0, 0)
    assert report.errors == ICS_ERRORS
    found = await appointments(db)
    dee, eve, finn = (found[f"ics-{n}@clinic.example"] for n in (1, 2, 3))
    assert dee.starts_at == datetime(2026, 3, 9, 16, 30, tzinfo=UTC)
    assert (dee.duration_minutes, dee.practitioner, dee.status) == (60, "Dr. Lee", "confirmed")
    # ics-2 appears twice: SEQUENCE 2 (18:00Z) beats the later-listed SEQUENCE 1 (19:00Z).
    assert (eve.starts_at, eve.duration_minutes) == (datetime(2026, 3, 11, 18, tzinfo=UTC), 45)
    assert finn.starts_at == datetime(2026, 3, 12, 18, tzinfo=UTC)  # floating: clinic's zone
    async with db.session() as session:
        people = dict(
            (await session.execute(select(Address.urn, Patient.name).join(Patient))).all()
        )
    assert people == {
        "tel:+15035550111": "Dee Park",
        "tel:+15035550112": "Eve Stone",
        "telegram:7005550113": "Finn Gray",
    }
    assert len(await nudges(db)) == 12

    clock.advance(hours=2)
    again = await run_import(db, "schedule.ics", clock)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)

    moved = await run_import(db, "schedule_moved.ics", clock)
    assert (moved.created, moved.updated, moved.unchanged, moved.cancelled) == (0, 1, 1, 1)
    found = await appointments(db)
    assert found["ics-1@clinic.example"].starts_at == datetime(2026, 3, 9, 18, 30, tzinfo=UTC)
    assert found["ics-2@clinic.example"].status == "cancelled"
    planned = await nudges(db)
    assert [s for s, _ in planned["ics-1@clinic.example", "before_2h"]] == [
        "cancelled",
        "pending",
    ]
    assert planned["ics-1@clinic.example", "before_2h"][1][1] == datetime(
        2026, 3, 9, 16, 30, tzinfo=UTC
    )
    eve_rules = [rows for (uid, _), rows in planned.items() if uid == "ics-2@clinic.example"]
    assert len(eve_rules) == 4 and all(rows[-1][0] == "cancelled" for rows in eve_rules)


def test_local_times_at_the_dst_edges_are_deliberate() -> None:
    gap = parse_start("2026-03-08 02:30", "America/Los_Angeles", LA)
    assert gap == datetime(2026, 3, 8, 10, 30, tzinfo=UTC)  # 03:30 PDT
    doubled = parse_start("2026-11-01T01:30", "", LA)
    assert doubled == datetime(2026, 11, 1, 8, 30, tzinfo=UTC)  # the first 01:30, PDT
    second = parse_start("2026-11-01T01:30-08:00", "", LA)
    assert second == datetime(2026, 11, 1, 9, 30, tzinfo=UTC)  # an offset picks the other
    with pytest.raises(ValueError, match="no time of day"):
        parse_start("2026-03-10", "", LA)


def test_csv_line_numbers_count_blank_lines_and_quoted_newlines() -> None:
    text = (
        "phone,name,start\n"
        "\n"
        '(503) 555-0101,"Ana\nRuiz",2026-03-10T10:00:00-07:00\n'
        "555,Bad,2026-03-10T10:00:00-07:00\n"
    )
    rows, errors = parse_csv(text, clinic_zone=LA, region="US", now=NOW)
    assert [(r.line, r.name) for r in rows] == [(3, "Ana\nRuiz")]
    assert errors == ["line 5: bad phone number"]


def test_derived_keys_follow_the_patient_and_the_instant() -> None:
    start = datetime(2026, 3, 10, 17, tzinfo=UTC)
    assert derived_uid("tel:+15035550101", start) == derived_uid(
        "tel:+15035550101", start.astimezone(LA)
    )
    assert derived_uid("tel:+15035550101", start) != derived_uid(
        "tel:+15035550101", start + timedelta(hours=1)
    )


@pytest.mark.parametrize(
    ("name", "fmt", "message"),
    [
        ("schedule.txt", None, "unknown format '.txt'"),
        ("schedule.csv", "xml", "unknown format 'xml'"),
        ("missing.csv", None, "cannot read"),
        ("schedule.ics", "csv", "the CSV header needs a `start` column"),
        ("schedule.csv", "ics", "not an iCalendar file"),
    ],
)
def test_unreadable_files_are_one_error(
    tmp_path: Path, name: str, fmt: str | None, message: str
) -> None:
    source = PAYLOADS / ("schedule.ics" if name.endswith(".ics") else "schedule.csv")
    path = tmp_path / name
    if name != "missing.csv":
        path.write_bytes(source.read_bytes())
    with pytest.raises(ImportFileError, match=message):
        read_appointment_file(path, fmt, clinic_zone=LA, region="US", now=NOW)


def clinicbot(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(DEFAULT_CONTENT_DIR.parent)},
        timeout=120,
        check=False,
    )


def test_cli_imports_reports_and_exits_by_outcome(tmp_path: Path) -> None:
    # A year ahead, because the command uses the real clock.
    start = f"{datetime.now(UTC).year + 1}-03-10T10:00:00-07:00"
    good = f"phone,name,start\n(503) 555-0101,Ana Ruiz,{start}\n"
    (tmp_path / "good.csv").write_text(good)
    (tmp_path / "mixed.csv").write_text(good + f"12345,Bad,{start}\n")
    first = clinicbot("appointments", "import", "good.csv", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "good.csv: 1 created, 0 updated, 0 unchanged, 0 cancelled, 0 skipped\n"
    assert (tmp_path / "data" / "clinicbot.db").exists()
    mixed = clinicbot("appointments", "import", "mixed.csv", cwd=tmp_path)
    assert mixed.returncode == 1
    assert mixed.stdout.splitlines() == [
        "line 3: bad phone number",
        "mixed.csv: 0 created, 0 updated, 1 unchanged, 0 cancelled, 1 skipped",
    ]
    far = "(503) 555-0102,Far,9999-12-31T23:00:00-14:00\n(503) 555-0103,Cy Near,"
    (tmp_path / "far.csv").write_text(f"phone,name,start\n{far}{start}\n")
    ranged = clinicbot("appointments", "import", "far.csv", cwd=tmp_path)
    assert ranged.returncode == 1 and "Traceback" not in ranged.stderr
    assert ranged.stdout.splitlines()[0].startswith(
        "line 2: start '9999-12-31T23:00:00-14:00' is out of range (2000-01-01 to "
    )
    assert ranged.stdout.splitlines()[1].startswith("far.csv: 1 created,")
    for args in (["nowhere.csv"], ["good.csv", "--format", "xml"]):
        failed = clinicbot("appointments", "import", *args, cwd=tmp_path)
        assert failed.returncode == 2
        assert len(failed.stderr.strip().splitlines()) == 1 and "Traceback" not in failed.stderr
    ics = clinicbot("appointments", "import", str(PAYLOADS / "schedule.ics"), cwd=tmp_path)
    assert ics.returncode == 1 and len(ics.stdout.splitlines()) == len(ICS_ERRORS) + 1
    assert clinicbot("appointments", "import", "--help", cwd=tmp_path).returncode == 0


def test_a_group_chat_is_not_a_patient() -> None:
    # A negative Telegram id is a group or channel, 0 is nobody: neither is a patient.
    text = (
        "telegram_id,start\n"
        "0,2026-03-10T10:00:00-07:00\n"
        "-100123,2026-03-10T10:00:00-07:00\n"
        "7001234,2026-03-10T10:00:00-07:00\n"
    )
    rows, errors = parse_csv(text, clinic_zone=LA, region="US", now=NOW)
    assert [row.urn for row in rows] == ["telegram:7001234"]
    assert errors == [
        "line 2: telegram_id must be a positive user id",
        "line 3: telegram_id must be a positive user id",
    ]


def test_a_start_out_of_range_is_one_bad_row() -> None:
    text = (
        "phone,start\n"
        "(503) 555-0101,9999-12-31T23:00:00-14:00\n"
        "(503) 555-0102,0001-01-01T00:00\n"
        "(503) 555-0103,1999-12-31T15:00:00-08:00\n"
        "(503) 555-0104,2031-03-10T10:00:00-07:00\n"
        "(503) 555-0105,2026-03-10T10:00:00-07:00\n"
    )
    rows, errors = parse_csv(text, clinic_zone=LA, region="US", now=NOW)
    assert [row.line for row in rows] == [6]
    window = "(2000-01-01 to 2031-03-02)"
    assert errors == [
        f"line 2: start '9999-12-31T23:00:00-14:00' is out of range {window}",
        f"line 3: start '0001-01-01T00:00' is out of range {window}",
        f"line 4: start '1999-12-31T15:00:00-08:00' is out of range {window}",
        f"line 5: start '2031-03-10T10:00:00-07:00' is out of range {window}",
    ]


def test_an_event_out_of_range_is_one_bad_event(tmp_path: Path) -> None:
    events = [
        ("far", "DTSTART:99991231T235959Z"),
        ("first", "DTSTART;TZID=Asia/Tokyo:00010101T000000"),
        ("end", "DTSTART:20260310T170000Z\nDTEND;TZID=Asia/Tokyo:00010101T000000"),
        ("late", "DTSTART:20260310T170000Z\nDTEND:99991231T235959Z"),
        ("long", "DTSTART:20260310T170000Z\nDURATION:P9999999W"),
        ("good", "DTSTART:20260310T170000Z"),
    ]
    body = "".join(
        f"BEGIN:VEVENT\nUID:{uid}\n{start}\nATTENDEE:tel:+15035550101\nEND:VEVENT\n"
        for uid, start in events
    )
    path = tmp_path / "range.ics"
    path.write_text(f"BEGIN:VCALENDAR\nVERSION:2.0\n{body}END:VCALENDAR\n")
    rows, errors = read_appointment_file(path, None, clinic_zone=LA, region="US", now=NOW)
    assert [row.uid for row in rows] == ["good"]
    assert errors == [
        "line 3 (UID 'far'): start 99991231T235959Z is out of range (2000-01-01 to 2031-03-02)",
        "line 8 (UID 'first'): start 00010101T000000 is out of range (2000-01-01 to 2031-03-02)",
        "line 13 (UID 'end'): the end is out of range",
        "line 19 (UID 'late'): the event is longer than 1440 minutes",
        "line 25 (UID 'long'): the event is longer than 1440 minutes",
    ]


def write_oversized(path: Path) -> None:
    with path.open("wb") as file:
        file.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk, no time


def write_long_line(path: Path) -> None:
    path.write_text("phone,start,notes\n" + "1," * (MAX_LINE_CHARS // 2 + 1) + "\n")


def write_many_rows(path: Path) -> None:
    path.write_text("phone,start\n" + "1,2\n" * (MAX_ROWS + 1))


def write_many_events(path: Path) -> None:
    path.write_text("BEGIN:VCALENDAR\n" + "BEGIN:VEVENT\nEND:VEVENT\n" * (MAX_ROWS + 1))


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("zero.csv", lambda p: p.symlink_to("/dev/zero"), "not a regular file"),
        ("fifo.csv", lambda p: os.mkfifo(p), "not a regular file"),
        ("folder.ics", lambda p: p.mkdir(), "not a regular file"),
        ("huge.csv", write_oversized, "larger than the 32 MiB limit"),
        ("long.csv", write_long_line, "line 2 is longer than 65,536 characters"),
        ("rows.csv", write_many_rows, "more than 100,000 appointments: split the file"),
        ("rows.ics", write_many_events, "more than 100,000 appointments: split the file"),
        (
            "latin.csv",
            lambda p: p.write_bytes(b"phone,start\nJos\xe9,x\n"),
            r"not UTF-8 text \(line 2\)",
        ),
        (
            "latin.ics",
            lambda p: p.write_bytes(b"BEGIN:VCALENDAR\n\xff\n"),
            r"not UTF-8 text \(line 2\)",
        ),
        ("nul.csv", lambda p: p.write_bytes(b"phone,start\n\x00\n"), "a NUL character on line 2"),
    ],
)
def test_files_that_are_not_exports_are_refused_whole(
    tmp_path: Path, name: str, make: Callable[[Path], object], message: str
) -> None:
    path = tmp_path / name
    make(path)
    with pytest.raises(ImportFileError, match=f"^cannot import {re.escape(str(path))}: {message}"):
        read_appointment_file(path, None, clinic_zone=LA, region="US", now=NOW)


def test_cli_refuses_dev_zero_in_one_line(tmp_path: Path) -> None:
    failed = clinicbot("appointments", "import", "/dev/zero", "--format", "csv", cwd=tmp_path)
    assert failed.returncode == 2
    assert failed.stderr == "clinicbot: cannot import /dev/zero: not a regular file\n"
    assert not (tmp_path / "data").exists()


async def test_an_import_interrupted_between_batches_converges_when_run_again(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = imports.import_rows
    calls = 0

    async def crash_in_second_batch(*args: Any, **kwargs: Any) -> ImportReport:
        nonlocal calls
        calls += 1
        report = await real(*args, **kwargs)
        if calls == 2:
            raise RuntimeError("killed mid-import")  # after the batch's writes, before commit
        return report

    monkeypatch.setattr(imports, "import_rows", crash_in_second_batch)
    with pytest.raises(RuntimeError, match="killed"):
        await run_import(db, "schedule.csv", clock)
    assert set(await appointments(db)) == {"A-100", "A-101"}  # the first batch, whole
    monkeypatch.setattr(imports, "import_rows", real)
    again = await run_import(db, "schedule.csv", clock)
    assert (again.created, again.updated, again.unchanged) == (3, 0, 2)
    found = await appointments(db)
    assert len(found) == 5
    planned = await nudges(db)
    assert set(planned) == {(uid, rule) for uid in found for rule in RULE_IDS}
    assert all(rows == [("pending", rows[0][1])] for rows in planned.values())
    last = await run_import(db, "schedule.csv", clock)
    assert (last.created, last.updated, last.unchanged) == (0, 0, 5)


def test_what_does_not_fit_a_column_or_repeats_is_one_bad_row(tmp_path: Path) -> None:
    # Found by tests/test_fuzz_imports.py: PostgreSQL refused a 201-character name (the whole
    # batch failed), and a repeated DURATION was a list icalendar could not read.
    long = "N" * 201
    rows, errors = parse_csv(
        f"phone,name,practitioner,start\n"
        f"(503) 555-0101,{long},,2026-03-10T10:00:00-07:00\n"
        f"(503) 555-0102,Ana,{long},2026-03-10T10:00:00-07:00\n",
        clinic_zone=LA,
        region="US",
        now=NOW,
    )
    assert rows == []
    assert errors == [
        "line 2: name longer than 200 characters",
        "line 3: practitioner longer than 200 characters",
    ]
    path = tmp_path / "twice.ics"
    path.write_text(
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:t\nDTSTART:20260310T170000Z\nDURATION:PT5M\n"
        "DURATION:PT9M\nATTENDEE:tel:+15035550101\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    rows, errors = read_appointment_file(path, None, clinic_zone=LA, region="US", now=NOW)
    assert rows == [] and errors == ["line 2 (UID 't'): DURATION appears more than once"]
