"""The `clinicbot staff`, `audit` and `stats` commands: the declared staff commands, as "cli".

Options and arguments are click's; the work, the texts and the audit are the registry's
(handlers.staff.commands), the same as in the staff group and private chats.
"""

from __future__ import annotations

import click
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import Services
from bot.cli_session import in_session, staff_command
from bot.clock import utc_now
from bot.console.auth import issue_link, sign_in_url
from bot.console.state import link_base
from bot.db.models import StaffRole
from bot.settings import Settings
from handlers.ids import TELEGRAM_ID_MAX

__all__ = ["audit_command", "staff", "stats_command"]

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
    args = {"telegram_user_id": str(telegram_user_id), "role": role, "name": name}
    click.echo(staff_command(ctx, "staff_add", args).text)


@staff.command("remove")
@click.argument("telegram_user_id", type=TELEGRAM_ID)
@click.pass_context
def staff_remove(ctx: click.Context, telegram_user_id: int) -> None:
    """Remove a staff member (kept in the audit trail); exit 1 if they are not staff."""
    args = {"telegram_user_id": str(telegram_user_id)}
    click.echo(staff_command(ctx, "staff_remove", args).text)


@staff.command("list")
@click.pass_context
def staff_list(ctx: click.Context) -> None:
    """List active staff, admins first."""
    click.echo(staff_command(ctx, "staff_list", {}).text)


@staff.command("link")
@click.argument("telegram_user_id", type=TELEGRAM_ID)
@click.pass_context
def staff_link(ctx: click.Context, telegram_user_id: int) -> None:
    """Print a single-use console sign-in link, valid 5 minutes; exit 1 if they are not staff."""
    settings: Settings = ctx.obj

    async def work(services: Services, session: AsyncSession) -> str | None:
        return await issue_link(session, telegram_user_id, now=utc_now(), actor="cli")

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
    text = staff_command(ctx, "audit", {"limit": str(limit)}).text
    if text:
        click.echo(text)


@click.command("stats")
@click.option("--days", type=click.IntRange(1, 3650), default=30, show_default=True)
@click.pass_context
def stats_command(ctx: click.Context, days: int) -> None:
    """Show patients by channel, opt-outs, messages sent, confirmations, tickets, pain scores."""
    click.echo(staff_command(ctx, "stats", {"days": str(days)}).text)
