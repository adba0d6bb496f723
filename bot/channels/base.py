"""What every channel offers the delivery code, as the channels import it.

The protocol and the outcomes are the core's (handlers.delivery), because the core calls the
senders and acts on how a send ended; this module gathers them for the channels.
"""

from __future__ import annotations

from handlers.delivery.outcomes import SendOutcome, SendStatus
from handlers.delivery.transport import ChannelSender

__all__ = ["ChannelSender", "SendOutcome", "SendStatus"]
