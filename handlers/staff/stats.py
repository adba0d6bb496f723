"""Numbers for staff: patients by channel, opt-outs, sends, confirmations, tickets, pain."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Address,
    Appointment,
    AppointmentStatus,
    AuditEntry,
    Consent,
    Delivery,
    DeliveryStatus,
    PainScore,
    Patient,
    PatientStatus,
    Ticket,
    TicketStatus,
)
from content.store import ContentStore
from handlers.wording import fill

__all__ = ["Stats", "collect_stats", "format_stats"]

_DONE = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED)


@dataclass(frozen=True)
class Stats:
    """What staff see in /stats; activity counts cover the last `days` days."""

    days: int
    patients: int
    telegram: int
    sms: int
    opted_out: int
    sent: dict[str, int]  # delivery kind ("tip", "nudge", "broadcast") -> sent or delivered
    asked: int  # appointments sent a confirmation request
    confirmed: int  # of those, confirmed
    tickets_open: int
    pain_count: int
    pain_mean: float | None
    pain_change: float | None  # mean of (latest - first) per patient with two or more scores

    @property
    def confirmation_rate(self) -> float | None:
        """Return confirmed / asked, or None when nobody was asked."""
        return self.confirmed / self.asked if self.asked else None


async def _patients(session: AsyncSession) -> tuple[int, int, int, int]:
    active = select(Patient.id).where(Patient.status == PatientStatus.ACTIVE)
    total = await session.scalar(select(func.count()).select_from(active.subquery())) or 0
    schemes = await session.execute(
        select(Address.scheme, func.count(func.distinct(Address.patient_id)))
        .where(Address.patient_id.in_(active))
        .group_by(Address.scheme)
    )
    by_scheme = {str(row[0]): int(row[1]) for row in schemes}
    stopped = set(
        await session.scalars(
            select(Address.patient_id).where(
                Address.opted_out_at.is_not(None), Address.patient_id.in_(active)
            )
        )
    )
    # A patient who withdrew every consent (Telegram /stop) has opted out too.
    granted = set(
        await session.scalars(select(Consent.patient_id).where(Consent.granted.is_(True)))
    )
    asked = set(
        await session.scalars(select(Consent.patient_id).where(Consent.patient_id.in_(active)))
    )
    stopped |= asked - granted
    return total, by_scheme.get("telegram", 0), by_scheme.get("tel", 0), len(stopped)


async def _confirmations(
    session: AsyncSession, since: datetime, confirm_rules: Iterable[str]
) -> tuple[int, int]:
    rules = set(confirm_rules)
    rows = await session.execute(
        select(Delivery.reference, Delivery.content_ref).where(
            Delivery.kind == "nudge", Delivery.status.in_(_DONE), Delivery.sent_at >= since
        )
    )
    asked = set()
    for reference, rule in rows:
        # "appt:<id>" with the rule in content_ref; rows planned before 0005: "appt:<id>:<rule>".
        parts = str(reference).split(":")
        rule = rule or (parts[2] if len(parts) == 3 else None)
        if len(parts) >= 2 and parts[1].isdigit() and rule in rules:
            asked.add(int(parts[1]))
    if not asked:
        return 0, 0
    targets = [f"appointment:{ident}" for ident in asked]
    by_audit = await session.scalars(
        select(AuditEntry.target).where(
            AuditEntry.action == "appointment.confirmed", AuditEntry.target.in_(targets)
        )
    )
    confirmed = {int(str(target).split(":")[1]) for target in by_audit}
    confirmed |= set(
        await session.scalars(
            select(Appointment.id).where(
                Appointment.id.in_(asked), Appointment.status == AppointmentStatus.CONFIRMED
            )
        )
    )
    return len(asked), len(confirmed)


async def _pain(session: AsyncSession, since: datetime) -> tuple[int, float | None, float | None]:
    rows = (
        await session.execute(
            select(PainScore.patient_id, PainScore.score)
            .where(PainScore.recorded_at >= since)
            .order_by(PainScore.recorded_at, PainScore.id)
        )
    ).all()
    by_patient: dict[int, list[int]] = {}
    for patient_id, score in rows:
        by_patient.setdefault(patient_id, []).append(score)
    scores = [score for found in by_patient.values() for score in found]
    changes = [found[-1] - found[0] for found in by_patient.values() if len(found) > 1]
    mean = statistics.fmean(scores) if scores else None
    return len(scores), mean, statistics.fmean(changes) if changes else None


async def collect_stats(
    session: AsyncSession,
    *,
    now: datetime,
    days: int = 30,
    confirm_rules: Iterable[str] = ("before_48h",),
) -> Stats:
    """Count what /stats shows; `confirm_rules` are the nudge rules that ask to confirm."""
    since = now - timedelta(days=days)
    patients, telegram, sms, opted_out = await _patients(session)
    kinds = await session.execute(
        select(Delivery.kind, func.count())
        .where(Delivery.status.in_(_DONE), Delivery.sent_at >= since)
        .group_by(Delivery.kind)
    )
    sent = {str(row[0]): int(row[1]) for row in kinds}
    asked, confirmed = await _confirmations(session, since, confirm_rules)
    tickets_open = (
        await session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.status == TicketStatus.OPEN)
        )
        or 0
    )
    pain_count, pain_mean, pain_change = await _pain(session, since)
    return Stats(
        days, patients, telegram, sms, opted_out, sent, asked, confirmed, tickets_open,
        pain_count, pain_mean, pain_change,
    )  # fmt: skip


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_stats(content: ContentStore, stats: Stats) -> str:
    """Render the stats as plain text for the staff group, a private chat or the terminal."""
    rate = stats.confirmation_rate
    change = stats.pain_change
    return fill(
        content.message("staff_stats", "en").text,
        {
            "days": str(stats.days),
            "patients": str(stats.patients),
            "telegram": str(stats.telegram),
            "sms": str(stats.sms),
            "opted_out": str(stats.opted_out),
            "tips": str(stats.sent.get("tip", 0)),
            "nudges": str(stats.sent.get("nudge", 0)),
            "broadcasts": str(stats.sent.get("broadcast", 0)),
            "confirmed": str(stats.confirmed),
            "asked": str(stats.asked),
            "rate": "-" if rate is None else f"{rate:.0%}",
            "tickets": str(stats.tickets_open),
            "pain_count": str(stats.pain_count),
            "pain_mean": _number(stats.pain_mean),
            "pain_change": "-" if change is None else f"{change:+.1f}",
        },
    )
