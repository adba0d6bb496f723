"""The Starlette app that uvicorn serves: health now, channel webhooks as they arrive."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.app import Services, open_services
from bot.channels.sms.channel import SmsChannel
from bot.channels.telegram import TelegramOptions, telegram_routes, telegram_running
from bot.settings import Settings
from scheduler.runtime import scheduler_running

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, telegram: TelegramOptions | None = None) -> Starlette:
    """Build the web app; its lifespan opens and closes the services and channels."""
    # SMS settings are checked here, so a bad one stops start-up with one line.
    sms = SmsChannel(settings) if settings.has_twilio else None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await open_services(settings)
        app.state.services = services
        if sms is not None:
            await sms.start(services)  # the Twilio client binds to this running loop
            app.state.sms = sms
        log.info("clinicbot ready on %s:%s", settings.host, settings.port)
        try:
            # Telegram starts after the services and stops before they close; the scheduler
            # starts once the channels exist and stops first.
            async with (
                telegram_running(settings, services, app.state, telegram),
                scheduler_running(settings, services, app.state),
            ):
                yield
        finally:
            if sms is not None:
                await sms.close()
            await services.close()
            log.info("clinicbot stopped")

    async def healthz(request: Request) -> JSONResponse:
        services: Services = request.app.state.services
        try:
            async with services.db.session() as session:
                await session.execute(text("SELECT 1"))
        except Exception:
            log.exception("health check: database unavailable")
            return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "up"})

    routes = [Route("/healthz", healthz), *(sms.routes() if sms else [])]
    routes += telegram_routes(settings)
    return Starlette(routes=routes, lifespan=lifespan)
