"""What every channel offers the delivery code: send one message to one address."""

from __future__ import annotations

from typing import Protocol

from handlers.messages import OutboundMessage
from handlers.outcomes import SendOutcome, SendStatus

__all__ = ["ChannelSender", "SendOutcome", "SendStatus"]


class ChannelSender(Protocol):
    """A channel's outbound side: a transport that posts and maps the provider's answer.

    It writes nothing and decides nothing: whether a message may go (consent, opt-out,
    reachability, quiet hours, expiry), pacing, and what an opt-out or unreachable outcome
    means are the core's (scheduler.dispatch, handlers.consent, handlers.sending).
    """

    async def send(self, urn: str, message: OutboundMessage) -> SendOutcome:
        """Send one message to one address URN of this channel."""
