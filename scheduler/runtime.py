"""Build the running scheduler from settings, content and the channels' senders."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from bot.app import Services
from bot.clock import Clock, utc_now
from bot.errors import ContentError
from bot.settings import Settings
from content.tips import load_tips
from handlers.alerts import StaffDesk
from handlers.delivery.transport import ChannelSender
from handlers.staff.broadcast_reports import BroadcastProgress
from handlers.time.clinic_zone import clinic_zone as resolve_clinic_zone
from handlers.time.quiet_hours import QuietHours
from scheduler.dispatch import Dispatcher
from scheduler.lanes import Limit, SenderLimits
from scheduler.rules import load_nudge_rules
from scheduler.service import Scheduler
from scheduler.wake import OutboxListener
from scheduler.workers import SqliteSchedulerLock, new_worker_id

__all__ = ["build_scheduler", "scheduler_running", "sender_limits"]

log = logging.getLogger(__name__)


def sender_limits(
    settings: Settings, senders: Mapping[str, ChannelSender]
) -> dict[str, SenderLimits]:
    """Return each channel's shared limits, named after what the provider limits."""
    limits: dict[str, SenderLimits] = {}
    for scheme, sender in senders.items():
        route = str(getattr(sender, "route", scheme))
        if scheme == "telegram":
            rate = settings.telegram_messages_per_second
            limits[scheme] = SenderLimits(
                Limit.per_second(f"telegram:{route}", rate), chat_lanes=1, group_lanes=20
            )
        elif scheme == "tel":
            rate = settings.sms_messages_per_second
            limits[scheme] = SenderLimits(Limit.per_second(f"tel:{route}", rate))
    return limits


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
    zone = resolve_clinic_zone(
        services.conversation.answerer.content.clinic, settings.clinic_timezone
    )
    quiet = QuietHours(settings.quiet_hours_start, settings.quiet_hours_end)
    content, alerts = services.conversation.answerer.content, services.conversation.alerts
    worker = new_worker_id()
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
        limits=sender_limits(settings, senders),
        worker=worker,
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
        heartbeat_seconds=settings.worker_heartbeat_seconds,
        stale_after=timedelta(seconds=settings.worker_stale_seconds),
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
    webchat = getattr(state, "webchat", None)
    if webchat is not None and getattr(webchat, "sender", None) is not None:
        senders["web"] = webchat.sender  # staff answers and automated messages to the widget
    state.scheduler = None
    if not settings.scheduler_enabled or not senders:
        yield
        return
    lock = SqliteSchedulerLock(settings.database_url)
    lock.acquire()  # ConfigError (one line) when another scheduler has this SQLite file
    try:
        scheduler = build_scheduler(settings, services, senders)
        listener = OutboxListener(settings.database_url, scheduler.wake)
        await scheduler.start(settings.scheduler_tick_seconds)
        await listener.start()
        state.scheduler = scheduler
        log.info(
            "scheduler %s: ticking every %ss over %s",
            scheduler.worker,
            settings.scheduler_tick_seconds,
            sorted(senders),
        )
        try:
            yield
        finally:
            await listener.stop()
            await scheduler.stop()
    finally:
        lock.release()
