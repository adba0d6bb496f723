"""Run Telegram inside the web app's lifespan: webhook route, polling, start-up and shutdown."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import Update
from telegram.error import InvalidToken, TelegramError
from telegram.request import BaseRequest

from bot.app import Services
from bot.channels.base import ChannelSender, SendOutcome, SendStatus
from bot.channels.telegram.app import TelegramApp, build_application
from bot.channels.telegram.commands import register_commands
from bot.channels.telegram.deps import Deps
from bot.channels.telegram.ratelimit import ClinicRateLimiter
from bot.channels.telegram.sender import TelegramSender
from bot.channels.telegram.staff_group import start_staff_group
from bot.clock import Clock, utc_now
from bot.http_body import BodyError, read_body
from bot.settings import Settings
from handlers.conversation.onboarding import Onboarding
from handlers.messages import OutboundMessage
from handlers.staff.alerts import StaffAlerts
from handlers.time.clinic_zone import clinic_zone_name

__all__ = [
    "SECRET_HEADER",
    "TelegramOptions",
    "TelegramRuntime",
    "telegram_routes",
    "telegram_running",
    "webhook_mode",
]

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_PATH = "/telegram"
# A text message is at most 4096 characters; with entities and a reply an update stays ~100 KB.
MAX_UPDATE_BYTES = 1024 * 1024
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class TelegramOptions:
    """Injected edges for tests: the Bot API transport, the clock, the sleep, the limiter."""

    request: BaseRequest | None = None
    clock: Clock = utc_now
    sleep: Sleep = asyncio.sleep
    rate_limiter: ClinicRateLimiter | None = None


def webhook_mode(settings: Settings) -> bool:
    """Say whether Telegram sends updates to our webhook (else we long-poll)."""
    return bool(
        settings.telegram_bot_token and settings.public_url and settings.telegram_webhook_secret
    )


class TelegramRuntime:
    """Start and stop the Application; connecting is retried in the background, never blocking."""

    def __init__(
        self, application: TelegramApp, settings: Settings, deps: Deps, sleep: Sleep
    ) -> None:
        self.application = application
        self._settings = settings
        self._deps = deps
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    @property
    def deps(self) -> Deps:
        """Return the services the handlers share."""
        return self._deps

    @property
    def secret(self) -> str:
        """Return the webhook secret ('' when polling)."""
        secret = self._settings.telegram_webhook_secret
        return secret.get_secret_value() if secret else ""

    async def start(self) -> None:
        """Connect in the background so an unreachable Telegram never holds up start-up."""
        self._task = asyncio.create_task(self._connect(), name="telegram-connect")

    async def _connect(self) -> None:
        delay = 1.0
        while True:
            try:
                await self._start_once()
                self.ready.set()
                log.info("telegram: ready (%s)", "webhook" if self._webhook else "polling")
                alerts = self._deps.conversation.alerts
                if isinstance(alerts, StaffAlerts):
                    await alerts.retry_unposted()  # alerts raised while connecting
                return
            except InvalidToken:
                log.error("telegram: the bot token was refused; check TELEGRAM_BOT_TOKEN")
                return
            except TelegramError as error:
                log.warning(
                    "telegram: cannot connect (%s); retrying in %.0fs", type(error).__name__, delay
                )
            await self._sleep(delay)
            delay = min(delay * 2, 60.0)

    @property
    def _webhook(self) -> bool:
        return webhook_mode(self._settings)

    async def _start_once(self) -> None:
        application = self.application
        await application.initialize()
        await register_commands(application.bot, self._deps.content)
        if self._webhook:
            url = f"{(self._settings.public_url or '').rstrip('/')}{WEBHOOK_PATH}"
            await application.bot.set_webhook(
                url, secret_token=self.secret, allowed_updates=Update.ALL_TYPES
            )
        else:
            await application.bot.delete_webhook()
            assert application.updater is not None
            await application.updater.start_polling(allowed_updates=Update.ALL_TYPES)
        await application.start()

    async def stop(self) -> None:
        """Stop polling and the Application, finishing the update in hand."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        application = self.application
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        try:
            await application.shutdown()
        except TelegramError as error:
            log.warning("telegram: shutdown: %s", type(error).__name__)

    def sender(self) -> ChannelSender:
        """Return the outbox's sender for Telegram; it waits until the bot is connected."""
        return _ReadySender(self.ready, TelegramSender(self.application.bot, paced=True))

    def parse(self, data: dict[str, Any]) -> Update | None:
        """Build the Update, or None when the JSON is not a well-formed update."""
        try:
            return Update.de_json(data, self.application.bot)
        except Exception:  # de_json raises whatever a malformed dict provokes in it
            return None

    async def process(self, data: dict[str, Any]) -> None:
        """Handle one update received over the webhook."""
        update = self.parse(data)
        if update is not None:
            await self.application.process_update(update)


class _ReadySender:
    """Answer RETRY until Telegram is connected, so the outbox never sends too early."""

    def __init__(self, ready: asyncio.Event, sender: TelegramSender) -> None:
        self._ready, self._sender = ready, sender
        self.route = sender.route

    async def send(self, urn: str, message: OutboundMessage) -> SendOutcome:
        if not self._ready.is_set():
            return SendOutcome(SendStatus.RETRY, error="telegram_not_ready", retry_after=30.0)
        return await self._sender.send(urn, message)


def build_runtime(
    settings: Settings, services: Services, options: TelegramOptions
) -> TelegramRuntime:
    """Build the runtime for the configured bot token."""
    assert settings.telegram_bot_token is not None
    conversation = services.conversation
    answerer = conversation.answerer
    clinic_zone = clinic_zone_name(answerer.content.clinic, settings.clinic_timezone)
    deps = Deps(
        db=services.db,
        conversation=conversation,
        answerer=answerer,
        onboarding=Onboarding(answerer.content, clinic_zone, settings.default_region),
        clock=options.clock,
        clinic_zone=clinic_zone,
        secret=settings.telegram_bot_token.get_secret_value(),
    )
    application = build_application(
        settings.telegram_bot_token.get_secret_value(),
        deps,
        base_url=settings.telegram_base_url,
        webhook=webhook_mode(settings),
        request=options.request,
        rate_limiter=options.rate_limiter,
    )
    return TelegramRuntime(application, settings, deps, options.sleep)


async def _webhook(request: Request) -> Response:
    runtime: TelegramRuntime | None = getattr(request.app.state, "telegram", None)
    given = request.headers.get(SECRET_HEADER, "").encode()
    # The secret is checked before the body is read, with a constant-time comparison.
    if (
        runtime is None
        or not runtime.secret
        or not hmac.compare_digest(given, runtime.secret.encode())
    ):
        rejected = getattr(request.app.state, "rejected", None)
        if rejected is not None:
            rejected["telegram"] += 1
        return Response(status_code=403)
    if not runtime.ready.is_set():
        return Response(status_code=503)
    try:
        body = await read_body(request, max_bytes=MAX_UPDATE_BYTES)
    except BodyError as exc:
        log.info("telegram webhook refused: %s %s", exc.status, exc.reason)
        return Response(status_code=exc.status)
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        return Response(status_code=400)
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return Response(status_code=400)
    update = runtime.parse(data)
    if update is None:
        log.warning("telegram webhook: update %s is malformed", data["update_id"])
        return Response(status_code=400)
    await runtime.application.process_update(update)
    return Response(status_code=200)


def telegram_routes(settings: Settings) -> list[Route]:
    """Return the webhook route when Telegram is configured for webhooks."""
    return [Route(WEBHOOK_PATH, _webhook, methods=["POST"])] if webhook_mode(settings) else []


@asynccontextmanager
async def telegram_running(
    settings: Settings, services: Services, state: Any, options: TelegramOptions | None = None
) -> AsyncIterator[None]:
    """Run Telegram for the app's lifetime when TELEGRAM_BOT_TOKEN is set."""
    state.telegram = None
    if not settings.telegram_bot_token:
        yield
        return
    runtime = build_runtime(settings, services, options or TelegramOptions())
    start_staff_group(runtime, settings, state)  # hand-offs and alerts, with STAFF_CHAT_ID
    state.telegram = runtime
    await runtime.start()
    try:
        yield
    finally:
        await runtime.stop()
