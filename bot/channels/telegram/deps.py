"""What the Telegram handlers share: the database, the core, content and the clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import CallbackContext

from bot.clock import Clock
from bot.db.models import Address, Patient
from bot.db.patients import find_or_create_patient, reachable_again
from bot.db.session import Database
from content.store import ContentStore
from handlers.conversation.answer import Answerer
from handlers.conversation.conversation import Conversation
from handlers.conversation.onboarding import Onboarding
from handlers.conversation.pipeline import Pipeline
from handlers.messages import Channel

__all__ = [
    "CHANNEL",
    "Context",
    "Deps",
    "deps",
    "find_chat_patient",
    "patient_session",
    "urn_of",
]

CHANNEL = Channel.TELEGRAM
Context = CallbackContext[Any, Any, Any, Any]
_KEY = "clinicbot"


@dataclass(frozen=True)
class Deps:
    """The services a handler needs, stored once in the application's bot_data."""

    db: Database
    conversation: Conversation
    answerer: Answerer
    onboarding: Onboarding
    clock: Clock
    clinic_zone: str
    # The one inbound pipeline; built from the fields above when not given (tests, benches).
    pipeline: Pipeline = field(default=None)  # type: ignore[assignment]
    secret: str | None = None  # signs the erase buttons (the bot's token)

    def __post_init__(self) -> None:
        old: Pipeline | None = self.pipeline
        if old is None or old.conversation is not self.conversation:
            # Built here, or rebuilt by dataclasses.replace with another conversation.
            pipeline = Pipeline(
                self.db,
                self.conversation,
                onboarding=self.onboarding,
                clock=self.clock,
                clinic_zone=self.clinic_zone,
                secret=self.secret,
            )
            if old is not None and old.post_eraser is not None:
                pipeline.erase_posts_with(old.post_eraser)
            object.__setattr__(self, "pipeline", pipeline)

    @property
    def content(self) -> ContentStore:
        """Return the clinic's content."""
        return self.answerer.content

    def install(self, bot_data: dict[str, Any]) -> None:
        """Store these deps where `deps(context)` finds them."""
        bot_data[_KEY] = self


def deps(context: Context) -> Deps:
    """Return the deps stored in the application."""
    found: Deps = context.bot_data[_KEY]
    return found


def urn_of(chat_id: int) -> str:
    """Return the address URN of a Telegram chat."""
    return f"telegram:{chat_id}"


async def find_chat_patient(
    session: AsyncSession, d: Deps, update: Update
) -> tuple[Patient, Address, bool]:
    """Return the chat's patient and address (created on first contact), and whether new."""
    chat, user = update.effective_chat, update.effective_user
    assert chat is not None
    name = user.first_name if user else None
    found = await find_or_create_patient(session, urn_of(chat.id), now=d.clock(), name=name)
    reachable_again(found[1])
    return found


@asynccontextmanager
async def patient_session(
    d: Deps, update: Update, *, create: bool = True
) -> AsyncIterator[tuple[AsyncSession, Patient | None]]:
    """Open a transaction with the chat's patient (created on first contact if `create`)."""
    chat = update.effective_chat
    assert chat is not None
    async with d.db.session() as session, session.begin():
        patient: Patient | None = None
        if create:
            patient = (await find_chat_patient(session, d, update))[0]
        else:
            query = select(Address, Patient).join(Patient).where(Address.urn == urn_of(chat.id))
            row = (await session.execute(query)).first()
            if row is not None:
                patient = row.Patient
                reachable_again(row.Address)
        yield session, patient
