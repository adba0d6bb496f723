"""Answer a request the database cannot serve (disk full, server down) with one line and a 503.

Without this, a full disk or a lost database made every webhook a 500 with a logged traceback.
A storage failure is not a bug in the request: the server says so in one line and answers 503
with Retry-After, so a proxy or a provider that retries knows to come back.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["StorageErrors"]

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = "30"
# What the request or the code got wrong, not the storage: these keep their traceback and 500.
_NOT_STORAGE = (IntegrityError, ProgrammingError, DataError)


def _cause(exc: DBAPIError) -> str:
    """Name the driver's own error class (asyncpg's DiskFullError sits behind its adapter)."""
    orig: BaseException | None = exc.orig
    return type(orig.__cause__ or orig).__name__ if orig is not None else type(exc).__name__


class StorageErrors:
    """ASGI middleware: a database error in an HTTP request is one log line and a 503."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except DBAPIError as exc:
            if isinstance(exc, _NOT_STORAGE):
                raise
            # The driver's class names the cause (DiskFullError, OperationalError...); its
            # message may quote the statement's parameters, so it is not logged.
            log.error(
                "storage unavailable: %s %s: %s", scope["method"], scope["path"], _cause(exc)
            )
            if started:
                return  # the response has begun; nothing more can be said
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"retry-after", RETRY_AFTER_SECONDS.encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b"storage unavailable\n"})
