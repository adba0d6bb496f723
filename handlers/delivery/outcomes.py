"""How a send ended: the typed outcomes every channel's transport maps its provider's answers to.

They live in the core because the core acts on them (retry, pause a sender, record an
opt-out); bot.channels.base re-exports them for the channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["SendOutcome", "SendStatus"]


class SendStatus(StrEnum):
    """How one send attempt ended."""

    SENT = "sent"  # accepted by the service
    RETRY = "retry"  # transient (5xx, network, not connected yet): try again later
    RATE_LIMITED = "rate_limited"  # the provider said slow down (429): pause the whole sender
    UNREACHABLE = "unreachable"  # blocked the bot, invalid or not-mobile number: stop trying
    OPTED_OUT = "opted_out"  # the carrier says the number replied STOP
    WITHDRAWN = "withdrawn"  # not sent: the core's send-time check said no
    FAILED = "failed"  # permanent for this message (bad request)


@dataclass(frozen=True)
class SendOutcome:
    """The result of a send: status, the service's message id, and why it failed."""

    status: SendStatus
    external_id: str | None = None
    error: str | None = None  # an error code or class name, never message text
    retry_after: float | None = None  # seconds, when the service said how long to wait
