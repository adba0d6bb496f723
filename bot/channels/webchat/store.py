"""The web chat's rows: chats by token hash, and the transcript a browser replays."""

from __future__ import annotations

import json
import logging
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from bot.channels.webchat.identity import SCHEME, urn_of
from bot.clock import Clock
from bot.db.models import Address, Patient, WebChat, WebChatMessage
from bot.db.session import Database
from handlers.patients.merge import merge_patients
from handlers.patients.privacy import forget

__all__ = ["ChatGone", "ChatRef", "Line", "WebChatStore"]

log = logging.getLogger(__name__)

REPLAY_LIMIT = 500  # lines sent on (re)connect; older ones stay in the database
PURGE_BATCH = 200
_CACHE = 20_000  # chats remembered, so a message costs no lookup
# How often a chat's last activity is written: retention counts in days, so hourly is enough,
# and most messages then cost the chat no UPDATE.
ACTIVE_EVERY = timedelta(hours=1)


class ChatGone(Exception):
    """The chat was erased (by the visitor's "forget" or by retention) while it was in use."""


@dataclass(frozen=True)
class ChatRef:
    """A chat as the routes need it."""

    id: int
    token_hash: str

    @property
    def urn(self) -> str:
        """Return the chat's address URN."""
        return urn_of(self.token_hash)


@dataclass(frozen=True)
class Line:
    """One stored line of a transcript: its id is the server-sent event's id."""

    id: int
    direction: str  # "in" (the visitor) or "out" (the clinic)
    body: dict[str, Any]
    client_id: str | None = None

    def event(self) -> dict[str, Any]:
        """Return what the browser gets for this line."""
        sender = "visitor" if self.direction == "in" else "clinic"
        return {"id": self.id, "from": sender, "client_id": self.client_id, **self.body}


@dataclass
class _Memo:
    """What this process remembers of a chat between messages."""

    id: int
    patient_id: int | None = None
    active_at: datetime | None = None
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=16))


class WebChatStore:
    """Create and find chats, record their lines, replay them, and purge idle ones."""

    def __init__(self, db: Database, *, clock: Clock) -> None:
        self._db, self._clock = db, clock
        self._chats: OrderedDict[str, _Memo] = OrderedDict()

    async def start_chat(self, hashed: str) -> ChatRef:
        """Record a new chat under its token hash (no patient yet: that waits for a message)."""
        now = self._clock()
        async with self._db.session() as session, session.begin():
            chat = WebChat(token_hash=hashed, created_at=now, last_active_at=now)
            session.add(chat)
            await session.flush()
            ref = ChatRef(chat.id, hashed)
        self._remember(ref).active_at = now
        return ref

    async def find(self, hashed: str) -> ChatRef | None:
        """Return the chat stored under a token hash, if any."""
        known = self._chats.get(hashed)
        if known is not None:
            self._chats.move_to_end(hashed)
            return ChatRef(known.id, hashed)
        async with self._db.session() as session:
            found = await session.scalar(select(WebChat.id).where(WebChat.token_hash == hashed))
        if found is None:
            return None
        ref = ChatRef(found, hashed)
        self._remember(ref)
        return ref

    def answered_lately(self, chat: ChatRef, client_id: str) -> bool:
        """Say whether this process just stored the browser's message `client_id` (a retry).

        Memory only, so a message costs no read; the unique key on (chat, client id) stops
        a retry this misses (another process, or long after) from being stored twice.
        """
        memo = self._chats.get(chat.token_hash)
        return memo is not None and client_id in memo.recent

    async def record(
        self,
        chat: ChatRef,
        client_id: str | None,
        said: dict[str, Any],
        replies: list[dict[str, Any]],
    ) -> list[Line] | None:
        """Store the visitor's message and the replies in one transaction; None if a retry.

        Raise ChatGone when the chat was erased meanwhile.
        """
        now = self._clock()
        memo = self._chats.get(chat.token_hash) or self._remember(chat)
        try:
            async with self._db.session() as session, session.begin():
                patient_id = memo.patient_id
                if patient_id is None:  # the core made the patient at the first message
                    patient_id = await session.scalar(
                        select(Address.patient_id).where(Address.urn == chat.urn)
                    )
                rows = [WebChatMessage(direction="in", client_id=client_id, body=_dump(said))]
                rows += [WebChatMessage(direction="out", body=_dump(reply)) for reply in replies]
                for row in rows:
                    row.chat_id, row.patient_id, row.created_at = chat.id, patient_id, now
                session.add_all(rows)
                stale = memo.active_at is None or now - memo.active_at >= ACTIVE_EVERY
                if stale or patient_id != memo.patient_id:
                    await session.execute(
                        update(WebChat)
                        .where(WebChat.id == chat.id)
                        .values(last_active_at=now, patient_id=patient_id)
                    )
                    memo.active_at = now
                await session.flush()
        except IntegrityError:
            self._chats.pop(chat.token_hash, None)  # read it all again next time
            if await self._exists(chat):
                return None  # the same client id twice: a retried POST
            raise ChatGone from None
        memo.patient_id = patient_id
        if client_id is not None:
            memo.recent.append(client_id)
        return [Line(row.id, row.direction, json.loads(row.body), row.client_id) for row in rows]

    async def deliver(self, urn: str, reply: dict[str, Any]) -> tuple[int, Line] | None:
        """Append a message from the clinic (staff, tips) to the chat at `urn`, if it exists."""
        hashed = urn.partition(":")[2]
        now = self._clock()
        async with self._db.session() as session, session.begin():
            found = (
                await session.execute(
                    select(WebChat.id, WebChat.patient_id).where(WebChat.token_hash == hashed)
                )
            ).first()
            if found is None:
                return None
            row = WebChatMessage(
                chat_id=found.id,
                patient_id=found.patient_id,
                direction="out",
                body=_dump(reply),
                created_at=now,
            )
            session.add(row)
            await session.flush()
        return found.id, Line(row.id, "out", reply)

    async def link(self, chat: ChatRef, owner_id: int) -> None:
        """Put the chat, its transcript and its address on the patient `owner_id`.

        A visitor who already wrote has a record of their own: it is merged into the owner's
        (handlers/patients/merge.py), bringing its message log and safety events along.
        """
        now = self._clock()
        async with self._db.session() as session, session.begin():
            own_id = await session.scalar(
                select(Address.patient_id).where(Address.urn == chat.urn)
            )
            if own_id != owner_id:
                # First, so deleting the visitor's record does not take the transcript along.
                await session.execute(
                    update(WebChatMessage)
                    .where(WebChatMessage.chat_id == chat.id)
                    .values(patient_id=owner_id)
                )
                await session.execute(
                    update(WebChat).where(WebChat.id == chat.id).values(patient_id=owner_id)
                )
                owner = await session.get(Patient, owner_id)
                own = await session.get(Patient, own_id) if own_id is not None else None
                if owner is not None and own is not None:
                    await merge_patients(session, own, owner, now=now)
                elif owner is not None:
                    session.add(
                        Address(
                            patient_id=owner_id,
                            urn=chat.urn,
                            scheme=SCHEME,
                            reachable=True,
                            created_at=now,
                        )
                    )
        memo = self._chats.get(chat.token_hash)
        if memo is not None:
            memo.patient_id = owner_id

    async def since(self, chat: ChatRef, after: int) -> list[Line]:
        """Return the chat's lines after id `after`, oldest first (at most REPLAY_LIMIT)."""
        async with self._db.session() as session:
            rows = (
                await session.execute(
                    select(
                        WebChatMessage.id,
                        WebChatMessage.direction,
                        WebChatMessage.body,
                        WebChatMessage.client_id,
                    )
                    .where(WebChatMessage.chat_id == chat.id, WebChatMessage.id > after)
                    .order_by(WebChatMessage.id.desc())
                    .limit(REPLAY_LIMIT)
                )
            ).all()
        return [Line(r.id, r.direction, json.loads(r.body), r.client_id) for r in reversed(rows)]

    async def purge(self, *, idle_since: datetime) -> int:
        """Erase chats idle since before `idle_since`; return how many.

        An anonymous visitor (no address but this chat's) is erased whole, as a "forget"
        would; a visitor linked to a patient loses the chat and its address, not the record.
        """
        now = self._clock()
        purged = 0
        while True:
            async with self._db.session() as session, session.begin():
                chats = (
                    await session.execute(
                        select(WebChat.id, WebChat.token_hash, WebChat.patient_id)
                        .where(WebChat.last_active_at < idle_since)
                        .limit(PURGE_BATCH)
                    )
                ).all()
                for chat in chats:
                    await self._purge_one(session, chat.id, chat.token_hash, chat.patient_id, now)
                    self._chats.pop(chat.token_hash, None)
            purged += len(chats)
            if len(chats) < PURGE_BATCH:
                break
        if purged:
            log.info("webchat: %s idle chats purged", purged)
        return purged

    async def _purge_one(
        self, session: Any, chat_id: int, hashed: str, patient_id: int | None, now: datetime
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

    async def _exists(self, chat: ChatRef) -> bool:
        async with self._db.session() as session:
            found = await session.scalar(select(WebChat.id).where(WebChat.id == chat.id))
        return found is not None

    def _remember(self, ref: ChatRef) -> _Memo:
        memo = self._chats[ref.token_hash] = _Memo(ref.id)
        if len(self._chats) > _CACHE:
            self._chats.popitem(last=False)
        return memo


def _dump(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))
