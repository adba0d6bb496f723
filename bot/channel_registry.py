"""The channels this process runs, behind one protocol, in one registry.

The app serves their routes, starts and stops them; the scheduler takes their outbox senders;
the staff tools (the staff group, the console, the web chat's link codes) take their reply
senders by address scheme. None of them names a channel: they iterate over the registry.
A new channel is its own package in `bot/channels/` plus one line in `configured_channels`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from starlette.routing import BaseRoute

from bot.app import Services
from bot.channels.sms.channel import SmsChannel
from bot.channels.telegram import TelegramChannel, TelegramOptions
from bot.channels.webchat import WebChatChannel
from bot.settings import Settings
from handlers.channels import ChannelFacts
from handlers.delivery.transport import ChannelSender

__all__ = ["ChannelPlugin", "Channels", "configured_channels"]


class ChannelPlugin(Protocol):
    """What the app needs of one configured channel."""

    @property
    def facts(self) -> ChannelFacts:
        """Return its address scheme and what it can show (buttons, Markdown, length)."""

    def routes(self) -> Sequence[BaseRoute]:
        """Return the HTTP routes it serves (webhooks, a widget); built before start."""

    async def start(self, services: Services, state: Any) -> None:
        """Start inside the running loop; `state.channels` holds the registry by then."""

    async def stop(self) -> None:
        """Stop and release what `start` opened."""

    def outbox_sender(self) -> ChannelSender | None:
        """Return the scheduler's transport for automated messages, once started."""

    def reply_sender(self) -> ChannelSender | None:
        """Return the transport for someone waiting (a staff answer, a code), or None."""


class Channels:
    """The configured channels, in start order (stopped in reverse)."""

    def __init__(self, channels: Sequence[ChannelPlugin]) -> None:
        self._channels = tuple(channels)
        self._started: list[ChannelPlugin] = []

    def __iter__(self) -> Iterator[ChannelPlugin]:
        return iter(self._channels)

    def __len__(self) -> int:
        return len(self._channels)

    def get(self, scheme: str) -> ChannelPlugin | None:
        """Return the channel whose addresses use `scheme`, if it is configured."""
        return next((c for c in self._channels if c.facts.scheme == scheme), None)

    def routes(self) -> list[BaseRoute]:
        """Return every channel's routes."""
        return [route for channel in self._channels for route in channel.routes()]

    async def start(self, services: Services, state: Any) -> None:
        """Start each channel in order; each can find the ones started before it."""
        state.channels = self
        for channel in self._channels:
            await channel.start(services, state)
            self._started.append(channel)

    async def stop(self) -> None:
        """Stop the started channels, the last started first."""
        while self._started:
            await self._started.pop().stop()

    def outbox_senders(self) -> dict[str, ChannelSender]:
        """Return the scheduler's senders by address scheme."""
        return _by_scheme((c, c.outbox_sender()) for c in self._channels)

    def reply_senders(self) -> dict[str, ChannelSender]:
        """Return the senders for someone waiting, by address scheme."""
        return _by_scheme((c, c.reply_sender()) for c in self._channels)


def _by_scheme(
    found: Iterator[tuple[ChannelPlugin, ChannelSender | None]],
) -> dict[str, ChannelSender]:
    return {channel.facts.scheme: sender for channel, sender in found if sender is not None}


def configured_channels(
    settings: Settings,
    *,
    telegram: TelegramOptions | None = None,
    webchat: WebChatChannel | None = None,
) -> Channels:
    """Return the channels the settings turn on; their settings are checked here (ConfigError).

    Start order: SMS and the web chat, then Telegram, whose staff group answers patients
    through the others' reply senders.
    """
    channels: list[ChannelPlugin] = []
    if settings.has_twilio:
        channels.append(SmsChannel(settings))
    if webchat is None and settings.webchat_enabled:
        webchat = WebChatChannel(settings)
    if webchat is not None:
        channels.append(webchat)
    if settings.telegram_bot_token:
        channels.append(TelegramChannel(settings, telegram or TelegramOptions()))
    return Channels(channels)
