"""Sign-in through a single-use link, and sign-out."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.console.auth import SignedIn, redeem_link, revoke_session
from bot.console.guard import cookie_name, cross_site, refuse, relaxed, staff_only
from bot.console.state import console_of

__all__ = ["home", "sign_in", "sign_out"]

log = logging.getLogger(__name__)
_MAX_TOKEN = 100


async def sign_in(request: Request) -> Response:
    """GET shows a button (link previews must not spend the link); POST spends it."""
    console = console_of(request)
    if request.method == "GET":
        token = request.query_params.get("t", "")[:_MAX_TOKEN]
        return console.render(request, "signin.html", {"token": token, "who": None})
    if cross_site(request):
        return refuse(request, 403, "cross-site request refused")
    client = request.client.host if request.client else "?"
    now = console.now(request)
    if not console.limiter.allow(client, now):
        log.info("console: sign-in attempts limited")
        return console.render(
            request, "signin.html", {"token": "", "who": None, "error": "limited"}, 429
        )
    form = await request.form()
    token = str(form.get("t", ""))[:_MAX_TOKEN]
    services = console.services(request)
    async with services.db.session() as session, session.begin():
        opened = (
            await redeem_link(session, token, now=now, policy=console.policy) if token else None
        )
    if opened is None:
        context = {"token": "", "who": None, "error": "invalid"}
        return console.render(request, "signin.html", context, 403)
    cookie, who = opened
    log.info("console: staff:%s signed in (session %s)", who.telegram_user_id, who.session_id)
    response = RedirectResponse("/console/inbox", status_code=303)
    response.set_cookie(
        cookie_name(request),
        cookie,
        max_age=int(console.policy.absolute.total_seconds()),
        path="/",
        secure=not relaxed(request),
        httponly=True,
        samesite="strict",
    )
    return response


@staff_only
async def sign_out(request: Request, who: SignedIn) -> Response:
    """Revoke this session and forget the cookie."""
    console = console_of(request)
    services = console.services(request)
    async with services.db.session() as session, session.begin():
        await revoke_session(session, who.session_id, now=console.now(request))
    response = RedirectResponse("/console/signin", status_code=303)
    response.delete_cookie(cookie_name(request), path="/", secure=not relaxed(request))
    return response


@staff_only
async def home(request: Request, who: SignedIn) -> Response:
    """Send the front page to the inbox."""
    return RedirectResponse("/console/inbox", status_code=303)
