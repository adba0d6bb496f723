"""Who may use the console: cross-site refusal, the session cookie, sign-in rate limits."""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import wraps

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from bot.console.auth import SignedIn, session_of
from bot.console.state import ConsoleState, console_of

__all__ = [
    "SignInLimiter",
    "admin_only",
    "cookie_name",
    "cross_site",
    "refuse",
    "relaxed",
    "staff_only",
]

Handler = Callable[[Request, SignedIn], Awaitable[Response]]
_SAFE = {"GET", "HEAD"}
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
SECURE_COOKIE = "__Host-clinicbot-console"
DEV_COOKIE = "clinicbot-console-dev"  # `__Host-` requires Secure, which plain http cannot set


def relaxed(request: Request) -> bool:
    """Say whether this is plain http on loopback (development): the cookie cannot be Secure."""
    return request.url.scheme == "http" and (request.url.hostname or "") in _LOOPBACK


def cookie_name(request: Request) -> str:
    """Return the session cookie's name for this request's origin."""
    return DEV_COOKIE if relaxed(request) else SECURE_COOKIE


def cross_site(request: Request) -> bool:
    """Say whether a request comes from another site (Fetch Metadata, else Origin).

    Unsafe methods must prove they are same-origin; a GET without either header (a bookmark,
    curl) is allowed, since it changes nothing and the cookie is SameSite=Strict.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        allowed = {"same-origin"} if request.method not in _SAFE else {"same-origin", "none"}
        return fetch_site not in allowed
    origin = request.headers.get("origin")
    if origin is not None:
        return origin != f"{request.url.scheme}://{request.url.netloc}"
    return request.method not in _SAFE


class SignInLimiter:
    """Allow a few sign-in attempts per client and window, and a ceiling for everyone."""

    def __init__(self, per_client: int = 10, overall: int = 100, window_s: float = 300) -> None:
        self.per_client, self.overall = per_client, overall
        self.window = timedelta(seconds=window_s)
        self._seen: dict[str, deque[datetime]] = {}
        self._all: deque[datetime] = deque()

    def allow(self, client: str, now: datetime) -> bool:
        """Count one attempt; False when this client or everyone has used up the window."""
        for times in (self._all, self._seen.setdefault(client, deque())):
            while times and now - times[0] >= self.window:
                times.popleft()
        mine = self._seen[client]
        if len(mine) >= self.per_client or len(self._all) >= self.overall:
            return False
        mine.append(now)
        self._all.append(now)
        if len(self._seen) > 10_000:  # forget idle clients so the table stays small
            self._seen = {k: v for k, v in self._seen.items() if v}
        return True


def refuse(request: Request, status: int, text: str) -> Response:
    """Return a short plain refusal."""
    return PlainTextResponse(text, status_code=status, headers={"Cache-Control": "no-store"})


async def signed_in(request: Request, console: ConsoleState) -> SignedIn | None:
    """Return the staff member behind the request's cookie, or None."""
    cookie = request.cookies.get(cookie_name(request))
    if not cookie or len(cookie) > 100:
        return None
    services = console.services(request)
    async with services.db.session() as session, session.begin():
        return await session_of(session, cookie, now=console.now(request), policy=console.policy)


Endpoint = Callable[[Request], Awaitable[Response]]


def staff_only(handler: Handler) -> Endpoint:
    """Wrap a page: refuse cross-site requests and anyone not signed in."""
    return _guarded(handler, admin=False)


def admin_only(handler: Handler) -> Endpoint:
    """Wrap a page for admins only (staff management, erasure)."""
    return _guarded(handler, admin=True)


def _guarded(handler: Handler, *, admin: bool) -> Endpoint:
    def wrap(inner: Handler) -> Callable[[Request], Awaitable[Response]]:
        @wraps(inner)
        async def endpoint(request: Request) -> Response:
            if cross_site(request):
                return refuse(request, 403, "cross-site request refused")
            console = console_of(request)
            who = await signed_in(request, console)
            if who is None:
                if request.method in _SAFE and "hx-request" not in request.headers:
                    return RedirectResponse("/console/signin", status_code=303)
                response = refuse(request, 401, "sign in again")
                response.headers["HX-Redirect"] = "/console/signin"
                return response
            if admin and not who.is_admin:
                return refuse(request, 403, "only admins may do this")
            return await inner(request, who)

        return endpoint

    return wrap(handler)
