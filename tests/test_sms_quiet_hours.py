"""Quiet hours: the next allowed instant, right across DST gaps and repeated hours."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.time.quiet_hours import is_quiet, next_allowed_time

NY = ZoneInfo("America/New_York")
ZONES = [
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Australia/Lord_Howe",  # 30-minute DST
    "America/Santiago",
    "Pacific/Apia",  # skipped a whole day in 2011
    "Asia/Kolkata",
    "UTC",
]
NIGHT, MORNING = time(21), time(8)


def _local(moment: datetime, zone: ZoneInfo) -> time:
    return moment.astimezone(zone).time()


@pytest.mark.parametrize(
    ("now", "start", "end", "expected"),
    [
        # 23:00 EST the night before spring-forward: 08:00 EDT next morning.
        (datetime(2026, 3, 8, 4, 0, tzinfo=UTC), NIGHT, MORNING, datetime(2026, 3, 8, 12, 0)),
        # 23:00 EDT the night before fall-back: 08:00 EST next morning.
        (datetime(2026, 11, 1, 3, 0, tzinfo=UTC), NIGHT, MORNING, datetime(2026, 11, 1, 13, 0)),
        # The window ends at 02:30, inside the skipped hour: allowed when clocks jump to 03:00.
        (datetime(2026, 3, 8, 6, 0, tzinfo=UTC), NIGHT, time(2, 30), datetime(2026, 3, 8, 7, 0)),
        # Quiet from 01:30 at 01:45 EDT: when 02:00 EDT becomes 01:00 EST it is allowed again.
        (datetime(2026, 11, 1, 5, 45, tzinfo=UTC), time(1, 30), MORNING, datetime(2026, 11, 1, 6)),
        # Daytime: now.
        (datetime(2026, 7, 1, 16, 0, tzinfo=UTC), NIGHT, MORNING, datetime(2026, 7, 1, 16, 0)),
    ],
)
def test_examples_across_dst(now: datetime, start: time, end: time, expected: datetime) -> None:
    assert next_allowed_time(now, NY, start, end) == expected.replace(tzinfo=UTC)


def test_equal_start_and_end_turn_quiet_hours_off() -> None:
    now = datetime(2026, 1, 1, 6, tzinfo=UTC)
    assert next_allowed_time(now, NY, time(8), time(8)) == now


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_allowed_time(datetime(2026, 1, 1), NY, NIGHT, MORNING)


times = st.times().map(lambda t: t.replace(second=0, microsecond=0))


@settings(max_examples=300, deadline=None)
@given(
    now=st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2037, 12, 31), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(ZONES).map(ZoneInfo),
    start=times,
    end=times,
)
def test_the_answer_is_the_first_allowed_instant(
    now: datetime, zone: ZoneInfo, start: time, end: time
) -> None:
    allowed = next_allowed_time(now, zone, start, end)
    assert allowed >= now
    assert not is_quiet(_local(allowed, zone), start, end)
    if not is_quiet(_local(now, zone), start, end):
        assert allowed == now
    else:
        # Everything between now and the answer is quiet: it is the first allowed instant.
        span = allowed - now
        for k in range(1, 20):
            probe = now + span * k / 20
            assert is_quiet(_local(probe, zone), start, end)
        assert is_quiet(_local(allowed - timedelta(seconds=1), zone), start, end)
