"""Send SMS through Twilio's REST API: a transport that posts and maps Twilio's answers.

Whether a message may go (consent, opt-out, reachability, quiet hours) and pacing are the
core's (scheduler.dispatch, handlers.delivery.sending); so is recording what an outcome means. This
renders the SMS text, posts once, and says how it went.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioRestException, TwilioServiceException

from bot.channels.base import SendOutcome, SendStatus
from bot.channels.sms.client import TwilioRest
from bot.channels.sms.config import SmsConfig
from bot.channels.sms.status import OPTED_OUT_CODES, UNREACHABLE_CODES
from content.sms import to_sms_text
from content.store import ContentStore
from handlers.conversation.sms_keywords import fit_automated
from handlers.messages import OutboundMessage
from handlers.phone import InvalidPhoneNumberError, phone_of

__all__ = ["RATE_LIMITED", "SmsSender"]

log = logging.getLogger(__name__)

RATE_LIMITED = 20429


class SmsSender:
    """The SMS ChannelSender for one Twilio number or messaging service."""

    def __init__(self, rest: TwilioRest, content: ContentStore, config: SmsConfig) -> None:
        self._rest, self._content, self._config = rest, content, config

    @property
    def route(self) -> str:
        """Return what Twilio rate-limits: the messaging service, else the number."""
        return self._config.messaging_service_sid or self._config.from_number or "twilio"

    async def send(
        self, urn: str, message: OutboundMessage, *, reply: bool = False
    ) -> SendOutcome:
        """Post one SMS; `reply=True` answers the patient's own message (no opt-out footer)."""
        try:
            to = phone_of(urn)
        except InvalidPhoneNumberError:
            return SendOutcome(SendStatus.FAILED, error="invalid_address")
        if reply:
            body = to_sms_text(message.sms)
        else:
            body = fit_automated(
                message.sms,
                clinic_name=str(self._content.clinic["name"]),
                opt_out=self._content.message("sms_opt_out", message.lang).sms,
            )
        outcome = await self._post(to, body)
        log.info("sms send: status=%s error=%s", outcome.status, outcome.error)
        return outcome

    def _route(self) -> dict[str, Any]:
        config = self._config
        if config.messaging_service_sid:
            return {"messaging_service_sid": config.messaging_service_sid}
        return {"from_": config.from_number}

    async def _post(self, to: str, body: str) -> SendOutcome:
        try:
            created = await self._rest.client.messages.create_async(
                to=to, body=body, status_callback=self._config.status_callback, **self._route()
            )
        except (TwilioRestException, TwilioServiceException) as exc:
            return _mapped(exc.code, exc.status, _retry_after(exc))
        except aiohttp.ClientConnectorError:
            # Never reached Twilio, so nothing was sent: safe to try again soon.
            return SendOutcome(SendStatus.RETRY, error="network", retry_after=1.0)
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The request may have arrived: the outbox decides, never a re-POST here.
            return SendOutcome(SendStatus.RETRY, error=type(exc).__name__)
        return SendOutcome(SendStatus.SENT, external_id=str(created.sid))


def _retry_after(exc: Exception) -> float | None:
    """Return Twilio's Retry-After in seconds, when it sent one."""
    headers = getattr(exc, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _mapped(code: int | None, status: int, retry_after: float | None) -> SendOutcome:
    """Map a Twilio error to a typed outcome."""
    if code in OPTED_OUT_CODES:
        return SendOutcome(SendStatus.OPTED_OUT, error=str(code))
    if code in UNREACHABLE_CODES:
        return SendOutcome(SendStatus.UNREACHABLE, error=str(code))
    if status == 429 or code == RATE_LIMITED:
        return SendOutcome(
            SendStatus.RATE_LIMITED, error=str(code or status), retry_after=retry_after or 1.0
        )
    if status >= 500:
        # The message may exist already: let the outbox decide, never re-POST here.
        return SendOutcome(SendStatus.RETRY, error=str(code or status))
    return SendOutcome(SendStatus.FAILED, error=str(code or status))
