"""The `clinicbot staff`, `audit` and `stats` commands (changes audited with actor "cli")."""

from __future__ import annotations

import click
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import Services
from bot.cli_session import in_session
from bot.clock import utc_now
from bot.console.auth import issue_link, sign_in_url
from bot.console.state import link_base
from bot.db.models import AuditEntry, StaffRole
from bot.settings import Settings
from handlers.ids import TELEGRAM_ID_MAX
from handlers.staff import add_staff, list_staff, remove_staff
from handlers.stats import collect_stats, format_stats
from scheduler.rules import load_nudge_rules

__all__ = ["audit_command", "staff", "stats_command"]

ACTOR = "cli"
# A number no Telegram id can be is a one-line usage error, not a database overflow.
TELEGRAM_ID = click.IntRange(1, TELEGRAM_ID_MAX)


@click.group()
def staff() -> None:
    """Manage who is staff (Telegram users): add, remove, list, console sign-in link."""


@staff.command("add")
@click.argument("telegram_user_id", type=TELEGRAM_ID)
@click.option(
    "--role", type=click.Choice([r.value for r in StaffRole]), default="staff", show_default=True
)
@click.option("--name", help="A name to recognise them by.")
@click.pass_context
def staff_add(ctx: click.Context, telegram_user_id: int, role: str, name: str | None) -> None:
    """Make a Telegram user staff (or change their role)."""

    async def work(services: Services, session: AsyncSession) -> None:
        await add_staff(
            session, telegram_user_id, StaffRole(role), actor=ACTOR, now=utc_now(), name=name
        )

    in_session(ctx, work)
    click.echo(f"staff {telegram_user_id}: {role}")


@staff.command("remove")
@click.argument("telegram_user_id", type=TELEGRAM_ID)
@click.pass_context
def staff_remove(ctx: click.Context, telegram_user_id: int) -> None:
    """Remove a staff member (kept in the audit trail); exit 1 if they are not staff."""

    async def work(services: Services, session: AsyncSession) -> bool:
        return await remove_staff(session, telegram_user_id, actor=ACTOR, now=utc_now())

    if not in_session(ctx, work):
        click.echo(f"clinicbot: {telegram_user_id} is not staff", err=True)
        raise click.exceptions.Exit(1)
    click.echo(f"staff {telegram_user_id}: removed")


@staff.command("list")
@click.pass_context
def staff_list(ctx: click.Context) -> None:
    """List active staff, admins first."""

    async def work(services: Services, session: AsyncSession) -> list[str]:
        return [
            f"{member.telegram_user_id}\t{member.role}\t{member.name or ''}".rstrip()
            for member in await list_staff(session)
        ]

    lines = in_session(ctx, work)
    for line in lines:
        click.echo(line)
    if not lines:
        click.echo("no staff yet: `clinicbot staff add <telegram user id> --role admin`")


@staff.command("link")
@click.argument("telegram_user_id", type=TELEGRAM_ID)
@click.pass_context
def staff_link(ctx: click.Context, telegram_user_id: int) -> None:
    """Print a single-use console sign-in link, valid 5 minutes; exit 1 if they are not staff."""
    settings: Settings = ctx.obj

    async def work(services: Services, session: AsyncSession) -> str | None:
        return await issue_link(session, telegram_user_id, now=utc_now(), actor=ACTOR)

    token = in_session(ctx, work)
    if token is None:
        click.echo(f"clinicbot: {telegram_user_id} is not staff", err=True)
        raise click.exceptions.Exit(1)
    click.echo(sign_in_url(link_base(settings.public_url, settings.host, settings.port), token))


@click.command("audit")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.pass_context
def audit_command(ctx: click.Context, limit: int) -> None:
    """List the newest audit entries: when, who, what, to whom."""

    async def work(services: Services, session: AsyncSession) -> list[AuditEntry]:
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        return list(await session.scalars(query))

    for entry in in_session(ctx, work):
        when = entry.created_at.strftime("%Y-%m-%d %H:%M:%SZ")
        fields = (when, entry.actor, entry.action, entry.target or "-", entry.detail or "")
        click.echo("\t".join(fields).rstrip())


@click.command("stats")
@click.option("--days", type=click.IntRange(1, 3650), default=30, show_default=True)
@click.pass_context
def stats_command(ctx: click.Context, days: int) -> None:
    """Show patients by channel, opt-outs, messages sent, confirmations, tickets, pain scores."""
    settings: Settings = ctx.obj
    try:
        rules = load_nudge_rules(settings.content_dir / "nudges.yaml")
    except (ValueError, OSError):
        rules = ()
    confirm = tuple(rule.id for rule in rules if rule.ask == "confirm")

    async def work(services: Services, session: AsyncSession) -> str:
        stats = await collect_stats(session, now=utc_now(), days=days, confirm_rules=confirm)
        return format_stats(services.conversation.answerer.content, stats)

    click.echo(in_session(ctx, work))
