"""What the console keeps for the process: templates, session policy, limiter, uploads."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from bot.console.auth import SessionPolicy

if TYPE_CHECKING:
    from bot.app import Services
    from bot.console.guard import SignInLimiter

__all__ = ["ConsoleState", "PendingImport", "console_of", "link_base"]

T = TypeVar("T")
HERE = Path(__file__).resolve().parent
UPLOAD_LIFETIME = timedelta(minutes=15)


@dataclass
class PendingImport:
    """A file checked by a dry-run, kept until its commit (or 15 minutes)."""

    owner: int
    name: str
    text: str
    stored_at: datetime


@dataclass
class ConsoleState:
    """The console's per-process state, kept in app.state.console."""

    policy: SessionPolicy
    limiter: SignInLimiter
    templates: Jinja2Templates = field(
        default_factory=lambda: Jinja2Templates(directory=str(HERE / "templates"))
    )
    uploads: dict[str, PendingImport] = field(default_factory=dict)
    cache: dict[str, tuple[datetime, Any]] = field(default_factory=dict)

    async def cached(
        self, key: str, now: datetime, ttl: timedelta, compute: Callable[[], Awaitable[T]]
    ) -> T:
        """Return a value computed at most `ttl` ago (stats, audience counts), else compute it.

        Counts over every patient and message take a few hundred milliseconds at 10,000
        patients; they are computed once per interval, not on each page view or keystroke.
        """
        found = self.cache.get(key)
        if found is not None and now - found[0] < ttl:
            value: T = found[1]
            return value
        fresh = await compute()
        if len(self.cache) > 1000:
            self.cache.clear()
        self.cache[key] = (now, fresh)
        return fresh

    def services(self, request: Request) -> Services:
        """Return the running services (database, conversation, content)."""
        services: Services = request.app.state.services
        return services

    def now(self, request: Request) -> datetime:
        """Return the time by the services' clock."""
        return self.services(request).conversation.clock()

    def keep_upload(self, pending: PendingImport) -> str:
        """Keep a checked file; return the key its commit names."""
        self.uploads = {
            key: kept
            for key, kept in self.uploads.items()
            if pending.stored_at - kept.stored_at < UPLOAD_LIFETIME
        }
        key = secrets.token_urlsafe(16)
        self.uploads[key] = pending
        return key

    def render(
        self, request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> Response:
        """Render a template with the request in its context."""
        response: Response = self.templates.TemplateResponse(
            request, name, context, status_code=status
        )
        return response


def console_of(request: Request) -> ConsoleState:
    """Return the console state installed by `install_console`."""
    state: ConsoleState = request.app.state.console
    return state


def link_base(public_url: str | None, host: str, port: int) -> str:
    """Return the URL the sign-in links start with (PUBLIC_URL, else this host and port)."""
    if public_url:
        return public_url.rstrip("/")
    shown = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host
    return f"http://{shown}:{port}"
