"""The audit log with filters, stats with charts over time, and staff management (admins)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.app import Services
from bot.console.auth import SignedIn
from bot.console.charts import bar_chart
from bot.console.guard import admin_only, staff_only
from bot.console.state import console_of
from bot.db.models import Address, AuditEntry, MessageLog, StaffRole
from handlers.ids import TELEGRAM_ID_MAX, read_id
from handlers.staff.roles import add_staff, list_staff, remove_staff
from handlers.staff.stats import Stats, collect_stats
from scheduler.rules import load_nudge_rules

__all__ = ["audit_page", "staff_change", "staff_page", "stats_page"]

AUDIT_PAGE = 100
STATS_DAYS = 30
STATS_TTL = timedelta(minutes=1)


@staff_only
async def audit_page(request: Request, who: SignedIn) -> Response:
    """List audit entries newest first, filtered by actor, action and target (prefixes)."""
    console = console_of(request)
    params = request.query_params
    filters = {name: params.get(name, "").strip()[:64] for name in ("actor", "action", "target")}
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(AUDIT_PAGE)
    for name, value in filters.items():
        if value:
            escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(getattr(AuditEntry, name).like(f"{escaped}%", escape="\\"))
    before = read_id(params.get("before", ""))
    if before is not None:
        query = query.where(AuditEntry.id < before)
    async with console.services(request).db.session() as session:
        entries = list(await session.scalars(query))
    context = {"who": who, "page": "audit", "entries": entries, "filters": filters}
    context["more"] = entries[-1].id if len(entries) == AUDIT_PAGE else None
    return console.render(request, "audit.html", context)


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


async def _per_day(session: AsyncSession, column: Any, since: datetime, *group: Any) -> Any:
    day = func.date(column)
    return await session.execute(
        select(day, *group, func.count()).where(column >= since).group_by(day, *group)
    )


@dataclass(frozen=True)
class _Numbers:
    stats: Stats
    days: list[date]
    series: dict[str, list[int]]
    confirmed: list[int]
    opt_outs: list[int]


async def _numbers(services: Services, now: datetime) -> _Numbers:
    since = (now - timedelta(days=STATS_DAYS - 1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    days = [since.date() + timedelta(days=n) for n in range(STATS_DAYS)]
    try:
        rules = load_nudge_rules(services.settings.content_dir / "nudges.yaml")
    except (ValueError, OSError):
        rules = ()
    confirm = tuple(rule.id for rule in rules if rule.ask == "confirm")
    channels: dict[str, dict[date, int]] = {}
    opt_outs: dict[date, int] = {}
    confirmed: dict[date, int] = {}
    async with services.db.session() as session:
        stats = await collect_stats(session, now=now, days=STATS_DAYS, confirm_rules=confirm)
        for day, channel, count in await _per_day(
            session, MessageLog.created_at, since, MessageLog.channel
        ):
            channels.setdefault(str(channel), {})[_day(day)] = int(count)
        for day, count in await _per_day(session, Address.opted_out_at, since):
            opt_outs[_day(day)] = int(count)
        confirms = await session.execute(
            select(func.date(AuditEntry.created_at), func.count())
            .where(AuditEntry.action == "appointment.confirmed", AuditEntry.created_at >= since)
            .group_by(func.date(AuditEntry.created_at))
        )
        for day, count in confirms:
            confirmed[_day(day)] = int(count)
    return _Numbers(
        stats,
        days,
        {name: [per.get(d, 0) for d in days] for name, per in sorted(channels.items())},
        [confirmed.get(d, 0) for d in days],
        [opt_outs.get(d, 0) for d in days],
    )


@staff_only
async def stats_page(request: Request, who: SignedIn) -> Response:
    """Show the numbers of `clinicbot stats` and charts per day (recomputed once a minute)."""
    console = console_of(request)
    services = console.services(request)
    now = console.now(request)
    numbers = await console.cached("stats", now, STATS_TTL, lambda: _numbers(services, now))
    days = numbers.days
    context = {
        "who": who,
        "page": "stats",
        "stats": numbers.stats,
        "days": days,
        "series": numbers.series,
        "messages_chart": bar_chart("msgs", "Messages per day by channel", days, numbers.series),
        "opt_outs": numbers.opt_outs,
        "opt_out_chart": bar_chart(
            "optouts", "SMS opt-outs per day", days, {"opt-outs": numbers.opt_outs}
        ),
        "confirmed": numbers.confirmed,
        "confirm_chart": bar_chart(
            "confirms", "Appointments confirmed per day", days, {"confirmed": numbers.confirmed}
        ),
        "computed_at": console.cache["stats"][0],
    }
    return console.render(request, "stats.html", context)


@admin_only
async def staff_page(request: Request, who: SignedIn) -> Response:
    """List staff, with add, change role and remove (admins only)."""
    console = console_of(request)
    async with console.services(request).db.session() as session:
        members = await list_staff(session)
    context = {"who": who, "page": "staff", "members": members}
    context["error"] = request.query_params.get("error")
    return console.render(request, "staff.html", context)


@admin_only
async def staff_change(request: Request, who: SignedIn) -> Response:
    """Add a staff member, change a role, or remove one (audited; their sessions end)."""
    console = console_of(request)
    form = await request.form()
    member = read_id(str(form.get("telegram_user_id", "")), TELEGRAM_ID_MAX)
    action = str(form.get("action", ""))
    if member is None:
        return RedirectResponse("/console/staff?error=id", status_code=303)
    now = console.now(request)
    async with console.services(request).db.session() as session, session.begin():
        if action == "remove":
            await remove_staff(session, member, actor=who.actor, now=now)
        elif action in (StaffRole.ADMIN, StaffRole.STAFF):
            name = str(form.get("name", "")).strip()[:200] or None
            await add_staff(
                session, member, StaffRole(action), actor=who.actor, now=now, name=name
            )
        else:
            return RedirectResponse("/console/staff?error=action", status_code=303)
    return RedirectResponse("/console/staff", status_code=303)
