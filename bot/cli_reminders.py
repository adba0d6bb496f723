"""`clinicbot reminders`: staff see and change a patient's between-visit tips."""

from __future__ import annotations

from typing import NoReturn

import click
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import Services
from bot.cli_session import in_session
from bot.clock import utc_now
from bot.db.models import Address, Patient, TipCategory
from handlers.patients.preferences import DAYS
from handlers.patients.reminder_commands import (
    ReminderChange,
    ReminderCommandError,
    apply_change,
    describe,
    parse_tips_command,
)
from handlers.time.clinic_zone import clinic_zone_name
from handlers.time.quiet_hours import QuietHours

__all__ = ["reminders"]

ACTOR = "cli"
CATEGORIES = [category.value for category in TipCategory]


def _fail(message: str) -> NoReturn:
    click.echo(f"clinicbot: {message}", err=True)
    raise click.exceptions.Exit(2)


async def _patient(session: AsyncSession, urn: str) -> Patient:
    patient = await session.scalar(select(Patient).join(Address).where(Address.urn == urn))
    if patient is None:
        raise click.ClickException(f"no patient has the address {urn}")
    return patient


@click.group()
def reminders() -> None:
    """See and change a patient's between-visit tips (by address, e.g. tel:+15551234567)."""


@reminders.command("show")
@click.argument("urn")
@click.pass_context
def reminders_show(ctx: click.Context, urn: str) -> None:
    """Show the tips, days, time and time zone of the patient with address URN."""

    async def work(services: Services, session: AsyncSession) -> str:
        patient = await _patient(session, urn)
        zone = clinic_zone_name(services.conversation.answerer.content.clinic)
        content = services.conversation.answerer.content
        return await describe(session, content, patient, "en", zone, utc_now())

    click.echo(in_session(ctx, work))


@reminders.command("set")
@click.argument("urn")
@click.option("--on", "turn_on", multiple=True, type=click.Choice(CATEGORIES), help="Switch on.")
@click.option(
    "--off", "turn_off", multiple=True, type=click.Choice(CATEGORIES), help="Switch off."
)
@click.option("--time", "local_time", metavar="HH:MM", help="Local time for every category.")
@click.option("--days", type=click.Choice(sorted(DAYS)), help="Which days tips go out.")
@click.option("--timezone", "zone", metavar="ZONE", help="IANA time zone, e.g. America/Chicago.")
@click.option("--pause/--resume", default=None, help="Pause or resume all tips.")
@click.option(
    "--record-consent",
    is_flag=True,
    help="The patient agreed to tips in person or on paper: record it (audited).",
)
@click.pass_context
def reminders_set(
    ctx: click.Context,
    urn: str,
    turn_on: tuple[str, ...],
    turn_off: tuple[str, ...],
    local_time: str | None,
    days: str | None,
    zone: str | None,
    pause: bool | None,
    record_consent: bool,
) -> None:
    """Change the tips of the patient with address URN; tips go out only with their consent."""
    quiet = QuietHours(ctx.obj.quiet_hours_start, ctx.obj.quiet_hours_end)
    try:  # the same checks a patient's own TIPS command gets
        clock = parse_tips_command(f"tips {local_time}", quiet) if local_time else None
        where = parse_tips_command(f"tips zone {zone}", quiet) if zone else None
    except ReminderCommandError as error:
        night = str(error) == "night"
        _fail(
            f"{local_time} falls in quiet hours" if night else f"{zone} is not an IANA time zone"
        )
    if local_time and (clock is None or clock.local_time is None):
        _fail(f"{local_time!r} is not a time like 09:30")
    change = ReminderChange(
        turn_on=tuple(TipCategory(c) for c in turn_on),
        turn_off=tuple(TipCategory(c) for c in turn_off),
        local_time=clock.local_time if clock else None,
        weekdays=DAYS[days] if days else None,
        zone=where.zone if where else None,
        paused=pause,
    )

    async def work(services: Services, session: AsyncSession) -> str:
        patient = await _patient(session, urn)
        now = utc_now()
        await apply_change(
            session,
            patient,
            change,
            actor=ACTOR,
            source="staff:cli",
            now=now,
            record_consent=record_consent,
        )
        content = services.conversation.answerer.content
        zone_name = clinic_zone_name(services.conversation.answerer.content.clinic)
        return await describe(session, content, patient, "en", zone_name, now)

    click.echo(in_session(ctx, work))
