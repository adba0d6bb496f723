"""Run one piece of CLI work with the app's services and one database transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import Services, open_services
from bot.settings import Settings

__all__ = ["in_session"]

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
