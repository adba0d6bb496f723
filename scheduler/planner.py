"""Plan appointment nudges from rules: one appointment at a time, or all of them in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AppointmentStatus, Delivery, DeliveryStatus
from handlers.time.quiet_hours import QuietHours
from scheduler.outbox import PlannedDelivery, insert_planned
from scheduler.rules import NudgeRule
from scheduler.timing import local_instant
from scheduler.tip_window import stamp

__all__ = [
    "Visit",
    "appointment_reference",
    "nudge_plan",
    "replan_all",
    "replan_appointment",
    "replan_visits",
]

_NO_NUDGES = {AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW}
_CHUNK = 1000


class Visit(Protocol):
    """What planning needs of an appointment (an `Appointment` row, or its columns)."""

    @property
    def id(self) -> int: ...
    @property
    def patient_id(self) -> int: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def status(self) -> str: ...


def appointment_reference(appointment_id: int) -> str:
    """Return the outbox reference of an appointment's nudges (the rule is in content_ref)."""
    return f"appt:{appointment_id}"


def nudge_plan(
    appointment: Visit,
    rules: Sequence[NudgeRule],
    zone: ZoneInfo,
    quiet: QuietHours,
    now: datetime,
) -> list[PlannedDelivery]:
    """Return the nudges an appointment should have, never at night and never too late."""
    if appointment.status in _NO_NUDGES:
        return []
    start = appointment.starts_at
    planned = []
    for rule in rules:
        due = start + rule.offset
        if rule.at is not None:
            due = local_instant(due.astimezone(zone).date(), rule.at, zone)
        if rule.before_visit:
            moved = quiet.nearest_allowed_before(due, start, zone)
            if moved is None:
                continue  # no decent time before the visit: skip rather than wake anyone
            due, expires = moved, min(moved + rule.expires_after, start)
        else:
            due = quiet.next_allowed(due, zone)
            expires = due + rule.expires_after
        if expires <= now:
            continue
        planned.append(
            PlannedDelivery(
                key=(
                    f"nudge:{appointment.patient_id}:{appointment.id}:{rule.id}"
                    f":v{rule.version}:{stamp(due)}"
                ),
                patient_id=appointment.patient_id,
                kind="nudge",
                reference=appointment_reference(appointment.id),
                due_at=due,
                expires_at=expires,
                rule_version=rule.version,
                content_ref=rule.id,
            )
        )
    return planned


async def replan_appointment(
    session: AsyncSession,
    appointment: Visit,
    rules: Sequence[NudgeRule],
    zone: ZoneInfo,
    quiet: QuietHours,
    now: datetime,
) -> list[PlannedDelivery]:
    """Cancel pending nudges the appointment no longer needs and plan the ones it does."""
    planned = nudge_plan(appointment, rules, zone, quiet, now)
    keep = [p.key for p in planned]
    # A nudge cancelled by an earlier replan that the plan wants again (the visit was
    # cancelled, then restored) never went out: take it back rather than lose it to its key.
    await session.execute(
        update(Delivery)
        .where(
            Delivery.key.in_(keep),
            Delivery.status == DeliveryStatus.CANCELLED,
            Delivery.reason == "replanned",
        )
        .values(status=DeliveryStatus.PENDING, reason=None, updated_at=now)
    )
    # An equality on the (kind, reference) index, on every database.
    stale = update(Delivery).where(
        Delivery.kind == "nudge",
        Delivery.reference == appointment_reference(appointment.id),
        Delivery.status == DeliveryStatus.PENDING,
        Delivery.key.not_in(keep),
    )
    await session.execute(
        stale.values(status=DeliveryStatus.CANCELLED, reason="replanned", updated_at=now)
    )
    await insert_planned(session, planned, now)
    return planned


async def _set_status(
    session: AsyncSession, ids: list[int], status: str, reason: str | None, now: datetime
) -> None:
    for start in range(0, len(ids), _CHUNK):
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids[start : start + _CHUNK]))
            .values(status=status, reason=reason, updated_at=now)
        )


async def _replan(
    session: AsyncSession,
    visits: Sequence[tuple[Visit, ZoneInfo]],
    rules: Sequence[NudgeRule],
    quiet: QuietHours,
    now: datetime,
    *,
    scoped: bool,
) -> int:
    wanted = {p.key: p for v, zone in visits for p in nudge_plan(v, rules, zone, quiet, now)}
    scope = list(dict.fromkeys(appointment_reference(v.id) for v, _ in visits))
    replannable = or_(
        Delivery.status == DeliveryStatus.PENDING,
        (Delivery.status == DeliveryStatus.CANCELLED) & (Delivery.reason == "replanned"),
    )
    query = select(Delivery.id, Delivery.key, Delivery.reference, Delivery.status).where(
        Delivery.kind == "nudge", replannable
    )
    if scoped:  # a few visits: their rows by the (kind, reference) index
        chunks = [scope[start : start + _CHUNK] for start in range(0, len(scope), _CHUNK)]
        queries = [query.where(Delivery.reference.in_(chunk)) for chunk in chunks]
    else:  # every visit: one pass over the replannable rows
        queries = [query]
    in_scope = set(scope)
    revive: list[int] = []
    cancel: list[int] = []
    known: set[str] = set()
    for each in queries:
        for ident, key, reference, status in await session.execute(each):
            known.add(key)
            if status == DeliveryStatus.CANCELLED and key in wanted:
                revive.append(ident)
            elif status == DeliveryStatus.PENDING and key not in wanted and reference in in_scope:
                cancel.append(ident)
    await _set_status(session, revive, DeliveryStatus.PENDING, None, now)
    await _set_status(session, cancel, DeliveryStatus.CANCELLED, "replanned", now)
    fresh = [p for key, p in wanted.items() if key not in known]
    await insert_planned(session, fresh, now)  # keys sent before are skipped by the insert
    return len(revive) + len(cancel) + len(fresh)


async def replan_all(
    session: AsyncSession,
    visits: Sequence[tuple[Visit, ZoneInfo]],
    rules: Sequence[NudgeRule],
    quiet: QuietHours,
    now: datetime,
) -> int:
    """Replan many appointments at once: plan in Python, then a few set-based statements.

    Same outcome as `replan_appointment` for each visit; returns how many rows changed.
    Reads every replannable nudge: for replanning all appointments (the rules changed).
    """
    return await _replan(session, visits, rules, quiet, now, scoped=False)


async def replan_visits(
    session: AsyncSession,
    visits: Sequence[tuple[Visit, ZoneInfo]],
    rules: Sequence[NudgeRule],
    quiet: QuietHours,
    now: datetime,
) -> int:
    """Like `replan_all`, reading only these visits' nudges: for a batch of an import."""
    return await _replan(session, visits, rules, quiet, now, scoped=True)
