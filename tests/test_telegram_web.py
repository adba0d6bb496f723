"""`clinicbot run` wiring: the webhook (secret checked first), polling, commands at start-up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from bot.channels.telegram import TelegramOptions
from bot.channels.telegram.ratelimit import ChatPacer, ClinicRateLimiter
from bot.db.patients import find_or_create_patient
from bot.settings import load_settings
from bot.web import create_app
from handlers.messages import Channel
from tests.conftest import FakeClock
from tests.telegram_fake import BASE_URL, TOKEN, FakeBotApi, FakeMonotonic, payload

SECRET = "webhook-secret-123"
STAFF_CHAT = -1001234567890


def _options(api: FakeBotApi, clock: FakeClock) -> TelegramOptions:
    monotonic = FakeMonotonic()
    limiter = ClinicRateLimiter(
        overall_max_rate=0, pacer=ChatPacer(clock=monotonic, sleep=monotonic.sleep)
    )
    return TelegramOptions(request=api, clock=clock, sleep=monotonic.sleep, rate_limiter=limiter)


async def _started(app: Starlette) -> Any:
    runtime = app.state.telegram
    await asyncio.wait_for(runtime.ready.wait(), timeout=30)
    return runtime


@pytest.fixture
def api() -> FakeBotApi:
    return FakeBotApi()


@pytest.fixture
async def webhook_client(
    tmp_path: Path, api: FakeBotApi, clock: FakeClock
) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'web.db'}",
        telegram_bot_token=TOKEN,
        telegram_base_url=BASE_URL,
        public_url="https://clinic.example/",
        telegram_webhook_secret=SECRET,
    )
    app = create_app(settings, telegram=_options(api, clock), clock=clock)
    async with app.router.lifespan_context(app):
        await _started(app)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://clinic.example") as c:
            yield c
    assert api.violations == [], api.violations


async def test_start_up_registers_commands_and_the_webhook(
    webhook_client: httpx.AsyncClient, api: FakeBotApi
) -> None:
    commands = api.sent("setMyCommands")
    assert [c.params.get("language_code") for c in commands] == [None, "es"]
    assert any(cmd["command"] == "forget" for cmd in commands[0].params["commands"])
    [hook] = api.sent("setWebhook")
    assert hook.params["url"] == "https://clinic.example/telegram"
    assert hook.params["secret_token"] == SECRET


@pytest.mark.parametrize("header", [None, "", "wrong-secret", SECRET + "x"])
async def test_requests_without_the_secret_are_refused_before_parsing(
    webhook_client: httpx.AsyncClient, api: FakeBotApi, header: str | None
) -> None:
    headers = {} if header is None else {"X-Telegram-Bot-Api-Secret-Token": header}
    response = await webhook_client.post("/telegram", content=b"not json", headers=headers)
    assert response.status_code == 403
    assert api.sent() == []


async def test_a_webhook_update_is_answered(
    webhook_client: httpx.AsyncClient, api: FakeBotApi
) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    bad = await webhook_client.post("/telegram", content=b"{oops", headers=headers)
    assert bad.status_code == 400
    response = await webhook_client.post(
        "/telegram", json=payload("command_start"), headers=headers
    )
    assert response.status_code == 200
    assert len(api.sent()) == 2  # the welcome and the first question
    again = await webhook_client.post("/telegram", json=payload("command_start"), headers=headers)
    assert again.status_code == 200 and len(api.sent()) == 2  # Telegram's resend: no reply


async def test_polling_without_a_public_url(
    tmp_path: Path, api: FakeBotApi, clock: FakeClock
) -> None:
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'poll.db'}",
        telegram_bot_token=TOKEN,
        telegram_base_url=BASE_URL,
    )
    api.updates.append(payload("private_text"))
    app = create_app(settings, telegram=_options(api, clock), clock=clock)
    async with app.router.lifespan_context(app):
        await _started(app)
        await asyncio.wait_for(api.replied.wait(), timeout=30)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
            assert (await client.post("/telegram")).status_code == 404  # no webhook route
    methods = [c.method for c in api.calls]
    assert "deleteWebhook" in methods and "getUpdates" in methods
    assert "cupping" in api.sent()[0].text.lower()
    assert api.violations == [], api.violations


async def test_an_unreachable_telegram_does_not_block_start_up(
    tmp_path: Path, api: FakeBotApi, clock: FakeClock
) -> None:
    for _ in range(3):
        api.fail("getMe", 502, "Bad Gateway")
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'down.db'}",
        telegram_bot_token=TOKEN,
        telegram_base_url=BASE_URL,
    )
    app = create_app(settings, telegram=_options(api, clock), clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
            assert (await client.get("/healthz")).status_code == 200
        await _started(app)  # connected after the retries
    assert [c.method for c in api.calls].count("getMe") == 4


async def test_a_red_flag_raised_while_telegram_connects_reaches_staff_once_it_does(
    tmp_path: Path, api: FakeBotApi, clock: FakeClock
) -> None:
    api.fail("getMe", 502, "Bad Gateway")
    reconnect = asyncio.Event()

    async def held(seconds: float) -> None:  # the connect retry waits for the test
        await reconnect.wait()

    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'late.db'}",
        telegram_bot_token=TOKEN,
        telegram_base_url=BASE_URL,
        staff_chat_id=STAFF_CHAT,
    )
    app = create_app(settings, telegram=replace(_options(api, clock), sleep=held), clock=clock)
    async with app.router.lifespan_context(app):
        services = app.state.services
        async with services.db.session() as session, session.begin():
            patient, _, _ = await find_or_create_patient(session, "tel:+15035550142", now=clock())
        alerts = services.conversation.alerts
        await alerts.red_flag(patient_id=patient.id, category="emergency", channel=Channel.SMS)
        assert not [c for c in api.calls if c.method == "sendMessage"]  # not connected yet
        reconnect.set()
        await asyncio.wait_for(app.state.telegram._task, timeout=30)  # connected, then flushed
        posts = [c for c in api.calls if c.method == "sendMessage"]
    assert [(c.params["chat_id"], "Red flag (emergency)" in c.text) for c in posts] == [
        (STAFF_CHAT, True)
    ]
