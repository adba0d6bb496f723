"""What every channel offers the delivery code: send one message to one address."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from handlers.messages import OutboundMessage

__all__ = ["ChannelSender", "SendOutcome", "SendStatus"]


class SendStatus(StrEnum):
    """How one send attempt ended."""

    SENT = "sent"  # accepted by the service
    RETRY = "retry"  # transient (rate limit, 5xx, network): try again later
    UNREACHABLE = "unreachable"  # blocked the bot, invalid or not-mobile number: stop trying
    OPTED_OUT = "opted_out"  # the carrier says the number replied STOP
    WITHDRAWN = "withdrawn"  # not sent: STOP or consent withdrawn while it waited its turn
    FAILED = "failed"  # permanent for this message (bad request)


@dataclass(frozen=True)
class SendOutcome:
    """The result of a send: status, the service's message id, and why it failed."""

    status: SendStatus
    external_id: str | None = None
    error: str | None = None  # an error code or class name, never message text
    retry_after: float | None = None  # seconds, when the service said how long to wait


class ChannelSender(Protocol):
    """A channel's outbound side, used by replies, reminders and broadcasts alike."""

    async def send(self, urn: str, message: OutboundMessage) -> SendOutcome:
        """Send one message to one address URN of this channel."""
