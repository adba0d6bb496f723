"""Web chat: a widget on the clinic's website, a third channel on the same core."""

from __future__ import annotations

from bot.channels.webchat.channel import WebChatChannel

__all__ = ["WebChatChannel"]
