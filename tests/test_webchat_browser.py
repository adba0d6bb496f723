"""Web chat in a real browser: Debian's Chromium through Playwright, the app on loopback."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from handlers.conversation.answer import Answerer
from tests.browser_support import axe_serious, launch_chromium, outside_requests, serve
from tests.test_webchat_http import RED_FLAG, webchat_app, webchat_settings

QUESTION = "does acupuncture hurt"
WAIT = 20_000  # ms: a generous bound for the loaded CI machine, not a speed assertion
# Keep-alives (and the catch-up poll that rides on them) far apart, so what the browser shows
# comes from the replay on connect and the live lines, not from a poll.
QUIET = 600.0


def plain_start(answerer: Answerer, text: str) -> str:
    """Return the first sentence-ish of the reply the core gives, as a browser shows it."""
    reply = answerer.answer(text, None).text
    first = next(block for block in reply.split("\n\n") if block.strip() and "**" not in block)
    return re.sub(r"\*\*(.+?)\*\*", r"\1", first).strip()[:60]


def chats_in(folder: Path) -> int:
    with sqlite3.connect(folder / "webchat.db") as connection:
        return int(connection.execute("SELECT count(*) FROM webchat_chats").fetchone()[0])


def embed_site() -> Starlette:
    """Another website that embeds the widget from the bot's address (`?bot=`)."""

    async def page(request: Request) -> HTMLResponse:
        bot = request.query_params["bot"]
        return HTMLResponse(
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Clinic site</title>'
            "</head><body><main><h1>Our clinic</h1></main>"
            '<clinic-chat heading="Chat with the clinic"></clinic-chat>'
            f'<script src="{bot}/webchat/widget.js" defer></script></body></html>'
        )

    return Starlette(routes=[Route("/embed", page)])


@pytest.fixture
def browser() -> Iterator[Any]:
    with launch_chromium() as chromium:
        yield chromium


def open_chat(page: Any) -> Any:
    """Open the chat with the keyboard only; return the dialog."""
    page.keyboard.press("Tab")
    launcher = page.get_by_role("button", name="Chat with us")
    assert launcher.evaluate("b => b.getRootNode().activeElement === b")
    assert launcher.get_attribute("aria-expanded") == "false"
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Chat with the clinic")
    dialog.wait_for(state="visible")
    assert launcher.get_attribute("aria-expanded") == "true"
    return dialog


def ask(page: Any, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")


def test_a_visitor_asks_gets_answers_and_an_emergency_reply_and_keeps_the_history(
    browser: Any, tmp_path: Path, answerer: Answerer
) -> None:
    app, _ = webchat_app(webchat_settings(tmp_path), keepalive=QUIET)
    with serve(app) as base:
        page = browser.new_page(viewport={"width": 360, "height": 740})
        outside = outside_requests(page, base)
        page.goto(f"{base}/webchat/demo")
        dialog = open_chat(page)
        textbox = page.get_by_role("textbox", name="Message")
        assert textbox.evaluate("t => t.getRootNode().activeElement === t")  # focus moved in

        ask(page, QUESTION)
        log = page.get_by_role("log", name="Conversation")
        answer = plain_start(answerer, QUESTION)
        log.get_by_text(answer).wait_for(timeout=WAIT)
        assert "**" not in log.inner_text()  # Markdown rendered, not shown
        assert log.locator("strong").count() >= 1
        options = log.get_by_role("group", name="Suggested replies").first
        label = answerer.answer(QUESTION, None).options[0].label
        options.get_by_role("button", name=label).wait_for()

        ask(page, RED_FLAG)
        alert = page.get_by_role("alert")
        alert.wait_for(timeout=WAIT)
        assert "911" in alert.inner_text()
        assert "Urgent" in alert.inner_text()

        # The whole thing fits a 360 px screen: no sideways scrolling, the dialog on screen.
        box = dialog.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360
        assert page.evaluate("document.documentElement.scrollWidth") <= 360

        # Linking to a record: a labelled form; an unknown number gets the neutral answer.
        page.get_by_role("button", name="Already a patient? Link this chat").click()
        phone = page.get_by_role("textbox", name="Your phone number")
        phone.fill("+1 503 555 0199")
        phone.press("Enter")
        page.get_by_role("status").get_by_text("a code is on its way").wait_for(timeout=WAIT)
        assert page.get_by_role("textbox", name="Code").evaluate(
            "t => t.getRootNode().activeElement === t"
        )

        assert axe_serious(page) == []

        page.keyboard.press("Escape")
        dialog.wait_for(state="hidden")
        launcher = page.get_by_role("button", name="Chat with us")
        assert launcher.evaluate("b => b.getRootNode().activeElement === b")

        page.reload()
        open_chat(page)
        log = page.get_by_role("log", name="Conversation")
        log.get_by_text(answer).wait_for(timeout=WAIT)
        assert QUESTION in log.inner_text()
        assert "911" in page.get_by_role("alert").inner_text()
        assert log.locator(".line").count() == 4  # two questions, two replies, once each
        assert outside == []
        page.close()


def test_a_cut_event_stream_replays_the_missed_replies_from_the_database(
    browser: Any, tmp_path: Path, answerer: Answerer
) -> None:
    # Streams end every 2 s (as a proxy's idle timeout would): the widget must reconnect.
    app, _ = webchat_app(webchat_settings(tmp_path), keepalive=QUIET, lifetime=2.0)
    with serve(app) as base:
        page = browser.new_page()
        reconnects: list[str | None] = []
        page.on(
            "request",
            lambda r: (
                "/webchat/events" in r.url and reconnects.append(r.headers.get("last-event-id"))
            ),
        )
        page.goto(f"{base}/webchat/demo")
        open_chat(page)
        ask(page, "hello")
        log = page.get_by_role("log", name="Conversation")
        log.locator(".clinic").first.wait_for(timeout=WAIT)

        # Cut: every new connection to the stream fails, and the open one ends.
        page.route("**/webchat/events", lambda route: route.abort())
        page.get_by_role("status").get_by_text("Reconnecting").wait_for(timeout=WAIT)

        # Meanwhile the same visitor writes from elsewhere: lines stored, never streamed.
        token = page.evaluate(
            "Object.entries(localStorage).find(([k]) => k.startsWith('clinicbot-webchat'))[1]"
        )
        posted = httpx.post(
            f"{base}/webchat/messages",
            json={"client_id": "elsewhere-0001", "text": QUESTION},
            headers={"origin": base, "x-webchat-token": token},
        )
        assert posted.status_code == 200, posted.text
        assert QUESTION not in log.inner_text()

        page.unroute("**/webchat/events")
        log.get_by_text(plain_start(answerer, QUESTION)).wait_for(timeout=WAIT)
        assert QUESTION in log.inner_text()
        assert page.get_by_role("status").inner_text() == ""
        assert any(last and int(last) > 0 for last in reconnects)  # asked for what it missed
        assert log.locator(".line").count() == 4  # nothing replayed twice
        page.close()


def test_only_allowed_sites_can_start_a_chat(
    browser: Any, tmp_path: Path, answerer: Answerer
) -> None:
    with serve(embed_site()) as site:
        allowed = site.replace("127.0.0.1", "localhost")  # another origin, same server
        settings = webchat_settings(tmp_path, webchat_allowed_origins=allowed)
        app, _ = webchat_app(settings, keepalive=QUIET)
        with serve(app) as base:
            page = browser.new_page()
            page.goto(f"{site}/embed?bot={base}")  # http://127.0.0.1:...: not allowed
            page.get_by_role("button", name="Chat with the clinic").click()
            ask(page, QUESTION)
            status = page.get_by_role("status")
            status.get_by_text("not available").wait_for(timeout=WAIT)
            assert chats_in(tmp_path) == 0

            other = browser.new_page()
            outside = outside_requests(other, base)
            other.goto(f"{allowed}/embed?bot={base}")
            other.get_by_role("button", name="Chat with the clinic").click()
            ask(other, QUESTION)
            other.get_by_role("log").get_by_text(plain_start(answerer, QUESTION)).wait_for(
                timeout=WAIT
            )
            assert chats_in(tmp_path) == 1
            assert [url for url in outside if not url.startswith(allowed)] == []
            page.close()
            other.close()
