"""Build the running scheduler from settings, content and the channels' senders."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from bot.app import Services
from bot.channels.base import ChannelSender
from bot.clock import Clock, utc_now
from bot.errors import ContentError
from bot.settings import Settings
from content.tips import load_tips
from handlers.alerts import StaffDesk
from handlers.broadcast_reports import BroadcastProgress
from handlers.clinic_zone import clinic_zone
from handlers.quiet_hours import QuietHours
from scheduler.dispatch import Dispatcher
from scheduler.rules import load_nudge_rules
from scheduler.service import Scheduler

__all__ = ["build_scheduler", "scheduler_running"]

log = logging.getLogger(__name__)


def build_scheduler(
    settings: Settings,
    services: Services,
    senders: Mapping[str, ChannelSender],
    *,
    clock: Clock = utc_now,
) -> Scheduler:
    """Load tips and nudge rules (ContentError if broken) and wire the dispatcher."""
    try:
        tips = load_tips(settings.content_dir)
        rules = load_nudge_rules(settings.content_dir / "nudges.yaml")
    except ValueError as exc:
        raise ContentError(f"content is not usable: {exc}") from None
    zone = clinic_zone(services.conversation.answerer.content.clinic, settings.clinic_timezone)
    quiet = QuietHours(settings.quiet_hours_start, settings.quiet_hours_end)
    content, alerts = services.conversation.answerer.content, services.conversation.alerts
    dispatcher = Dispatcher(
        services.db,
        content,
        tips,
        rules,
        senders,
        clock=clock,
        clinic_zone=zone,
        quiet=quiet,
        alerts=alerts if isinstance(alerts, StaffDesk) else None,  # undelivered nudges
    )
    progress = BroadcastProgress(services.db, content, senders.get("telegram"), clock=clock)
    return Scheduler(
        services.db,
        dispatcher,
        rules,
        clock=clock,
        clinic_zone=zone,
        quiet=quiet,
        after_tick=progress,
    )


@asynccontextmanager
async def scheduler_running(
    settings: Settings, services: Services, state: Any
) -> AsyncIterator[None]:
    """Run the scheduler for the app's lifetime over whichever channels are configured."""
    senders: dict[str, ChannelSender] = {}
    telegram = getattr(state, "telegram", None)
    if telegram is not None:
        senders["telegram"] = telegram.sender()
    sms = getattr(state, "sms", None)
    if sms is not None and sms.sender is not None:
        senders["tel"] = sms.sender
    state.scheduler = None
    if not settings.scheduler_enabled or not senders:
        yield
        return
    scheduler = build_scheduler(settings, services, senders)
    await scheduler.start(settings.scheduler_tick_seconds)
    state.scheduler = scheduler
    log.info(
        "scheduler: ticking every %ss over %s", settings.scheduler_tick_seconds, sorted(senders)
    )
    try:
        yield
    finally:
        await scheduler.stop()
