"""Twilio's webhooks: signed SMS in (answered with TwiML) and delivery statuses."""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from bot.channels.sms.config import INBOUND_PATH, STATUS_PATH, SmsConfig
from bot.channels.sms.status import record_status
from bot.clock import Clock
from bot.db.session import Database
from bot.http_body import BodyError, read_body
from content.sms import to_sms_text
from handlers.conversation.pipeline import Pipeline
from handlers.messages import Channel, InboundMessage
from handlers.phone import TEL_PREFIX, InvalidPhoneNumberError, parse_phone

__all__ = ["MAX_BODY_BYTES", "MAX_FIELDS", "Params", "SmsWebhooks", "public_url_of"]

log = logging.getLogger(__name__)
# Twilio's error codes are five digits; anything else (a 4,000-digit "code") is not one.
_ERROR_CODE = re.compile(r"[0-9]{1,9}")

MAX_BODY_BYTES = 64 * 1024  # an SMS webhook is ~1-2 KB even with 1600 characters of text
# Twilio sends ~20-30 fields (an MMS adds two per picture, up to 10 pictures).
MAX_FIELDS = 100
_FORM = "application/x-www-form-urlencoded"
# A Twilio message id: two letters (SM, MM) and 32 hex digits.
_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")
_SID_KEYS = ("MessageSid", "SmsMessageSid", "SmsSid")
# A channel prefix such as `whatsapp:` or `messenger:`: Twilio's SMS senders have none.
_SCHEME = re.compile(r"\s*[A-Za-z][A-Za-z0-9+.-]*:")


class Params(dict[str, list[str]]):
    """A webhook's form: each name with all its values, built once from the body."""

    def getall(self, name: str) -> list[str]:
        """Return every value of `name` (RequestValidator looks this up, once per name)."""
        return self[name]

    def first(self, name: str) -> str:
        """Return the first value of `name`, or ''."""
        values = self.get(name)
        return values[0] if values else ""


class _Rejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def public_url_of(request: Request, public_url: str) -> str:
    """Rebuild the URL Twilio called from PUBLIC_URL: proxies change scheme, host and port."""
    query = request.url.query
    return public_url + request.url.path + (f"?{query}" if query else "")


class SmsWebhooks:
    """The two Starlette endpoints, checking every request's X-Twilio-Signature first."""

    def __init__(
        self, config: SmsConfig, pipeline: Pipeline, db: Database, *, clock: Clock
    ) -> None:
        self._config = config
        self._validator = RequestValidator(config.auth_token)
        self._pipeline = pipeline
        self._db = db
        self._clock = clock

    def routes(self) -> list[Route]:
        """Return the routes to mount on the app."""
        return [
            Route(INBOUND_PATH, self.inbound, methods=["POST"]),
            Route(STATUS_PATH, self.status, methods=["POST"]),
        ]

    async def _signed_form(self, request: Request) -> Params:
        # Everything before the signature check is bounded, so an unsigned request costs
        # little: a form type, 64 KB read within BODY_SECONDS, at most MAX_FIELDS fields,
        # and one linear pass to sign them.
        if request.headers.get("content-type", "").split(";")[0].strip() != _FORM:
            raise _Rejected(415, "expected a form")
        try:
            body = await read_body(request, max_bytes=MAX_BODY_BYTES)
        except BodyError as exc:
            raise _Rejected(exc.status, exc.reason) from None
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise _Rejected(400, "body is not UTF-8") from None
        try:
            pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
        except ValueError:  # only raised for too many fields (strict_parsing is off)
            raise _Rejected(413, f"more than {MAX_FIELDS} form fields") from None
        form = Params()
        for key, value in pairs:  # repeated keys keep every value: the signature covers all
            form.setdefault(key, []).append(value)
        signature = request.headers.get("x-twilio-signature", "")
        url = public_url_of(request, self._config.public_url)
        if not signature or not self._validator.validate(url, form, signature):
            raise _Rejected(403, "invalid Twilio signature")
        return form

    async def inbound(self, request: Request) -> Response:
        """Answer an inbound SMS with TwiML."""
        try:
            form = await self._signed_form(request)
            sender = _tel(form, "From", self._config.region, sms_only=True)
            # The id is what makes a redelivery (or a replayed capture) a duplicate: a message
            # without a well-formed one is refused, never handled without the check.
            sid = _message_sid(form)
        except _Rejected as exc:
            log.warning("sms inbound rejected: %s %s", exc.status, exc.reason)
            _count_forged(request, exc)
            return PlainTextResponse(exc.reason, status_code=exc.status)
        message = InboundMessage(
            address=sender,
            channel=Channel.SMS,
            text=form.first("Body"),
            received_at=self._clock(),
            external_id=sid,
            delivery_id=sid,
        )
        replies = await self._pipeline.handle(message)
        twiml = MessagingResponse()
        for reply in replies:
            # Replies answer the patient's own text: quiet hours never hold them back.
            text = to_sms_text(reply.sms)
            twiml.message(text, action=self._config.status_callback, method="POST")
        return Response(str(twiml), media_type="application/xml")

    async def status(self, request: Request) -> Response:
        """Record a delivery status callback."""
        try:
            form = await self._signed_form(request)
            sid = _message_sid(form)
            status = form.first("MessageStatus") or form.first("SmsStatus")
            if not status:
                raise _Rejected(400, "MessageStatus is required")
        except _Rejected as exc:
            log.warning("sms status rejected: %s %s", exc.status, exc.reason)
            _count_forged(request, exc)
            return PlainTextResponse(exc.reason, status_code=exc.status)
        code = form.first("ErrorCode")
        try:
            urn: str | None = _tel(form, "To", self._config.region)
        except _Rejected:
            urn = None
        async with self._db.session() as session, session.begin():
            await record_status(
                session,
                urn=urn,
                message_sid=sid,
                status=status,
                error_code=int(code) if _ERROR_CODE.fullmatch(code) else None,
                now=self._clock(),
            )
        log.info("sms status: status=%s error=%s", status[:16], code[:8] or None)
        return Response(status_code=204)


def _count_forged(request: Request, exc: _Rejected) -> None:
    """Count a request refused for its signature (shown by GET /healthz)."""
    rejected = getattr(request.app.state, "rejected", None)
    if exc.status == 403 and rejected is not None:
        rejected["sms"] += 1


def _message_sid(form: Params) -> str:
    """Return the message's Twilio id, or reject a form whose id is missing, odd or doubled.

    Twilio sends the same id as MessageSid, SmsMessageSid and SmsSid. Its signature covers
    names and values run together, so a replayed capture can rename a field (`M=essageSid...`)
    and stay signed: every id field present must hold one well-formed id, all the same one.
    """
    values = [value for key in _SID_KEYS for value in form.get(key, [])]
    if not values:
        raise _Rejected(400, "MessageSid is required")
    if not all(_SID.fullmatch(value) for value in values):
        raise _Rejected(400, "MessageSid is not a Twilio message id")
    if len(set(values)) > 1 or len(form.get("MessageSid", [])) > 1:
        raise _Rejected(400, "MessageSid, SmsMessageSid and SmsSid disagree")
    return values[0]


def _tel(form: Params, key: str, region: str, *, sms_only: bool = False) -> str:
    """Return the `tel:` URN of a form's phone number field, or reject the request."""
    raw = form.first(key)
    if sms_only and (scheme := _SCHEME.match(raw)):
        channel = scheme.group().strip()[:16]
        raise _Rejected(400, f"{key}: {channel} is not an SMS sender; this webhook takes SMS only")
    try:
        return TEL_PREFIX + parse_phone(raw, region)
    except InvalidPhoneNumberError as exc:
        raise _Rejected(400, f"{key}: {exc}") from None
