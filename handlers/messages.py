"""Channel-neutral messages: what a channel hands the core, and what the core hands back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = [
    "Attachment",
    "Channel",
    "InboundMessage",
    "OutboundMessage",
    "QuickReply",
    "ReplyKind",
    "SharedContact",
]


class Channel(StrEnum):
    """Where a message came from or goes to."""

    TELEGRAM = "telegram"
    SMS = "sms"
    CLI = "cli"
    WEB = "web"  # the website's chat widget; addresses "web:<token hash>"


class ReplyKind(StrEnum):
    """What sort of reply the core chose."""

    RED_FLAG = "red_flag"
    FAQ = "faq"
    GREETING = "greeting"
    HELP = "help"
    THANKS = "thanks"
    FALLBACK = "fallback"
    NON_TEXT = "non_text"
    HUMAN = "human"
    SYSTEM = "system"  # menus, prompts and confirmations outside the answer flow
    TIP = "tip"
    BROADCAST = "broadcast"
    PAIN_SCORE = "pain_score"
    NUDGE = "nudge"
    STALE = "stale"  # a button that no longer applies: a gentle note, nothing changed


@dataclass(frozen=True)
class SharedContact:
    """A phone number the patient shared from their app (Telegram's contact button)."""

    phone: str
    own: bool  # the sender's own number, not someone else's contact card


@dataclass(frozen=True)
class InboundMessage:
    """A patient's message, as any channel hands it over.

    `text` is None for content the bot cannot read (a sticker, a photo, a voice note).
    """

    address: str  # "telegram:<chat id>", "tel:<E.164>", "cli:<name>", "web:<hash>"
    channel: Channel
    text: str | None
    received_at: datetime
    external_id: str | None = None
    display_name: str | None = None
    payload: str | None = None  # a quick reply the patient picked, e.g. "topic:cupping.marks"
    # The channel's id for this delivery (Telegram update id, Twilio MessageSid): a delivery
    # seen before is answered once only.
    delivery_id: str | None = None
    contact: SharedContact | None = None
    language_hint: str | None = None  # the app's language setting, for a patient's first words


@dataclass(frozen=True)
class QuickReply:
    """An option the patient can pick: a button on Telegram, a numbered choice on SMS."""

    label: str
    payload: str  # e.g. "topic:cupping.marks", "human"


@dataclass(frozen=True)
class Attachment:
    """A file sent with a reply (the patient's data export)."""

    filename: str
    data: bytes
    media_type: str = "application/json"


@dataclass(frozen=True)
class OutboundMessage:
    """A reply: Markdown text for chat apps, a plain `sms` variant, and quick replies."""

    text: str
    sms: str
    kind: ReplyKind
    lang: str
    options: tuple[QuickReply, ...] = field(default=())
    topic: str | None = None
    category: str | None = None
    # The consent an automated message needs ("tips", "appointments", "announcements"): the
    # channel's sender checks it again at the moment it sends, after waiting for its turn.
    consent: str | None = None
    attachment: Attachment | None = None
    # The options offered before no longer apply (Telegram removes its reply keyboard).
    close_keyboard: bool = False
