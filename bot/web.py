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
from handlers.staff import bootstrap_staff
from handlers.staff_alerts import AlertDetail, StaffAlerts
from scheduler.runtime import scheduler_running

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def _staff_alerts(settings: Settings) -> StaffAlerts | None:
    """Return the staff group's alert sink when Telegram and STAFF_CHAT_ID are set."""
    if not settings.telegram_bot_token or settings.staff_chat_id is None:
        return None  # alerts go to the log, and /human says how to call the clinic
    return StaffAlerts(detail=AlertDetail(settings.staff_alert_detail))


async def _bootstrap_staff(services: Services, settings: Settings) -> None:
    """Make the STAFF_TELEGRAM_IDS admins if they are not staff yet (audited as "settings")."""
    if not settings.staff_ids:
        return
    async with services.db.session() as session, session.begin():
        added = await bootstrap_staff(session, settings.staff_ids, services.conversation.clock())
    if added:
        log.info("staff: %s admins added from STAFF_TELEGRAM_IDS", added)


def create_app(settings: Settings, *, telegram: TelegramOptions | None = None) -> Starlette:
    """Build the web app; its lifespan opens and closes the services and channels."""
    # SMS settings are checked here, so a bad one stops start-up with one line.
    sms = SmsChannel(settings) if settings.has_twilio else None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await open_services(settings, alerts=_staff_alerts(settings))
        app.state.services = services
        await _bootstrap_staff(services, settings)
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
        body: dict[str, object] = {"status": "ok", "database": "up"}
        if any(rejected.values()):  # forged signatures and wrong secrets, since start-up
            body["rejected"] = dict(rejected)
        return JSONResponse(body)

    routes = [Route("/healthz", healthz), *(sms.routes() if sms else [])]
    routes += telegram_routes(settings)
    app = Starlette(routes=routes, lifespan=lifespan)
    rejected = {"telegram": 0, "sms": 0}
    app.state.rejected = rejected  # the webhooks count the requests they refuse with 403
    return app
