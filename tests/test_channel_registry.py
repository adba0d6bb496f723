"""The channel registry: the configured channels, started in order, found by address scheme."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.routing import BaseRoute, Route

from bot.channel_registry import Channels, configured_channels
from bot.channels.base import ChannelSender, SendOutcome, SendStatus
from bot.settings import load_settings
from handlers.channels import CHANNELS, ChannelFacts
from handlers.messages import Channel, OutboundMessage
from tests.sms_support import sms_settings
from tests.telegram_fake import TOKEN


class Sender:
    async def send(self, urn: str, message: OutboundMessage) -> SendOutcome:
        return SendOutcome(SendStatus.SENT)


@dataclass
class FakeChannel:
    facts: ChannelFacts
    log: list[str]
    replies: bool = True
    started: bool = False
    sender: ChannelSender = field(default_factory=Sender)

    def routes(self) -> Sequence[BaseRoute]:
        return [Route(f"/{self.facts.scheme}", lambda request: None)]

    async def start(self, services: Any, state: Any) -> None:
        # A channel started later finds the earlier ones' senders in the registry.
        self.log.append(
            f"start {self.facts.scheme} sees {sorted(state.channels.outbox_senders())}"
        )
        self.started = True

    async def stop(self) -> None:
        self.log.append(f"stop {self.facts.scheme}")

    def outbox_sender(self) -> ChannelSender | None:
        return self.sender if self.started else None

    def reply_sender(self) -> ChannelSender | None:
        return self.sender if self.started and self.replies else None


async def test_channels_start_in_order_stop_in_reverse_and_are_found_by_scheme() -> None:
    log: list[str] = []
    sms = FakeChannel(CHANNELS[Channel.SMS], log)
    web = FakeChannel(CHANNELS[Channel.WEB], log, replies=False)
    telegram = FakeChannel(CHANNELS[Channel.TELEGRAM], log)
    channels = Channels([sms, web, telegram])
    assert [getattr(route, "path", None) for route in channels.routes()] == [
        "/tel",
        "/web",
        "/telegram",
    ]
    assert channels.outbox_senders() == {}  # nothing is sent before the channels start

    state = SimpleNamespace()
    await channels.start(None, state)
    assert state.channels is channels
    assert channels.get("tel") is sms and channels.get("cli") is None
    assert channels.outbox_senders() == {
        "tel": sms.sender,
        "web": web.sender,
        "telegram": telegram.sender,
    }
    assert channels.reply_senders() == {"tel": sms.sender, "telegram": telegram.sender}
    await channels.stop()
    assert log == [
        "start tel sees []",
        "start web sees ['tel']",
        "start telegram sees ['tel', 'web']",
        "stop telegram",
        "stop web",
        "stop tel",
    ]


async def test_a_channel_that_fails_to_start_leaves_only_the_started_ones_to_stop() -> None:
    log: list[str] = []

    class Broken(FakeChannel):
        async def start(self, services: Any, state: Any) -> None:
            raise RuntimeError("cannot start")

    sms = FakeChannel(CHANNELS[Channel.SMS], log)
    channels = Channels([sms, Broken(CHANNELS[Channel.TELEGRAM], log)])
    with pytest.raises(RuntimeError, match="cannot start"):
        await channels.start(None, SimpleNamespace())
    await channels.stop()
    assert log == ["start tel sees []", "stop tel"]


def test_the_settings_choose_the_channels_one_per_address_scheme(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    assert len(configured_channels(load_settings(database_url=url))) == 0

    settings = sms_settings(url, webchat_enabled=True, telegram_bot_token=TOKEN)
    channels = configured_channels(settings)
    assert [c.facts.channel for c in channels] == [Channel.SMS, Channel.WEB, Channel.TELEGRAM]
    assert [c.facts.scheme for c in channels] == ["tel", "web", "telegram"]
