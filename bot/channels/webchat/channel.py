"""The web chat channel as the app sees it: routes, and the pieces built inside the loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.app import Services
from bot.channels.base import ChannelSender, SendOutcome
from bot.channels.webchat.downloads import Downloads
from bot.channels.webchat.http import WebChatHttp
from bot.channels.webchat.hub import Hub
from bot.channels.webchat.limits import ChatPace, OriginPolicy, StartsPerIp
from bot.channels.webchat.link import Linker, SendTo
from bot.channels.webchat.sender import WebChatSender
from bot.channels.webchat.store import WebChatStore
from bot.clock import Clock, utc_now
from bot.settings import Settings
from handlers.channels import CHANNELS, ChannelFacts
from handlers.messages import Channel, OutboundMessage

__all__ = ["WebChatChannel"]

log = logging.getLogger(__name__)

PURGE_EVERY = 3600.0  # seconds between retention sweeps
# The demo page loads nothing but the app's own script and talks to nothing but the app.
_DEMO_POLICY = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _senders_in(state: Any) -> SendTo:
    """Find the other channels' reply senders when a code is to be sent (the visitor waits)."""

    def send_to(scheme: str) -> Callable[[str, OutboundMessage], Awaitable[SendOutcome]] | None:
        channels = getattr(state, "channels", None)  # the app's registry (bot.channel_registry)
        if channels is None or scheme == WebChatChannel.facts.scheme:
            return None
        sender: ChannelSender | None = channels.reply_senders().get(scheme)
        return sender.send if sender is not None else None

    return send_to


def _static(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


class WebChatChannel:
    """Web chat for one app: configured at build time, started and closed by the lifespan."""

    facts: ChannelFacts = CHANNELS[Channel.WEB]

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        keepalive: float = 15.0,
        lifetime: float = 50.0,
        starts_per_minute: int = 10,
        messages_per_second: float = 2.0,
        burst: int = 5,
        send_to: SendTo | None = None,
    ) -> None:
        tick = monotonic
        self._send_to = send_to
        self._region = settings.default_region
        self._clock = clock
        self._retention = timedelta(days=settings.webchat_retention_days)
        self._origins = OriginPolicy(settings.webchat_origins, settings.public_url)
        self._starts = StartsPerIp(starts_per_minute, clock=tick)
        self._pace = ChatPace(messages_per_second, burst, clock=tick)
        self._keepalive, self._lifetime = keepalive, lifetime
        self._widget, self._demo = _static("widget.js"), _static("demo.html")
        self._http: WebChatHttp | None = None
        self._purging: asyncio.Task[None] | None = None
        self.hub = Hub()
        self.store: WebChatStore | None = None
        self.sender: WebChatSender | None = None
        self.downloads: Downloads | None = None

    def routes(self) -> list[Route]:
        """Return the widget, the demo page and the chat's endpoints."""
        return [
            Route("/webchat/widget.js", self._widget_js, methods=["GET"]),
            Route("/webchat/demo", self._demo_page, methods=["GET"]),
            Route("/webchat/chats", self._route("start"), methods=["POST", "OPTIONS"]),
            Route("/webchat/messages", self._route("message"), methods=["POST", "OPTIONS"]),
            Route("/webchat/events", self._route("events"), methods=["GET", "OPTIONS"]),
            Route("/webchat/link", self._route("link"), methods=["POST", "OPTIONS"]),
            Route("/webchat/download", self._route("download"), methods=["POST", "OPTIONS"]),
        ]

    async def start(self, services: Services, state: Any = None) -> None:
        """Build the store and handlers inside the running loop; start the retention sweep.

        `state` is the app's, where the other channels' senders appear once they start: a
        link code goes out through them.
        """
        self.store = WebChatStore(services.db, clock=self._clock)
        linker = Linker(
            services.db,
            self.store,
            services.conversation.answerer.content,
            self._send_to or _senders_in(state),
            clock=self._clock,
            region=self._region,
        )
        self.sender = WebChatSender(self.store, self.hub)
        self.downloads = Downloads(services.db, self._clock)
        self._http = WebChatHttp(
            services,
            self.store,
            self.hub,
            origins=self._origins,
            starts=self._starts,
            pace=self._pace,
            linker=linker,
            downloads=self.downloads,
            clock=self._clock,
            keepalive=self._keepalive,
            lifetime=self._lifetime,
        )
        self._purging = asyncio.create_task(self._purge_forever(), name="webchat-purge")

    def outbox_sender(self) -> ChannelSender | None:
        """Return the outbox's sender: automated messages to the widget."""
        return self.sender

    def reply_sender(self) -> ChannelSender | None:
        """Return None: the staff group and the console do not answer web chat visitors yet."""
        return None

    async def stop(self) -> None:
        """End the open streams and stop the sweep."""
        self.hub.end()
        if self._purging is not None:
            self._purging.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purging
            self._purging = None

    async def purge(self) -> int:
        """Erase the chats idle longer than WEBCHAT_RETENTION_DAYS; return how many.

        Expired download tickets go too.
        """
        if self.store is None or self.downloads is None:
            return 0
        await self.downloads.drop_expired()
        return await self.store.purge(idle_since=self._clock() - self._retention)

    async def _purge_forever(self) -> None:
        while True:
            try:
                await self.purge()
            except Exception:  # a failed sweep is retried at the next one; serving goes on
                log.exception("webchat: retention sweep failed")
            await asyncio.sleep(PURGE_EVERY)

    def _route(self, name: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            http = self._http
            if http is None:
                return JSONResponse({"error": "starting; try again"}, status_code=503)
            if request.method == "OPTIONS":
                return await http.preflight(request)
            handler = getattr(http, name)
            response: Response = await handler(request)
            return response

        return endpoint

    async def _widget_js(self, request: Request) -> Response:
        headers = {
            "Cache-Control": "public, max-age=300",
            "Cross-Origin-Resource-Policy": "cross-origin",  # other sites embed it
            "X-Content-Type-Options": "nosniff",
        }
        return Response(self._widget, media_type="text/javascript", headers=headers)

    async def _demo_page(self, request: Request) -> Response:
        headers = {"Content-Security-Policy": _DEMO_POLICY, "X-Content-Type-Options": "nosniff"}
        return Response(self._demo, media_type="text/html", headers=headers)
