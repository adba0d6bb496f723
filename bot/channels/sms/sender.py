"""Send SMS through Twilio's REST API: consent, quiet hours and retries checked on every send."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp
from aiolimiter import AsyncLimiter
from sqlalchemy import select
from twilio.base.exceptions import TwilioRestException, TwilioServiceException

from bot.channels.base import SendOutcome, SendStatus
from bot.channels.sms.client import TwilioRest
from bot.channels.sms.config import SmsConfig
from bot.channels.sms.status import (
    OPTED_OUT_CODES,
    UNREACHABLE_CODES,
    mark_opted_out,
    mark_unreachable,
)
from bot.clock import Clock
from bot.db.models import Address, Patient
from bot.db.patients import log_message
from bot.db.session import Database
from content.sms import to_sms_text
from content.store import ContentStore
from handlers.clinic_zone import clinic_zone
from handlers.consent import refusal
from handlers.messages import Channel, OutboundMessage
from handlers.phone import InvalidPhoneNumberError, phone_of
from handlers.quiet_hours import next_allowed_time
from handlers.sms_keywords import fit_automated

__all__ = ["SmsSender"]

log = logging.getLogger(__name__)

RATE_LIMITED = 20429
Sleep = Callable[[float], Awaitable[None]]


def _limiter(per_second: float) -> AsyncLimiter:
    """Pace every send of this process at the configured messages per second."""
    if per_second >= 1:
        return AsyncLimiter(per_second, 1.0)
    return AsyncLimiter(1, 1.0 / per_second)


class SmsSender:
    """The SMS ChannelSender: nothing to opted-out or unreachable numbers, ever."""

    def __init__(
        self,
        rest: TwilioRest,
        db: Database,
        content: ContentStore,
        config: SmsConfig,
        *,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        attempts: int = 3,
        backoff: float = 1.0,
        pace: AbstractAsyncContextManager[object] | None = None,
    ) -> None:
        self._rest = rest
        self._db = db
        self._content = content
        self._config = config
        self._clock = clock
        self._sleep = sleep
        self._attempts = attempts
        self._backoff = backoff
        # Every send waits its turn here; `pace` replaces the limiter in tests.
        self._pace = pace or _limiter(config.messages_per_second)

    async def send(
        self, urn: str, message: OutboundMessage, *, reply: bool = False
    ) -> SendOutcome:
        """Send one SMS; `reply=True` answers the patient's own message (no quiet hours)."""
        try:
            to = phone_of(urn)
        except InvalidPhoneNumberError:
            return SendOutcome(SendStatus.FAILED, error="invalid_address")
        now = self._clock()
        async with self._db.session() as session:
            row = (
                await session.execute(
                    select(Address, Patient).join(Patient).where(Address.urn == urn)
                )
            ).first()
        address, patient = (row.Address, row.Patient) if row else (None, None)
        if address is not None and address.opted_out_at is not None:
            return SendOutcome(SendStatus.OPTED_OUT, error="opted_out")
        if address is not None and not address.reachable:
            return SendOutcome(SendStatus.UNREACHABLE, error=address.unreachable_reason)
        if reply:
            body = to_sms_text(message.sms)
        else:
            allowed = next_allowed_time(
                now, self._zone(patient), self._config.quiet_start, self._config.quiet_end
            )
            if allowed > now:
                wait = (allowed - now).total_seconds()
                return SendOutcome(SendStatus.RETRY, error="quiet_hours", retry_after=wait)
            body = fit_automated(
                message.sms,
                clinic_name=str(self._content.clinic["name"]),
                opt_out=self._content.message("sms_opt_out", message.lang).sms,
            )
        outcome = await self._post(to, body, urn, message.consent)
        if outcome.status is SendStatus.WITHDRAWN:
            log.info(
                "sms send: patient=%s not sent: %s", patient.id if patient else None, outcome.error
            )
            return outcome
        await self._record(urn, patient, message, body, outcome, now)
        return outcome

    def _zone(self, patient: Patient | None) -> ZoneInfo:
        if patient is not None and patient.timezone:
            try:
                return ZoneInfo(patient.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                pass  # a bad stored zone must not block sending: use the clinic's
        return self._config.clinic_zone or clinic_zone(self._content.clinic)

    def _route(self) -> dict[str, Any]:
        config = self._config
        if config.messaging_service_sid:
            return {"messaging_service_sid": config.messaging_service_sid}
        return {"from_": config.from_number}

    async def _refusal(self, urn: str, consent: str | None) -> str | None:
        async with self._db.session() as session:
            return await refusal(session, urn, consent)

    async def _post(self, to: str, body: str, urn: str, consent: str | None) -> SendOutcome:
        for attempt in range(self._attempts):
            delay = self._backoff * 2**attempt
            try:
                async with self._pace:
                    # The last moment: after waiting our turn (seconds, in a broadcast), in the
                    # step that posts. A STOP confirmed meanwhile stops this message.
                    refused = await self._refusal(urn, consent)
                    if refused is not None:
                        return SendOutcome(SendStatus.WITHDRAWN, error=refused)
                    created = await self._rest.client.messages.create_async(
                        to=to,
                        body=body,
                        status_callback=self._config.status_callback,
                        **self._route(),
                    )
            except (TwilioRestException, TwilioServiceException) as exc:
                code, status = exc.code, exc.status
                if code in OPTED_OUT_CODES:
                    return SendOutcome(SendStatus.OPTED_OUT, error=str(code))
                if code in UNREACHABLE_CODES:
                    return SendOutcome(SendStatus.UNREACHABLE, error=str(code))
                if status == 429 or code == RATE_LIMITED:
                    if attempt + 1 < self._attempts:
                        await self._sleep(delay)
                        continue
                    return SendOutcome(
                        SendStatus.RETRY, error=str(code or status), retry_after=delay
                    )
                if status >= 500:
                    # The message may exist already: let the outbox decide, never re-POST here.
                    return SendOutcome(SendStatus.RETRY, error=str(code or status))
                return SendOutcome(SendStatus.FAILED, error=str(code or status))
            except aiohttp.ClientConnectorError:
                # Never reached Twilio, so nothing was sent: safe to try again now.
                if attempt + 1 < self._attempts:
                    await self._sleep(delay)
                    continue
                return SendOutcome(SendStatus.RETRY, error="network", retry_after=delay)
            except (aiohttp.ClientError, TimeoutError) as exc:
                # The request may have arrived: hand it back rather than risk a double send.
                return SendOutcome(SendStatus.RETRY, error=type(exc).__name__)
            return SendOutcome(SendStatus.SENT, external_id=str(created.sid))
        return SendOutcome(SendStatus.RETRY, error="attempts")  # pragma: no cover

    async def _record(
        self,
        urn: str,
        patient: Patient | None,
        message: OutboundMessage,
        body: str,
        outcome: SendOutcome,
        now: datetime,
    ) -> None:
        async with self._db.session() as session, session.begin():
            if outcome.status is SendStatus.OPTED_OUT:
                await mark_opted_out(session, urn, source=f"twilio:{outcome.error}", now=now)
            elif outcome.status is SendStatus.UNREACHABLE:
                await mark_unreachable(session, urn, reason=f"twilio:{outcome.error}")
            await log_message(
                session,
                patient_id=patient.id if patient else None,
                direction="out",
                channel=Channel.SMS,
                status=str(outcome.status),
                now=now,
                kind=message.kind,
                topic=message.topic,
                external_id=outcome.external_id,
                body=body if self._config.store_bodies else None,
            )
        log.info(
            "sms send: patient=%s status=%s error=%s",
            patient.id if patient else None,
            outcome.status,
            outcome.error,
        )
