"""Local times across DST and quiet hours: what the scheduler promises patients."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.time.quiet_hours import QuietHours
from scheduler.timing import local_instant, occurrences, parse_hhmm

LA = ZoneInfo("America/Los_Angeles")
EVERY_DAY = 0b1111111


def test_a_9am_reminder_stays_at_9am_local_across_both_dst_changes() -> None:
    start = datetime(2026, 3, 5, tzinfo=UTC)
    spring = list(occurrences(start, start + timedelta(days=6), LA, time(9), EVERY_DAY))
    assert all(t.astimezone(LA).time() == time(9) for t in spring)
    assert {t.astimezone(UTC).hour for t in spring} == {17, 16}  # PST then PDT
    start = datetime(2026, 10, 29, tzinfo=UTC)
    autumn = list(occurrences(start, start + timedelta(days=6), LA, time(9), EVERY_DAY))
    assert all(t.astimezone(LA).time() == time(9) for t in autumn)
    assert len(autumn) == 6


def test_a_time_in_the_spring_gap_moves_forward_and_a_doubled_time_means_the_first() -> None:
    gap = local_instant(date(2026, 3, 8), time(2, 30), LA)
    assert gap.astimezone(LA).time() == time(3, 30)
    doubled = local_instant(date(2026, 11, 1), time(1, 30), LA)
    assert doubled == datetime(2026, 11, 1, 8, 30, tzinfo=UTC)  # 01:30 PDT, the first one


def test_weekdays_are_honoured() -> None:
    monday_wednesday = 0b0000101
    start = datetime(2026, 6, 1, tzinfo=UTC)  # a Monday
    days = [
        t.astimezone(LA).weekday()
        for t in occurrences(start, start + timedelta(days=14), LA, time(18), monday_wednesday)
    ]
    assert set(days) == {0, 2} and len(days) == 4


@pytest.mark.parametrize("text", ["9", "25:00", "09:61", "nine", ""])
def test_bad_times_are_one_line_errors(text: str) -> None:
    with pytest.raises(ValueError, match="is not a time like 09:30"):
        parse_hhmm(text)


def test_quiet_hours_hold_night_messages_until_morning() -> None:
    quiet = QuietHours()
    night = datetime(2026, 7, 1, 22, 15, tzinfo=LA)
    assert quiet.is_quiet(night, LA)
    assert quiet.next_allowed(night, LA) == datetime(2026, 7, 2, 8, 0, tzinfo=LA)
    early = datetime(2026, 7, 2, 6, 0, tzinfo=LA)
    assert quiet.next_allowed(early, LA) == datetime(2026, 7, 2, 8, 0, tzinfo=LA)
    noon = datetime(2026, 7, 2, 12, 0, tzinfo=LA)
    assert quiet.next_allowed(noon, LA) == noon


def test_a_nudge_in_quiet_hours_moves_to_the_nearest_time_before_the_appointment() -> None:
    quiet = QuietHours()
    appointment = datetime(2026, 7, 2, 9, 0, tzinfo=LA)
    two_hours_before = appointment - timedelta(hours=2)  # 07:00, quiet
    assert quiet.nearest_allowed_before(two_hours_before, appointment, LA) == datetime(
        2026, 7, 2, 8, 0, tzinfo=LA
    )
    early_appointment = datetime(2026, 7, 2, 7, 30, tzinfo=LA)
    moved = quiet.nearest_allowed_before(
        early_appointment - timedelta(hours=2), early_appointment, LA
    )
    assert moved == datetime(2026, 7, 1, 20, 59, tzinfo=LA)  # the evening before
    assert quiet.nearest_allowed_before(appointment + timedelta(hours=1), appointment, LA) is None


@given(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
    st.sampled_from(
        [
            "America/Los_Angeles",
            "America/New_York",
            "Europe/Madrid",
            "Australia/Lord_Howe",
            "Asia/Kolkata",
        ]
    ),
)
def test_next_allowed_is_never_quiet_never_earlier_and_within_a_night(
    naive: datetime, name: str
) -> None:
    zone = ZoneInfo(name)
    instant = naive.replace(tzinfo=UTC)
    quiet = QuietHours()
    allowed = quiet.next_allowed(instant, zone)
    assert not quiet.is_quiet(allowed, zone)
    assert instant <= allowed <= instant + timedelta(hours=12)
