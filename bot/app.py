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
    """What a running clinicbot holds: the database and the conversation core."""

    settings: Settings
    db: Database
    conversation: Conversation

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


def build_pipeline(
    services: Services,
    *,
    clock: Clock = utc_now,
    quiet: QuietHours | None = None,
    secret: str | None = None,
) -> Pipeline:
    """Return the inbound pipeline a channel hands its messages to."""
    settings, conversation = services.settings, services.conversation
    content = conversation.answerer.content
    zone = clinic_zone_name(content.clinic, settings.clinic_timezone)
    return Pipeline(
        services.db,
        conversation,
        onboarding=Onboarding(content, zone, settings.default_region),
        clock=clock,
        clinic_zone=zone,
        quiet=quiet,
        secret=secret,
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
    return Services(settings, db, conversation)
