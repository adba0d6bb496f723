"""The Starlette app that uvicorn serves: health now, channel webhooks as they arrive."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.app import Services, open_services
from bot.channels.sms.channel import SmsChannel
from bot.channels.telegram import TelegramOptions, telegram_routes, telegram_running
from bot.channels.webchat import WebChatChannel
from bot.clock import Clock, utc_now
from bot.console.auth import SessionPolicy
from bot.console.headers import ConsoleHeaders
from bot.console.routes import console_routes, install_console
from bot.console.state import link_base
from bot.errors import ClinicbotError
from bot.health import Health, Readiness, sqlite_directory
from bot.settings import Settings
from bot.storage_errors import StorageErrors
from handlers.staff.alerts import AlertDetail, StaffAlerts
from handlers.staff.roles import bootstrap_staff
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


class _StartupErrors:
    """Report an error a user can fix at start-up as its one line, not Starlette's traceback.

    Starlette sends `lifespan.startup.failed` with the traceback as its message, which the
    server logs; this middleware puts the error's one line there instead.
    """

    def __init__(self, app: ASGIApp, failures: list[ClinicbotError]) -> None:
        self.app, self.failures = app, failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_one_line(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed" and self.failures:
                message = {**message, "message": f"clinicbot: {self.failures[-1]}"}
            await send(message)

        await self.app(scope, receive, send_one_line)


def create_app(
    settings: Settings,
    *,
    telegram: TelegramOptions | None = None,
    webchat: WebChatChannel | None = None,
    clock: Clock | None = None,
) -> Starlette:
    """Build the web app; its lifespan opens and closes the services and channels."""
    # SMS settings are checked here, so a bad one stops start-up with one line.
    sms = SmsChannel(settings) if settings.has_twilio else None
    if webchat is None and settings.webchat_enabled:
        webchat = WebChatChannel(settings)

    failures: list[ClinicbotError] = []  # what stopped start-up, for one line and exit code

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            services = await open_services(
                settings, clock=clock or utc_now, alerts=_staff_alerts(settings)
            )
        except ClinicbotError as exc:  # unusable storage or content: one line, not a traceback
            failures.append(exc)
            raise
        app.state.services = services
        data_dir = sqlite_directory(settings.database_url)
        app.state.health = Health(services.db, data_dir, clock=services.conversation.clock)
        app.state.readiness = Readiness(services.db)
        await _bootstrap_staff(services, settings)
        if sms is not None:
            await sms.start(services)  # the Twilio client binds to this running loop
            app.state.sms = sms
        if webchat is not None:
            await webchat.start(services, app.state)
            app.state.webchat = webchat
        log.info("clinicbot ready on %s:%s", settings.host, settings.port)
        try:
            # Telegram starts after the services and stops before they close; the scheduler
            # starts once the channels exist and stops first.
            async with (
                telegram_running(settings, services, app.state, telegram),
                scheduler_running(settings, services, app.state),
            ):
                if app.state.telegram is not None:  # where /console's sign-in links point
                    bot_data = app.state.telegram.application.bot_data
                    bot_data["clinicbot.console_url"] = link_base(
                        settings.public_url, settings.host, settings.port
                    )
                app.state.readiness.open()
                yield
                app.state.readiness.drain()  # the load balancer stops sending first
        except ClinicbotError as exc:  # e.g. a second scheduler on one SQLite file
            failures.append(exc)
            raise
        finally:
            if webchat is not None:
                await webchat.close()
            if sms is not None:
                await sms.close()
            await services.close()
            log.info("clinicbot stopped")

    async def healthz(request: Request) -> JSONResponse:
        health: Health = request.app.state.health
        healthy, details = await health.check()
        if not healthy:
            return JSONResponse({"status": "unavailable", **details}, status_code=503)
        body: dict[str, object] = {"status": "ok", **details}
        if any(rejected.values()):  # forged signatures and wrong secrets, since start-up
            body["rejected"] = dict(rejected)
        return JSONResponse(body)

    async def readyz(request: Request) -> JSONResponse:
        readiness: Readiness | None = getattr(request.app.state, "readiness", None)
        ready, details = await readiness.check() if readiness else (False, {"app": "starting"})
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", **details},
            status_code=200 if ready else 503,
        )

    routes: list[BaseRoute] = [Route("/healthz", healthz), Route("/readyz", readyz)]
    routes += sms.routes() if sms else []
    routes += telegram_routes(settings)
    routes += webchat.routes() if webchat else []
    routes += console_routes()
    middleware = [
        Middleware(_StartupErrors, failures=failures),
        Middleware(StorageErrors),
        Middleware(ConsoleHeaders),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.startup_failures = failures
    install_console(
        app.state,
        SessionPolicy(
            idle=timedelta(minutes=settings.console_idle_minutes),
            absolute=timedelta(hours=settings.console_session_hours),
        ),
    )
    rejected = {"telegram": 0, "sms": 0}
    app.state.rejected = rejected  # the webhooks count the requests they refuse with 403
    return app
