"""Hand new transcript lines to the event streams open in this process."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from bot.channels.webchat.store import Line

__all__ = ["Hub", "Subscription"]


class Subscription:
    """One open event stream's inbox; `None` in it means the stream must end."""

    def __init__(self, chat_id: int) -> None:
        self.chat_id = chat_id
        self.inbox: asyncio.Queue[list[Line] | None] = asyncio.Queue()


class Hub:
    """Streams by chat, with a cap per chat and overall so streams cannot exhaust the server."""

    def __init__(self, *, max_streams: int = 2000, per_chat: int = 3) -> None:
        self._max, self._per_chat = max_streams, per_chat
        self._streams: defaultdict[int, set[Subscription]] = defaultdict(set)
        self._count = 0

    @property
    def open_streams(self) -> int:
        """Return how many streams are open."""
        return self._count

    def subscribe(self, chat_id: int) -> Subscription | None:
        """Open a stream for the chat, or return None when a cap is reached."""
        if self._count >= self._max or len(self._streams[chat_id]) >= self._per_chat:
            return None
        subscription = Subscription(chat_id)
        self._streams[chat_id].add(subscription)
        self._count += 1
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Close a stream's inbox."""
        streams = self._streams.get(subscription.chat_id)
        if streams is not None and subscription in streams:
            streams.discard(subscription)
            self._count -= 1
            if not streams:
                del self._streams[subscription.chat_id]

    def publish(self, chat_id: int, lines: list[Line]) -> None:
        """Give new lines to the chat's open streams (streams elsewhere catch up by polling)."""
        for subscription in self._streams.get(chat_id, ()):
            subscription.inbox.put_nowait(lines)

    def end(self, chat_id: int | None = None) -> None:
        """End the streams of one chat, or all of them (at shutdown)."""
        chats = [chat_id] if chat_id is not None else list(self._streams)
        for chat in chats:
            for subscription in self._streams.get(chat, ()):
                subscription.inbox.put_nowait(None)
