"""Retention: erase web chats idle longer than WEBCHAT_RETENTION_DAYS."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.webchat.identity import urn_of
from bot.db.models import Address, WebChat, WebChatMessage
from bot.db.session import Database
from handlers.patients.privacy import forget

__all__ = ["purge_idle"]

log = logging.getLogger(__name__)

PURGE_BATCH = 200


async def purge_idle(db: Database, *, idle_since: datetime, now: datetime) -> list[str]:
    """Erase chats idle since before `idle_since`; return their token hashes.

    An anonymous visitor (no address but this chat's) is erased whole, as a "forget"
    would; a visitor linked to a patient loses the chat and its address, not the record.
    """
    purged: list[str] = []
    while True:
        async with db.session() as session, session.begin():
            chats = (
                await session.execute(
                    select(WebChat.id, WebChat.token_hash, WebChat.patient_id)
                    .where(WebChat.last_active_at < idle_since)
                    .limit(PURGE_BATCH)
                )
            ).all()
            for chat in chats:
                await _purge_one(session, chat.id, chat.token_hash, chat.patient_id, now)
        purged += [chat.token_hash for chat in chats]
        if len(chats) < PURGE_BATCH:
            break
    if purged:
        log.info("webchat: %s idle chats purged", len(purged))
    return purged


async def _purge_one(
    session: AsyncSession, chat_id: int, hashed: str, patient_id: int | None, now: datetime
) -> None:
    urn = urn_of(hashed)
    if patient_id is not None:
        others = await session.scalar(
            select(func.count())
            .select_from(Address)
            .where(Address.patient_id == patient_id, Address.urn != urn)
        )
        if not others:
            await forget(session, patient_id, actor="webchat:retention", now=now)
            return
    await session.execute(delete(WebChatMessage).where(WebChatMessage.chat_id == chat_id))
    await session.execute(delete(WebChat).where(WebChat.id == chat_id))
    await session.execute(delete(Address).where(Address.urn == urn))
