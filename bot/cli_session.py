"""Run one piece of CLI work with the app's services and one database transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import Services, open_services
from bot.clock import utc_now
from bot.db.models import StaffRole
from bot.settings import Settings
from handlers.staff.commands import (
    CLI_ACTOR,
    StaffResult,
    run_staff_command,
)

__all__ = ["in_session", "staff_command"]

T = TypeVar("T")


def in_session(ctx: click.Context, work: Callable[[Services, AsyncSession], Awaitable[T]]) -> T:
    """Open the services, run `work` in one transaction, close them, and return its result."""
    settings: Settings = ctx.obj

    async def go() -> T:
        services = await open_services(settings)
        try:
            async with services.db.session() as session, session.begin():
                return await work(services, session)
        finally:
            await services.close()

    return asyncio.run(go())


def staff_command(ctx: click.Context, name: str, args: Mapping[str, str | None]) -> StaffResult:
    """Run a declared staff command as the operator ("cli", admin); exit with its code on a
    refusal, after one line on stderr."""

    async def work(services: Services, session: AsyncSession) -> StaffResult:
        env = services.staff_env()
        return await run_staff_command(
            session, name, args, actor=CLI_ACTOR, role=StaffRole.ADMIN, env=env, now=utc_now()
        )

    result = in_session(ctx, work)
    if not result.ok:
        click.echo(f"clinicbot: {result.text}", err=True)
        raise click.exceptions.Exit(result.exit_code)
    return result
