"""The server-sent event stream of one chat: replay from the database, then live lines."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from bot.channels.webchat.hub import Hub, Subscription
from bot.channels.webchat.store import ChatRef, Line, WebChatStore

__all__ = ["event_stream", "read_last_id"]

RETRY_MS = 2000  # how long a browser waits before reconnecting


def read_last_id(value: str | None) -> int:
    """Return the Last-Event-ID a reconnecting browser sent (0: send the whole transcript)."""
    if value and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return 0


def _event(line: Line) -> bytes:
    data = json.dumps(line.event(), ensure_ascii=False, separators=(",", ":"))
    return f"id: {line.id}\nevent: line\ndata: {data}\n\n".encode()


async def event_stream(
    store: WebChatStore,
    hub: Hub,
    subscription: Subscription,
    chat: ChatRef,
    after: int,
    *,
    keepalive: float,
    lifetime: float,
) -> AsyncIterator[bytes]:
    """Yield the chat's lines after `after`, then new ones, with keep-alives, for `lifetime` s.

    Subscribed before the replay is read, so a line stored meanwhile comes from the inbox
    and is sent once. A stream ends after `lifetime` and the browser reconnects with the
    last id: a restart or a proxy's idle timeout costs nothing, and no stream holds a
    shutting-down server for long.
    """
    loop = asyncio.get_running_loop()
    ends = loop.time() + lifetime
    last = after
    try:
        yield f"retry: {RETRY_MS}\n\n".encode()
        lines: list[Line] | None = await store.since(chat, last)
        while lines is not None:
            for line in lines:
                if line.id > last:  # a line both replayed and published is sent once
                    yield _event(line)
                    last = line.id
            left = ends - loop.time()
            if left <= 0:
                return
            try:
                lines = await asyncio.wait_for(subscription.inbox.get(), min(keepalive, left))
            except TimeoutError:
                if loop.time() >= ends:
                    return  # the browser reconnects with its last id: no poll needed
                yield b": keep-alive\n\n"
                # Another process may have stored lines for this chat (a staff reply).
                lines = await store.since(chat, last)
    finally:
        hub.unsubscribe(subscription)
