"""Link a web chat to a patient the clinic knows, with a one-time code sent to them elsewhere."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from bot.channels.base import SendOutcome
from bot.channels.webchat.store import ChatRef, WebChatStore
from bot.clock import Clock
from bot.db.models import Address, Patient
from bot.db.session import Database
from content.store import ContentStore
from handlers.ids import TELEGRAM_ID_MAX, read_id
from handlers.messages import OutboundMessage, ReplyKind
from handlers.phone import InvalidPhoneNumberError, tel_urn

__all__ = ["CODE_LIFETIME", "Linker", "SendTo"]

log = logging.getLogger(__name__)

# Sends one message to an address URN of another channel, or None when it is not set up.
SendTo = Callable[[str], Callable[[str, OutboundMessage], Awaitable[SendOutcome]] | None]

CODE_LIFETIME = timedelta(minutes=10)
MAX_TRIES = 5  # wrong codes before the code is spent: a million codes, five guesses
MAX_REQUESTS = 3  # codes a chat may ask for in an hour (each one is a message we pay for)


def _digest(code: str) -> bytes:
    return hashlib.sha256(code.encode()).digest()


@dataclass
class _Waiting:
    owner_id: int
    digest: bytes
    expires: datetime
    tries: int = 0


@dataclass
class _Asked:
    times: deque[datetime] = field(default_factory=lambda: deque(maxlen=MAX_REQUESTS))


class Linker:
    """Send codes and check them; a right code moves the chat onto the patient's record."""

    def __init__(
        self,
        db: Database,
        store: WebChatStore,
        content: ContentStore,
        send_to: SendTo,
        *,
        clock: Clock,
        region: str,
    ) -> None:
        self._db, self._store, self._content, self._send_to = db, store, content, send_to
        self._clock, self._region = clock, region
        self._waiting: dict[int, _Waiting] = {}  # chat id -> the code it waits for
        self._asked: dict[int, _Asked] = {}

    def urn_of(self, contact: str) -> str | None:
        """Return the address a visitor typed (a phone number or a Telegram user id), or None."""
        text = contact.strip()
        if text.lower().startswith("telegram:"):  # digits alone are a phone number
            telegram = read_id(text[9:], TELEGRAM_ID_MAX)
            return f"telegram:{telegram}" if telegram is not None else None
        try:
            return tel_urn(contact, self._region)
        except InvalidPhoneNumberError:
            return None

    async def request(self, chat: ChatRef, urn: str) -> bool:
        """Send a code to `urn` if it is a known patient's; False when the chat asked too often.

        The visitor hears the same whether or not the address is known, so the chat cannot
        be used to find out who is a patient.
        """
        now = self._clock()
        asked = self._asked.setdefault(chat.id, _Asked())
        if len(asked.times) == MAX_REQUESTS and now - asked.times[0] < timedelta(hours=1):
            return False
        asked.times.append(now)
        async with self._db.session() as session:
            found = (
                await session.execute(
                    select(Address.patient_id, Address.scheme, Patient.language)
                    .join(Patient)
                    .where(Address.urn == urn, Address.reachable.is_(True))
                )
            ).first()
        send = self._send_to(urn.partition(":")[0]) if found is not None else None
        if found is None or send is None:
            log.info("webchat: chat=%s link asked, no reachable record", chat.id)
            return True
        code = f"{secrets.randbelow(1_000_000):06d}"
        self._waiting[chat.id] = _Waiting(found.patient_id, _digest(code), now + CODE_LIFETIME)
        lang = found.language or "en"
        template = self._content.message("webchat_link_code", lang)
        message = OutboundMessage(
            text=template.text.replace("{code}", code),
            sms=template.sms.replace("{code}", code),
            kind=ReplyKind.SYSTEM,
            lang=lang,
        )
        outcome = await send(urn, message)
        log.info(
            "webchat: chat=%s link code to patient=%s: %s",
            chat.id,
            found.patient_id,
            outcome.status,
        )
        return True

    async def confirm(self, chat: ChatRef, code: str) -> str | None:
        """Link the chat if `code` is right; return None, or the one-line reason it is not."""
        now = self._clock()
        waiting = self._waiting.get(chat.id)
        if waiting is None or now >= waiting.expires:
            self._waiting.pop(chat.id, None)
            return "no code is waiting for this chat; ask for a new one"
        waiting.tries += 1
        if not hmac.compare_digest(_digest(code.strip()), waiting.digest):
            if waiting.tries >= MAX_TRIES:
                self._waiting.pop(chat.id, None)
                return "too many wrong codes; ask for a new one"
            return "that code is not right"
        del self._waiting[chat.id]
        await self._store.link(chat, waiting.owner_id)
        log.info("webchat: chat=%s linked to patient=%s", chat.id, waiting.owner_id)
        return None
