"""The SMS channel as the web app sees it: two routes, and a client opened inside the loop."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.app import Services, build_pipeline
from bot.channels.sms.client import TwilioRest, open_rest
from bot.channels.sms.config import INBOUND_PATH, STATUS_PATH, SmsConfig
from bot.channels.sms.sender import SmsSender
from bot.channels.sms.webhook import SmsWebhooks
from bot.clock import Clock, utc_now
from bot.settings import Settings
from handlers.time.quiet_hours import QuietHours

__all__ = ["SmsChannel"]


class SmsChannel:
    """Twilio SMS for one app: validated at build time, started and closed by the lifespan."""

    def __init__(self, settings: Settings, *, clock: Clock = utc_now) -> None:
        self.config = SmsConfig.from_settings(settings)  # ConfigError before serving
        self._clock = clock
        self._rest: TwilioRest | None = None
        self._webhooks: SmsWebhooks | None = None
        self.sender: SmsSender | None = None

    def routes(self) -> list[Route]:
        """Return POST /sms/inbound and POST /sms/status."""
        return [
            Route(INBOUND_PATH, self._inbound, methods=["POST"]),
            Route(STATUS_PATH, self._status, methods=["POST"]),
        ]

    async def start(self, services: Services) -> None:
        """Open the Twilio client inside the running loop and build the handlers."""
        content = services.conversation.answerer.content
        self._rest = open_rest(
            self.config.account_sid, self.config.auth_token, self.config.api_base_url
        )
        self.sender = SmsSender(self._rest, content, self.config)
        quiet = QuietHours(self.config.quiet_start, self.config.quiet_end)
        pipeline = build_pipeline(services, clock=self._clock, quiet=quiet)
        self._webhooks = SmsWebhooks(self.config, pipeline, services.db, clock=self._clock)

    async def close(self) -> None:
        """Close the Twilio HTTP session."""
        if self._rest is not None:
            await self._rest.close()
            self._rest = None

    async def _inbound(self, request: Request) -> Response:
        if self._webhooks is None:
            return PlainTextResponse("starting", status_code=503)
        return await self._webhooks.inbound(request)

    async def _status(self, request: Request) -> Response:
        if self._webhooks is None:
            return PlainTextResponse("starting", status_code=503)
        return await self._webhooks.status(request)
