"""The console's gate: anonymous and cross-site requests, links, sessions, cookies, rate limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, text
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from bot.console.models import ConsoleLink, ConsoleSession
from bot.console.routes import PUBLIC_PATHS
from bot.db.models import AuditEntry, MessageLog, Patient, StaffRole, Ticket, TicketStatus
from handlers.staff.roles import add_staff, remove_staff
from tests.console_support import (
    ADMIN,
    HTTPS,
    MEMBER,
    Console,
    cli_link,
    run_cli,
    running_console,
    token_of,
)


@pytest.fixture
async def console(database_url: str) -> AsyncIterator[Console]:
    async with running_console(database_url) as running:
        yield running


def _console_paths(app: Starlette) -> list[tuple[str, str]]:
    """Return (method, path) of every console route, path parameters filled with 1."""
    [mount] = [r for r in app.routes if isinstance(r, Mount) and r.path == "/console"]
    found = []
    for route in mount.routes:
        if not isinstance(route, Route):
            continue
        path = "/console" + route.path.replace("{ticket_id}", "1")
        path = path.replace("{patient_id}", "1").replace("{broadcast_id}", "1")
        assert "{" not in path, path
        for method in sorted(route.methods or {"GET"}):
            if method != "HEAD" and not path.startswith(PUBLIC_PATHS):
                found.append((method, path))
    return found


async def test_every_console_route_refuses_an_anonymous_request(console: Console) -> None:
    paths = _console_paths(console.app)
    assert len(paths) >= 6  # the inbox, tickets, and the rest are listed
    async with console.client() as client:
        for method, path in paths:
            response = await client.request(method, path)
            assert response.status_code in (303, 401), (method, path, response.status_code)
            if response.status_code == 303:
                assert response.headers["location"] == "/console/signin"
            assert "Ana" not in response.text
        # A forged cookie is no better than none.
        client.cookies.set("__Host-clinicbot-console", "forged")
        assert (await client.get("/console/inbox")).status_code == 303


async def test_sign_in_through_a_cli_link_sets_a_strict_host_cookie(console: Console) -> None:
    async with console.client() as client:
        link = await asyncio.to_thread(cli_link, console.url, ADMIN)
        assert link.startswith("http://127.0.0.1:8080/console/signin?t=")
        token = token_of(link)
        page = await client.get("/console/signin", params={"t": token})
        assert page.status_code == 200 and token in page.text  # GET only shows the button
        response = await client.post("/console/signin", data={"t": token})
        assert response.status_code == 303 and response.headers["location"] == "/console/inbox"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("__Host-clinicbot-console=")
        for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"):
            assert attribute.lower() in cookie.lower(), attribute
        assert "domain" not in cookie.lower()
        inbox = await client.get("/console/inbox")
        assert inbox.status_code == 200 and "Ana Lopez" in inbox.text
        assert inbox.headers["cache-control"] == "no-store"
        assert "default-src 'self'" in inbox.headers["content-security-policy"]


async def test_plain_http_on_loopback_uses_a_cookie_without_secure(console: Console) -> None:
    async with console.signed_in(base="http://127.0.0.1:8080") as client:
        [cookie] = list(client.cookies.jar)
        assert cookie.name == "clinicbot-console-dev" and not cookie.secure
        assert (await client.get("/console/inbox")).status_code == 200


async def test_only_a_hash_of_each_token_is_stored(console: Console) -> None:
    link = await console.link()
    async with console.signed_in() as client:
        cookie = next(iter(client.cookies.jar)).value
    async with console.app.state.services.db.session() as session:
        stored = list((await session.execute(select(ConsoleLink))).all())
        stored += list((await session.execute(select(ConsoleSession))).all())
        dump = repr(stored) + repr(
            (await session.execute(text("SELECT * FROM console_links"))).all()
        )
        dump += repr((await session.execute(text("SELECT * FROM console_sessions"))).all())
    assert token_of(link) not in dump and cookie not in dump


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": HTTPS, "Sec-Fetch-Site": "same-site"},  # a sibling subdomain is not us
        {"Origin": "null"},
    ],
)
async def test_a_cross_site_post_gets_403_and_changes_nothing(
    console: Console, headers: dict[str, str]
) -> None:
    async with console.signed_in() as client:
        path = f"/console/tickets/{console.ids['ticket']}/close"
        response = await client.post(path, headers=headers)
        assert response.status_code == 403
        own = await client.get(f"/console/tickets/{console.ids['ticket']}")
        assert own.status_code == 200  # the session itself still works
    async with console.app.state.services.db.session() as session:
        ticket = await session.get(Ticket, console.ids["ticket"])
        assert ticket is not None and ticket.status == TicketStatus.OPEN


async def test_a_post_without_origin_or_fetch_metadata_is_refused(console: Console) -> None:
    async with console.signed_in() as client:
        del client.headers["Origin"]
        path = f"/console/tickets/{console.ids['ticket']}/close"
        assert (await client.post(path)).status_code == 403
        assert (await client.post(path, headers={"Sec-Fetch-Site": "same-origin"})).is_redirect


async def test_a_used_link_does_not_sign_in(console: Console) -> None:
    token = token_of(await console.link())
    async with console.client() as first, console.client() as second:
        assert (await first.post("/console/signin", data={"t": token})).status_code == 303
        again = await second.post("/console/signin", data={"t": token})
        assert again.status_code == 403 and "set-cookie" not in again.headers
        assert (await second.get("/console/inbox")).status_code == 303


async def test_an_expired_link_does_not_sign_in(console: Console) -> None:
    token = token_of(await console.link())
    console.clock.advance(minutes=5)
    async with console.client() as client:
        response = await client.post("/console/signin", data={"t": token})
        assert response.status_code == 403 and "set-cookie" not in response.headers


async def test_a_link_for_someone_not_staff_is_not_given(console: Console) -> None:
    code, output = await asyncio.to_thread(run_cli, console.url, "staff", "link", "999")
    assert code == 1 and "999 is not staff" in output


async def test_a_removed_staff_members_session_stops_at_once(console: Console) -> None:
    async with console.signed_in(MEMBER) as client:
        assert (await client.get("/console/inbox")).status_code == 200
        code, _ = await asyncio.to_thread(run_cli, console.url, "staff", "remove", str(MEMBER))
        assert code == 0
        assert (await client.get("/console/inbox")).status_code == 303
        # Made staff again, the old session stays revoked: a new link is needed.
        async with console.app.state.services.db.session() as session, session.begin():
            await add_staff(session, MEMBER, StaffRole.STAFF, actor="test", now=console.clock())
        assert (await client.get("/console/inbox")).status_code == 303


async def test_a_role_change_ends_the_session(console: Console) -> None:
    async with console.signed_in(MEMBER) as client:
        async with console.app.state.services.db.session() as session, session.begin():
            await add_staff(session, MEMBER, StaffRole.ADMIN, actor="test", now=console.clock())
        assert (await client.get("/console/inbox")).status_code == 303


async def test_sessions_end_when_idle_and_at_the_absolute_limit(console: Console) -> None:
    async with console.signed_in() as client:
        console.clock.advance(minutes=29)
        assert (await client.get("/console/inbox")).status_code == 200
        console.clock.advance(minutes=29)  # used 29 minutes ago: still alive
        assert (await client.get("/console/inbox")).status_code == 200
        console.clock.advance(minutes=31)
        assert (await client.get("/console/inbox")).status_code == 303
    async with console.signed_in() as client:
        for _ in range(12 * 3):  # busy all day, yet 12 hours is the most
            console.clock.advance(minutes=20)
            response = await client.get("/console/inbox")
        assert response.status_code == 303


async def test_sign_out_revokes_the_session(console: Console) -> None:
    async with console.signed_in() as client:
        cookie = next(iter(client.cookies.jar))
        assert (await client.post("/console/signout")).status_code == 303
        client.cookies.set(cookie.name, cookie.value or "")
        assert (await client.get("/console/inbox")).status_code == 303


async def test_sign_in_attempts_are_rate_limited(console: Console) -> None:
    async with console.client() as client:
        statuses = [
            (await client.post("/console/signin", data={"t": f"guess-{n}"})).status_code
            for n in range(12)
        ]
        assert statuses[:10] == [403] * 10 and statuses[10:] == [429, 429]
        token = token_of(await console.link())  # even a good link waits for the window
        assert (await client.post("/console/signin", data={"t": token})).status_code == 429
        console.clock.advance(minutes=5)
        token = token_of(await console.link())
        assert (await client.post("/console/signin", data={"t": token})).status_code == 303


async def test_sign_ins_are_audited(console: Console) -> None:
    async with console.signed_in():
        pass
    async with console.app.state.services.db.session() as session:
        actions = list(await session.scalars(select(AuditEntry.action)))
    assert "console.link" in actions and "console.signin" in actions


async def test_removed_and_added_back_before_the_next_request_still_ends_it(
    console: Console,
) -> None:
    async with console.signed_in(MEMBER) as client:
        console.clock.advance(seconds=1)
        async with console.app.state.services.db.session() as session, session.begin():
            now = console.clock()
            assert await remove_staff(session, MEMBER, actor="test", now=now)
            await add_staff(session, MEMBER, StaffRole.STAFF, actor="test", now=now)
        assert (await client.get("/console/inbox")).status_code == 303


async def test_what_patients_write_is_escaped(console: Console) -> None:
    async with console.app.state.services.db.session() as session, session.begin():
        patient = await session.get(Patient, console.ids["ana"])
        assert patient is not None
        patient.name = "<img src=x onerror=alert(1)>"
        message = await session.scalar(select(MessageLog))
        assert message is not None
        message.body = "<script>alert(1)</script>"
    async with console.signed_in() as client:
        for path in ("/console/inbox", f"/console/tickets/{console.ids['ticket']}"):
            page = (await client.get(path)).text
            assert "<script>alert" not in page and "<img src=x" not in page, path
            assert "&lt;" in page, path
