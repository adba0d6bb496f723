"""A web message's transcript lines, written in the pipeline's own transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.webchat.core import reply_body
from bot.channels.webchat.downloads import Downloads
from bot.channels.webchat.store import ChatRef, Line, WebChatStore, Written
from handlers.messages import OutboundMessage

__all__ = ["TranscriptWrite"]


class TranscriptWrite:
    """The pipeline's before-commit step for one visitor message (see the pipeline's handle).

    The visitor's line and the replies go into the transaction that decided the replies:
    one commit per message, and no reply is decided without its transcript, or the reverse.
    """

    def __init__(
        self,
        store: WebChatStore,
        downloads: Downloads,
        chat: ChatRef,
        client_id: str,
        said: dict[str, Any],
    ) -> None:
        self._store, self._downloads, self._chat = store, downloads, chat
        self._client_id, self._said = client_id, said
        self._written: Written | None = None

    async def __call__(
        self, session: AsyncSession, patient_id: int, replies: list[OutboundMessage]
    ) -> None:
        bodies = [reply_body(reply) for reply in replies]
        for reply, body in zip(replies, bodies, strict=True):
            if reply.attachment is not None:  # the patient's data: a ticket, not the file
                body["download"] = await self._downloads.issue(session, self._chat)
        self._written = await self._store.write(
            session, self._chat, patient_id, self._client_id, self._said, bodies
        )

    def lines(self) -> list[Line] | None:
        """Return the committed lines, or None when the pipeline wrote none (see record)."""
        return self._store.written(self._written) if self._written is not None else None
