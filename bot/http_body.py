"""Read a webhook's body within bounds: what a request may cost before it is refused."""

from __future__ import annotations

import asyncio

from starlette.requests import ClientDisconnect, Request

__all__ = ["BODY_SECONDS", "BodyError", "read_body"]

# Twilio and Telegram send a webhook's body at once; a client that trickles it holds a
# connection and a task, so the body must arrive within this time.
BODY_SECONDS = 10.0


class BodyError(Exception):
    """A body refused before it was read whole: the HTTP status and a one-line reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


async def read_body(request: Request, *, max_bytes: int) -> bytes:
    """Return the request's body, or raise BodyError (413 too large, 408 too slow, 400 gone)."""
    declared = request.headers.get("content-length", "")
    # The declared length is only a shortcut: the stream below is what counts.
    if declared:
        if not (declared.isascii() and declared.isdigit()):
            raise BodyError(400, "bad Content-Length")
        if len(declared) > 18 or int(declared) > max_bytes:
            raise BodyError(413, "body too large")
    body = bytearray()
    try:
        async with asyncio.timeout(BODY_SECONDS):
            async for chunk in request.stream():
                body += chunk
                if len(body) > max_bytes:
                    raise BodyError(413, "body too large")
    except TimeoutError:
        raise BodyError(408, "body not received in time") from None
    except ClientDisconnect:
        raise BodyError(400, "client disconnected before sending the body") from None
    return bytes(body)
