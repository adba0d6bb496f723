"""The scheduler inside `clinicbot run`: started over the configured channels, stopped cleanly."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.app import open_services
from bot.channels.base import SendOutcome, SendStatus
from bot.settings import load_settings
from handlers.messages import OutboundMessage
from scheduler.runtime import scheduler_running
from scheduler.service import Scheduler


class NullSender:
    async def send(self, urn: str, message: OutboundMessage) -> SendOutcome:
        return SendOutcome(SendStatus.SENT)


@pytest.mark.parametrize(
    ("enabled", "with_channel", "runs"),
    [(True, True, True), (False, True, False), (True, False, False)],
)
async def test_the_scheduler_runs_only_when_enabled_and_a_channel_exists(
    tmp_path: Path, enabled: bool, with_channel: bool, runs: bool
) -> None:
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'x.db'}", scheduler_enabled=enabled
    )
    services = await open_services(settings)
    state = SimpleNamespace()
    senders = {"tel": NullSender()} if with_channel else {}
    try:
        async with scheduler_running(settings, services, state, senders):
            assert isinstance(state.scheduler, Scheduler) is runs
            if runs:
                report = await state.scheduler.tick()
                assert report.claimed == 0
        assert state.scheduler is None or isinstance(state.scheduler, Scheduler)
    finally:
        await services.close()
