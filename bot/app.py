"""Wire the pieces together once per process: settings, database, content, conversation."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock, utc_now
from bot.db.migrate import upgrade
from bot.db.session import Database
from bot.errors import ContentError
from bot.settings import Settings
from handlers.alerts import AlertSink, LogAlerts
from handlers.conversation.answer import Answerer
from handlers.conversation.conversation import Conversation
from handlers.conversation.onboarding import Onboarding
from handlers.conversation.pipeline import Pipeline
from handlers.staff.commands import StaffEnv, confirm_rules_in
from handlers.time.clinic_zone import clinic_zone, clinic_zone_name, with_clinic_zone
from handlers.time.quiet_hours import QuietHours

__all__ = ["Services", "build_pipeline", "load_answerer", "open_services"]


@dataclass
class Services:
    """What a running clinicbot holds: the database, the conversation core, the one pipeline.

    Every channel hands its messages to `pipeline`, built once here, so what the clinic is
    waiting for, intents and the staff group's erasure hook are the same on every channel.
    """

    settings: Settings
    db: Database
    conversation: Conversation
    pipeline: Pipeline

    async def close(self) -> None:
        """Release the database connections."""
        await self.db.close()

    def staff_env(self) -> StaffEnv:
        """Return what staff commands read: content, the clinic's zone, the confirm rules."""
        content = self.conversation.answerer.content
        return StaffEnv(
            content,
            clinic_zone(content.clinic, self.settings.clinic_timezone),
            confirm_rules_in(self.settings.content_dir / "nudges.yaml"),
        )


def build_pipeline(settings: Settings, db: Database, conversation: Conversation) -> Pipeline:
    """Return the inbound pipeline every channel hands its messages to.

    Quiet hours are the clinic's (QUIET_HOURS_*); erase buttons are signed with the Telegram
    bot's token when there is one, else with a key of this process.
    """
    content = conversation.answerer.content
    zone = clinic_zone_name(content.clinic, settings.clinic_timezone)
    token = settings.telegram_bot_token
    return Pipeline(
        db,
        conversation,
        onboarding=Onboarding(content, zone, settings.default_region),
        clock=conversation.clock,
        clinic_zone=zone,
        quiet=QuietHours(settings.quiet_hours_start, settings.quiet_hours_end),
        secret=token.get_secret_value() if token else None,
    )


def load_answerer(settings: Settings) -> Answerer:
    """Load the clinic's content and red-flag rules, or raise ContentError."""
    try:
        answerer = Answerer.from_directory(settings.content_dir)
    except (ValueError, OSError) as exc:
        raise ContentError(f"content is not usable: {exc}") from None
    answerer.content = with_clinic_zone(answerer.content, settings.clinic_timezone)
    return answerer


async def open_services(
    settings: Settings, *, clock: Clock = utc_now, alerts: AlertSink | None = None
) -> Services:
    """Load content, open the database and migrate it unless AUTO_MIGRATE is off."""
    answerer = load_answerer(settings)
    db = Database.open(settings.database_url)
    try:
        if settings.auto_migrate:
            await upgrade(db.engine)
    except BaseException:
        await db.close()
        raise
    conversation = Conversation(
        db,
        answerer,
        clock=clock,
        alerts=alerts or LogAlerts(),
        store_bodies=settings.store_message_bodies,
    )
    return Services(settings, db, conversation, build_pipeline(settings, db, conversation))
