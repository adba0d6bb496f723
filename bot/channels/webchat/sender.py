"""Send to a web chat: append to its transcript and wake its open streams."""

from __future__ import annotations

from bot.channels.base import SendOutcome, SendStatus
from bot.channels.webchat.core import reply_body
from bot.channels.webchat.hub import Hub
from bot.channels.webchat.store import WebChatStore
from handlers.messages import OutboundMessage

__all__ = ["WebChatSender"]


class WebChatSender:
    """The channel's outbound side for staff answers, tips and announcements."""

    def __init__(self, store: WebChatStore, hub: Hub) -> None:
        self._store, self._hub = store, hub

    async def send(self, urn: str, message: OutboundMessage) -> SendOutcome:
        """Store the message in the chat at `urn`; a browser gets it now or when it returns."""
        delivered = await self._store.deliver(urn, reply_body(message))
        if delivered is None:
            return SendOutcome(SendStatus.UNREACHABLE, error="chat_gone")
        chat_id, line = delivered
        self._hub.publish(chat_id, [line])
        return SendOutcome(SendStatus.SENT, external_id=f"webchat:{line.id}")
