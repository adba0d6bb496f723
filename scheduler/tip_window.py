"""Plan the tips whose local time falls in one UTC window, letting SQL pick the few rows due.

Preferences are grouped by the patients' distinct time zones; for each zone the UTC window
becomes a local wall-clock range ("HH:MM" strings, split at midnight) that an index on
`reminder_preferences.local_time` answers, so a 30-second window reads a few hundred rows,
not every patient. `occurrences` then keeps the exact instants inside the window.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Consent,
    ConsentCategory,
    DeliveryStatus,
    Patient,
    PatientStatus,
    ReminderPreference,
)
from handlers.time.quiet_hours import QuietHours
from scheduler.outbox import PlannedDelivery, insert_planned
from scheduler.timing import occurrences, parse_hhmm, patient_zone

__all__ = [
    "TIP_GRACE",
    "local_ranges",
    "plan_tip_window",
    "stamp",
    "tip_row",
    "tip_times",
    "zone_groups",
]

TIP_GRACE = timedelta(hours=1)
_DST_MARGIN = timedelta(hours=2)  # look this far either side for an offset change
_WIDEN = timedelta(hours=1)  # the largest DST shift in tzdata


def stamp(instant: datetime) -> str:
    """Return an instant as it appears in delivery keys."""
    return instant.strftime("%Y%m%dT%H%MZ")


def local_ranges(start: datetime, end: datetime, zone: ZoneInfo) -> list[tuple[str, str]] | None:
    """Return inclusive "HH:MM" ranges covering [start, end) in local time; None means all day.

    Widened by an hour when the zone's offset changes nearby, so a time in a DST gap (moved
    forward) or a doubled time is still selected; the caller filters exact instants.
    """
    low, high = start.astimezone(zone), end.astimezone(zone)
    before, after = (start - _DST_MARGIN).astimezone(zone), (end + _DST_MARGIN).astimezone(zone)
    if before.utcoffset() != after.utcoffset():
        low, high = low - _WIDEN, high + _WIDEN
    low, high = low.replace(tzinfo=None), high.replace(tzinfo=None)
    if high - low >= timedelta(hours=23):
        return None
    first, last = f"{low:%H:%M}", f"{high:%H:%M}"
    if low.date() == high.date():
        return [(first, last)]
    return [(first, "23:59"), ("00:00", last)]


def tip_times(
    local_time: str,
    weekdays: int,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    quiet: QuietHours,
) -> list[datetime]:
    """Return when a tip set for `local_time` on `weekdays` goes in [start, end).

    Times in quiet hours move to the next allowed minute.

    Empty for a stored time that does not parse: validated on entry, and one bad row must
    never stop the planner.
    """
    try:
        at = parse_hhmm(local_time)
    except ValueError:
        return []
    return [quiet.next_allowed(due, zone) for due in occurrences(start, end, zone, at, weekdays)]


def tip_row(patient_id: int, category: str, due: datetime, now: datetime) -> PlannedDelivery:
    """Return the planned row of one tip; its key makes a tip planned twice one row.

    A tip already past its grace (the process was down) is recorded missed, not sent.
    """
    late = due + TIP_GRACE <= now
    return PlannedDelivery(
        key=f"tip:{patient_id}:{category}:{stamp(due)}",
        patient_id=patient_id,
        kind="tip",
        reference=category,
        due_at=due,
        expires_at=due + TIP_GRACE,
        status=DeliveryStatus.MISSED if late else DeliveryStatus.PENDING,
        reason="expired" if late else None,
    )


def zone_groups(
    names: Iterable[str | None], clinic_zone: ZoneInfo
) -> dict[str, tuple[ZoneInfo, list[str | None]]]:
    """Group stored zone names by the zone they resolve to (unset or unknown: the clinic's)."""
    groups: dict[str, tuple[ZoneInfo, list[str | None]]] = {}
    for name in names:
        zone = patient_zone(name, clinic_zone)
        groups.setdefault(zone.key, (zone, []))[1].append(name)
    groups.setdefault(clinic_zone.key, (clinic_zone, []))
    return groups


def _time_filter(ranges: list[tuple[str, str]] | None) -> ColumnElement[bool]:
    if ranges is None:
        return true()
    return or_(
        *(
            and_(ReminderPreference.local_time >= low, ReminderPreference.local_time <= high)
            for low, high in ranges
        )
    )


async def plan_tip_window(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    clinic_zone: ZoneInfo,
    quiet: QuietHours,
) -> int:
    """Plan every consenting patient's tips whose local time falls in [start, end).

    A tip already past its grace (the process was down) is recorded missed, not sent.
    """
    names = (await session.scalars(select(Patient.timezone).distinct())).all()
    consented = exists().where(
        Consent.patient_id == ReminderPreference.patient_id,
        Consent.category == ConsentCategory.TIPS,
        Consent.granted.is_(True),
    )
    planned: list[PlannedDelivery] = []
    for zone, group in zone_groups(names, clinic_zone).values():
        # Only reminder_preferences in FROM, driven by its local_time index; each candidate's
        # patient is a primary-key probe. A join would let PostgreSQL start at `patients` when
        # its statistics are stale (right after a bulk import) and scan it once per row.
        zone_of = (
            select(func.coalesce(Patient.timezone, ""))
            .where(
                Patient.id == ReminderPreference.patient_id,
                Patient.status == PatientStatus.ACTIVE,
                Patient.reminders_paused.is_(False),
            )
            .scalar_subquery()
        )
        rows = await session.execute(
            select(
                ReminderPreference.patient_id,
                ReminderPreference.category,
                ReminderPreference.weekdays,
                ReminderPreference.local_time,
            ).where(
                _time_filter(local_ranges(start, end, zone)),
                ReminderPreference.enabled.is_(True),
                zone_of.in_([name or "" for name in group]),
                consented,
            )
        )
        cache: dict[tuple[str, int], list[datetime]] = {}
        for patient_id, category, weekdays, local_time in rows:
            times = cache.get((local_time, weekdays))
            if times is None:
                times = tip_times(local_time, weekdays, start, end, zone, quiet)
                cache[(local_time, weekdays)] = times
            planned.extend(tip_row(patient_id, category, due, now) for due in times)
    await insert_planned(session, planned, now)
    return len(planned)
