"""A visitor's copy of their data (/mydata): a one-time, short-lived ticket the widget redeems.

The reply carries a random ticket; only its hash is stored, with the chat and an expiry, and
no data. The widget redeems it with the chat's token (POST /webchat/download, a header, never
a cookie or a link that works on its own); the copy is made then, as Telegram's document is
(handlers/patients/privacy.py), and the ticket is spent whatever the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.webchat.identity import new_token, token_hash
from bot.channels.webchat.store import ChatRef
from bot.clock import Clock
from bot.db.models import WebChat, WebChatDownload
from bot.db.session import Database
from handlers.patients import privacy

__all__ = ["FILE_NAME", "TICKET_TTL", "Downloads"]

TICKET_TTL = timedelta(minutes=10)
FILE_NAME = "my-data.json"


@dataclass(frozen=True)
class Downloads:
    """Issue tickets inside a message's transaction; redeem them once, before they expire."""

    db: Database
    clock: Clock

    async def issue(self, session: AsyncSession, chat: ChatRef) -> dict[str, Any]:
        """Add a ticket for the chat to `session`; return what the reply tells the browser."""
        now = self.clock()
        ticket = new_token()  # as random as a chat's token, and stored the same way: hashed
        hashed = token_hash(ticket)
        assert hashed is not None  # a token we made is one of ours
        expires = now + TICKET_TTL
        session.add(WebChatDownload(chat_id=chat.id, ticket_hash=hashed, expires_at=expires))
        return {"ticket": ticket, "name": FILE_NAME, "expires_at": expires.isoformat()}

    async def redeem(self, chat: ChatRef, ticket: str) -> bytes | None:
        """Spend the chat's ticket; return the patient's data as JSON, or None if it is not valid.

        Not valid: malformed, unknown, another chat's, used, expired, or a chat with no patient.
        """
        hashed, now = token_hash(ticket), self.clock()
        if hashed is None:
            return None
        async with self.db.session() as session, session.begin():
            spent = await session.scalar(
                delete(WebChatDownload)
                .where(
                    WebChatDownload.ticket_hash == hashed,
                    WebChatDownload.chat_id == chat.id,
                )
                .returning(WebChatDownload.expires_at)
            )
            if spent is None or spent <= now:
                return None
            patient_id = await session.scalar(
                select(WebChat.patient_id).where(WebChat.id == chat.id)
            )
            if patient_id is None:
                return None
            data = await privacy.export(session, patient_id)
        return privacy.export_json(data) if data else None

    async def drop_expired(self) -> int:
        """Delete tickets past their expiry (the retention sweep); return how many."""
        now = self.clock()
        async with self.db.session() as session, session.begin():
            result = await session.execute(
                delete(WebChatDownload).where(WebChatDownload.expires_at <= now)
            )
        return int(getattr(result, "rowcount", 0) or 0)
