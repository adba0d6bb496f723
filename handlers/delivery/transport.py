"""What every channel offers the delivery code: send one message to one address.

The protocol lives in the core because the core calls it (the outbox, direct sends, broadcast
reports); bot.channels.base re-exports it for the channels that implement it.
"""

from __future__ import annotations

from typing import Protocol

from handlers.delivery.outcomes import SendOutcome
from handlers.messages import OutboundMessage

__all__ = ["ChannelSender"]


class ChannelSender(Protocol):
    """A channel's outbound side: a transport that posts and maps the provider's answer.

    It writes nothing and decides nothing: whether a message may go (consent, opt-out,
    reachability, quiet hours, expiry), pacing, and what an opt-out or unreachable outcome
    means are the core's (scheduler.dispatch, handlers.delivery.consent,
    handlers.delivery.sending).
    """

    async def send(self, urn: str, message: OutboundMessage) -> SendOutcome:
        """Send one message to one address URN of this channel."""
