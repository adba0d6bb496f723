"""Wire the pieces together once per process: settings, database, content, conversation."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock, utc_now
from bot.db.migrate import upgrade
from bot.db.session import Database
from bot.errors import ContentError
from bot.settings import Settings
from content.store import ContentStore
from handlers.alerts import AlertSink, LogAlerts
from handlers.answer import Answerer
from handlers.conversation import Conversation
from handlers.onboarding import Onboarding
from handlers.pipeline import Pipeline
from scheduler.timing import QuietHours

__all__ = ["Services", "build_pipeline", "clinic_zone_of", "load_answerer", "open_services"]


@dataclass
class Services:
    """What a running clinicbot holds: the database and the conversation core."""

    settings: Settings
    db: Database
    conversation: Conversation

    async def close(self) -> None:
        """Release the database connections."""
        await self.db.close()


def clinic_zone_of(settings: Settings, content: ContentStore) -> str:
    """Return the clinic's time zone: CLINIC_TIMEZONE, else clinic.yaml's, else UTC."""
    return settings.clinic_timezone or str(content.clinic.get("timezone", "UTC"))


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
    zone = clinic_zone_of(settings, content)
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
        return Answerer.from_directory(settings.content_dir)
    except (ValueError, OSError) as exc:
        raise ContentError(f"content is not usable: {exc}") from None


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
