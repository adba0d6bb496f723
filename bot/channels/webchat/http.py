"""The web chat's HTTP endpoints: start a chat, post a message, stream the replies."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from bot.app import Services, build_pipeline
from bot.channels.webchat.core import ask_core, inbound_body, reply_body
from bot.channels.webchat.events import event_stream, read_last_id
from bot.channels.webchat.hub import Hub
from bot.channels.webchat.identity import TOKEN_HEADER, new_token, read_client_id, token_hash
from bot.channels.webchat.limits import ChatPace, OriginPolicy, StartsPerIp
from bot.channels.webchat.link import Linker
from bot.channels.webchat.store import ChatGone, ChatRef, WebChatStore
from bot.clock import Clock
from bot.http_body import BodyError, read_body
from handlers.messages import Channel, InboundMessage

__all__ = ["MAX_BODY", "MAX_TEXT", "WebChatHttp"]

log = logging.getLogger(__name__)

MAX_BODY = 4096  # bytes of JSON a visitor may post
MAX_TEXT = 1000  # characters of one message
MAX_PAYLOAD = 64  # a button's payload, e.g. "topic:cupping.marks"
_ALLOW_HEADERS = f"content-type, {TOKEN_HEADER}, last-event-id"


_NO_CHAT = f"missing or unknown {TOKEN_HEADER}: start a new chat"


@dataclass(frozen=True)
class _Admitted:
    """A POST that passed the origin and size checks: its origin, body and chat."""

    origin: str | None
    raw: bytes
    chat: ChatRef | None

    def require_chat(self) -> ChatRef:
        assert self.chat is not None  # admitted with_chat=True
        return self.chat


class WebChatHttp:
    """Check origin, size, token and pace; then hand the message to the core."""

    def __init__(
        self,
        services: Services,
        store: WebChatStore,
        hub: Hub,
        *,
        origins: OriginPolicy,
        starts: StartsPerIp,
        pace: ChatPace,
        linker: Linker,
        clock: Clock,
        keepalive: float,
        lifetime: float,
    ) -> None:
        self._services, self._store, self._hub = services, store, hub
        self._pipeline = build_pipeline(services, clock=clock)
        self._origins, self._starts, self._pace, self._clock = origins, starts, pace, clock
        self._keepalive, self._lifetime = keepalive, lifetime
        self._linker = linker

    async def start(self, request: Request) -> Response:
        """POST /webchat/chats: give a new visitor a token (no patient until they write)."""
        admitted = await self._admit(request, with_chat=False)
        if isinstance(admitted, Response):
            return admitted
        origin = admitted.origin
        ip = request.client.host if request.client else "unknown"
        wait = self._starts.take(ip)
        if wait is not None:
            return _error(429, "too many chats started from here; wait a minute", origin, wait)
        token = new_token()
        hashed = token_hash(token)
        assert hashed is not None  # a token we made is one of ours
        chat = await self._store.start_chat(hashed)
        log.info("webchat: chat=%s started", chat.id)
        return _json({"token": token}, origin, status=201)

    async def message(self, request: Request) -> Response:
        """POST /webchat/messages: one visitor message; the replies come on the stream."""
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            origin, refused = self._origin(request, required=True)
            return refused or _error(415, "send JSON (Content-Type: application/json)", origin)
        admitted = await self._admit(request, with_chat=True)
        if isinstance(admitted, Response):
            return admitted
        origin, raw, chat = admitted.origin, admitted.raw, admitted.require_chat()
        parsed = _parse(raw)
        if isinstance(parsed, str):
            return _error(400, parsed, origin)
        client_id, text, payload = parsed
        wait = self._pace.take(chat.id)
        if wait is not None:
            return _error(429, "too many messages; wait a moment", origin, wait)
        if self._store.answered_lately(chat, client_id):
            return _json({"duplicate": True}, origin)
        inbound = InboundMessage(
            address=chat.urn,
            channel=Channel.WEB,
            text=None if payload is not None else text,
            received_at=self._clock(),
            external_id=f"web:{chat.id}:{client_id}",
            payload=payload,
            delivery_id=f"{chat.id}:{client_id}",  # a retried POST is answered once
        )
        replies = await ask_core(self._pipeline, inbound)
        said = inbound_body(text, payload)
        try:
            bodies = [reply_body(reply) for reply in replies]
            lines = await self._store.record(chat, client_id, said, bodies)
        except ChatGone:
            return _error(410, "this chat was erased; start a new one", origin)
        if lines is None:
            return _json({"duplicate": True}, origin)
        self._hub.publish(chat.id, lines)
        return _json({"id": lines[0].id, "replies": [line.id for line in lines[1:]]}, origin)

    async def link(self, request: Request) -> Response:
        """POST /webchat/link: `{"contact"}` sends a one-time code there; `{"code"}` links."""
        admitted = await self._admit(request, with_chat=True)
        if isinstance(admitted, Response):
            return admitted
        origin, raw, chat = admitted.origin, admitted.raw, admitted.require_chat()
        if self._pace.take(chat.id) is not None:
            return _error(429, "too many messages; wait a moment", origin, 1.0)
        try:
            body: Any = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return _error(400, "the body is not JSON", origin)
        contact = body.get("contact") if isinstance(body, dict) else None
        code = body.get("code") if isinstance(body, dict) else None
        if isinstance(code, str) and len(code) <= 12:
            problem = await self._linker.confirm(chat, code)
            if problem is not None:
                return _error(400, problem, origin)
            return _json({"linked": True}, origin)
        if not isinstance(contact, str) or len(contact) > 40:
            return _error(400, "send a phone number as contact, or the code", origin)
        urn = self._linker.urn_of(contact)
        if urn is None:
            return _error(400, "not a phone number: write it with its country code", origin)
        if not await self._linker.request(chat, urn):
            return _error(429, "too many codes asked for; try again in an hour", origin, 3600)
        return _json({"sent": "if the clinic knows this contact, a code is on its way"}, origin)

    async def events(self, request: Request) -> Response:
        """GET /webchat/events: the chat's transcript after Last-Event-ID, then live lines."""
        origin, refused = self._origin(request, required=False)
        if refused is not None:
            return refused
        chat = await self._chat(request)
        if chat is None:
            return _error(401, _NO_CHAT, origin)
        subscription = self._hub.subscribe(chat.id)
        if subscription is None:
            return _error(429, "too many open streams; close another tab", origin, 5.0)
        after = read_last_id(request.headers.get("last-event-id"))
        stream = event_stream(
            self._store,
            self._hub,
            subscription,
            chat,
            after,
            keepalive=self._keepalive,
            lifetime=self._lifetime,
        )
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no", **_cors(origin)}
        return StreamingResponse(stream, media_type="text/event-stream", headers=headers)

    async def preflight(self, request: Request) -> Response:
        """OPTIONS: let an allowed site send the token header and JSON."""
        origin, refused = self._origin(request, required=True)
        if refused is not None:
            return refused
        headers = {
            **_cors(origin),
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": _ALLOW_HEADERS,
            "Access-Control-Max-Age": "600",
        }
        return Response(status_code=204, headers=headers)

    def _origin(self, request: Request, *, required: bool) -> tuple[str | None, Response | None]:
        """Return the request's origin when allowed, or the 403 to answer with."""
        origin = request.headers.get("origin")
        if origin is None and not required:
            return None, None  # a same-origin GET: the browser sends no Origin
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if not self._origins.allows(origin, own):
            return None, _error(403, "this site is not allowed to use the clinic's chat", None)
        return (origin if origin and self._origins.is_cross_site(origin, own) else None), None

    async def _admit(self, request: Request, *, with_chat: bool) -> _Admitted | Response:
        """Check a POST's origin, read its capped body and, if asked, find its chat."""
        origin, refused = self._origin(request, required=True)
        if refused is not None:
            return refused
        try:
            raw = await read_body(request, max_bytes=MAX_BODY)
        except BodyError as exc:
            return _error(exc.status, exc.reason, origin)
        if not with_chat:
            return _Admitted(origin, raw, None)
        chat = await self._chat(request)
        if chat is None:
            return _error(401, _NO_CHAT, origin)
        return _Admitted(origin, raw, chat)

    async def _chat(self, request: Request) -> ChatRef | None:
        hashed = token_hash(request.headers.get(TOKEN_HEADER, ""))
        return await self._store.find(hashed) if hashed is not None else None


def _parse(raw: bytes) -> tuple[str, str, str | None] | str:
    """Return (client id, text, payload) from a message body, or the one-line error."""
    try:
        body: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return "the body is not JSON"
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    client_id = read_client_id(body.get("client_id"))
    if client_id is None:
        return "client_id must be 8 to 40 letters, digits, - or _"
    text, payload = body.get("text", ""), body.get("payload")
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        return f"text must be a string of at most {MAX_TEXT} characters"
    text = text.replace("\x00", "").strip()
    if payload is not None:
        if not isinstance(payload, str) or not 0 < len(payload) <= MAX_PAYLOAD:
            return f"payload must be a string of 1 to {MAX_PAYLOAD} characters"
        return client_id, text[:200], payload
    if not text:
        return "text is empty"
    return client_id, text, None


def _cors(origin: str | None) -> dict[str, str]:
    # Only the chat's own endpoints ever carry CORS headers: nothing else on the server is
    # readable from another site.
    headers = {"Vary": "Origin", "X-Content-Type-Options": "nosniff"}
    if origin is not None:
        headers["Access-Control-Allow-Origin"] = origin
    return headers


def _json(body: dict[str, Any], origin: str | None, *, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status, headers=_cors(origin))


def _error(status: int, reason: str, origin: str | None, retry: float | None = None) -> Response:
    headers = _cors(origin)
    if retry is not None:
        headers["Retry-After"] = str(max(1, round(retry + 0.5)))
    return JSONResponse({"error": reason}, status_code=status, headers=headers)
