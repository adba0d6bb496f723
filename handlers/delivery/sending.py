"""Messages sent outside the outbox (a staff answer, a ticket closed): check, post, record.

The channels' senders are transports. This wraps one so a direct message gets the core's
send-time check (handlers.delivery.consent.refusal) just before it posts, and its outcome is
recorded the one way the outbox records it: the message log, and
handlers.delivery.consent.record_lost.
"""

from __future__ import annotations

import logging
from typing import Protocol

from sqlalchemy import select

from bot.clock import Clock
from bot.db.models import Address
from bot.db.patients import log_message
from bot.db.session import Database
from handlers.channels import CHANNELS
from handlers.delivery.consent import LOST, record_lost, refusal
from handlers.delivery.outcomes import SendOutcome, SendStatus
from handlers.messages import OutboundMessage

__all__ = ["CHANNEL_OF_SCHEME", "Checked", "Transport"]

log = logging.getLogger(__name__)

# The message log names channels ("sms"); addresses name schemes ("tel").
CHANNEL_OF_SCHEME = {facts.scheme: str(facts.channel) for facts in CHANNELS.values()}


class Transport(Protocol):
    """A channel sender: posts one message to one address."""

    async def send(self, urn: str, message: OutboundMessage) -> SendOutcome:
        """Post `message` to `urn`."""


class Checked:
    """A sender that asks the core first and records what happened after."""

    def __init__(
        self, transport: Transport, db: Database, *, clock: Clock, store_bodies: bool = False
    ) -> None:
        self._transport, self._db, self._clock = transport, db, clock
        self._store_bodies = store_bodies  # STORE_MESSAGE_BODIES: keep what staff wrote

    async def send(self, urn: str, message: OutboundMessage) -> SendOutcome:
        """Send unless the core refuses; record the outcome; never raise for the provider."""
        async with self._db.session() as session:
            refused = await refusal(session, urn, message.consent)
        if refused is not None:
            log.info("direct send: not sent: %s", refused)
            return SendOutcome(SendStatus.WITHDRAWN, error=refused)
        outcome = await self._transport.send(urn, message)
        now, scheme = self._clock(), urn.partition(":")[0]
        async with self._db.session() as session, session.begin():
            row = (
                await session.execute(
                    select(Address.id, Address.patient_id).where(Address.urn == urn)
                )
            ).first()
            if row is not None and outcome.status in LOST:
                await record_lost(
                    session,
                    row.id,
                    str(outcome.status),
                    code=outcome.error,
                    provider=_provider(scheme),
                    now=now,
                )
            await log_message(
                session,
                patient_id=row.patient_id if row is not None else None,
                direction="out",
                channel=CHANNEL_OF_SCHEME.get(scheme, scheme),
                status=str(outcome.status),
                now=now,
                kind=str(message.kind),
                topic=message.topic,
                external_id=outcome.external_id,
                body=message.text if self._store_bodies else None,
            )
        log.info("direct send: scheme=%s status=%s", scheme, outcome.status)
        return outcome


def _provider(scheme: str) -> str:
    """Return the provider name a lost address's reason starts with."""
    return "twilio" if scheme == "tel" else scheme
