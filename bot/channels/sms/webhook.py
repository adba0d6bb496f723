"""Twilio's webhooks: signed SMS in (answered with TwiML) and delivery statuses."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from bot.channels.sms.config import INBOUND_PATH, STATUS_PATH, SmsConfig
from bot.channels.sms.inbound import SmsInbound
from bot.channels.sms.status import record_status
from bot.clock import Clock
from bot.db.session import Database
from content.sms import to_sms_text
from handlers.messages import Channel, InboundMessage
from handlers.phone import TEL_PREFIX, InvalidPhoneNumberError, parse_phone

__all__ = ["MAX_BODY_BYTES", "SmsWebhooks", "public_url_of"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # an SMS webhook is ~1-2 KB even with 1600 characters of text
_FORM = "application/x-www-form-urlencoded"


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
        self, config: SmsConfig, inbound: SmsInbound, db: Database, *, clock: Clock
    ) -> None:
        self._config = config
        self._validator = RequestValidator(config.auth_token)
        self._inbound = inbound
        self._db = db
        self._clock = clock

    def routes(self) -> list[Route]:
        """Return the routes to mount on the app."""
        return [
            Route(INBOUND_PATH, self.inbound, methods=["POST"]),
            Route(STATUS_PATH, self.status, methods=["POST"]),
        ]

    async def _signed_form(self, request: Request) -> FormData:
        if request.headers.get("content-type", "").split(";")[0].strip() != _FORM:
            raise _Rejected(415, "expected a form")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise _Rejected(413, "body too large")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise _Rejected(413, "body too large")
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise _Rejected(400, "body is not UTF-8") from None
        items: list[tuple[str, str | UploadFile]] = list(pairs)
        form = FormData(items)  # keeps repeated keys: the signature covers every value
        signature = request.headers.get("x-twilio-signature", "")
        url = public_url_of(request, self._config.public_url)
        if not signature or not self._validator.validate(url, form, signature):
            raise _Rejected(403, "invalid Twilio signature")
        return form

    async def inbound(self, request: Request) -> Response:
        """Answer an inbound SMS with TwiML."""
        try:
            form = await self._signed_form(request)
            sender = _tel(form, "From", self._config.region)
        except _Rejected as exc:
            log.warning("sms inbound rejected: %s %s", exc.status, exc.reason)
            _count_forged(request, exc)
            return PlainTextResponse(exc.reason, status_code=exc.status)
        message = InboundMessage(
            address=sender,
            channel=Channel.SMS,
            text=str(form.get("Body", "")),
            received_at=self._clock(),
            external_id=str(form.get("MessageSid") or form.get("SmsMessageSid") or "") or None,
        )
        replies = await self._inbound.handle(message)
        twiml = MessagingResponse()
        for text in replies:
            # Replies answer the patient's own text: quiet hours never hold them back.
            twiml.message(to_sms_text(text), action=self._config.status_callback, method="POST")
        return Response(str(twiml), media_type="application/xml")

    async def status(self, request: Request) -> Response:
        """Record a delivery status callback."""
        try:
            form = await self._signed_form(request)
        except _Rejected as exc:
            log.warning("sms status rejected: %s %s", exc.status, exc.reason)
            _count_forged(request, exc)
            return PlainTextResponse(exc.reason, status_code=exc.status)
        sid = str(form.get("MessageSid") or form.get("SmsSid") or "")
        status = str(form.get("MessageStatus") or form.get("SmsStatus") or "")
        if not sid or not status:
            return PlainTextResponse("MessageSid and MessageStatus are required", status_code=400)
        code = str(form.get("ErrorCode") or "")
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
                error_code=int(code) if code.isdigit() else None,
                now=self._clock(),
            )
        log.info("sms status: status=%s error=%s", status, code or None)
        return Response(status_code=204)


def _count_forged(request: Request, exc: _Rejected) -> None:
    """Count a request refused for its signature (shown by GET /healthz)."""
    rejected = getattr(request.app.state, "rejected", None)
    if exc.status == 403 and rejected is not None:
        rejected["sms"] += 1


def _tel(form: FormData, key: str, region: str) -> str:
    """Return the `tel:` URN of a form's phone number field, or reject the request."""
    try:
        return TEL_PREFIX + parse_phone(str(form.get(key, "")), region)
    except InvalidPhoneNumberError as exc:
        raise _Rejected(400, f"{key}: {exc}") from None
