"""One inbound message being handled: what every step of the pipeline reads and adds to."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Address, Patient
from handlers.channels import ChannelFacts
from handlers.conversation.conversation import Turn
from handlers.messages import InboundMessage
from handlers.triage import RedFlag

__all__ = ["Effects", "Visit"]


@dataclass
class Effects:
    """What to do once the message's transaction has committed."""

    turn: Turn | None = None  # the core's answer: staff alerts and ticket posts follow it
    reschedules: list[int] = field(default_factory=list)  # appointment ids staff must move
    erased_posts: list[tuple[int, int, int]] = field(default_factory=list)  # staff-group posts
    erased_patient: bool = False  # the patient asked to be forgotten: nothing more is written
    welcome: bool = False  # a first SMS: the welcome and its consent question go with the answer
    back_to_page: int | None = None  # a topic opened from the list: offer the way back


@dataclass
class Visit:
    """A message, its patient and the open transaction, while the pipeline decides."""

    session: AsyncSession
    message: InboundMessage
    patient: Patient
    address: Address
    created: bool
    now: datetime
    lang: str
    facts: ChannelFacts
    effects: Effects = field(default_factory=Effects)
    flag: RedFlag | None = None  # triage's finding, once per message

    @property
    def opted_out(self) -> bool:
        """Say whether this address replied STOP at the carrier and gets nothing until START."""
        return self.address.opted_out_at is not None

    @property
    def text(self) -> str:
        """Return the message's text ("" for a button, a sticker or a photo)."""
        return self.message.text or ""
