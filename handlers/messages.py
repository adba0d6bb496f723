"""Channel-neutral messages: what a channel hands the core, and what the core hands back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = ["Channel", "InboundMessage", "OutboundMessage", "QuickReply", "ReplyKind"]


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


@dataclass(frozen=True)
class QuickReply:
    """An option the patient can pick: a button on Telegram, a numbered choice on SMS."""

    label: str
    payload: str  # e.g. "topic:cupping.marks", "human"


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
