"""Fuzz both webhooks through the real app: never a 5xx, nothing stored from a rejected request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from starlette.applications import Starlette

from bot.channels.telegram import TelegramOptions
from bot.channels.telegram.ratelimit import ChatPacer, ClinicRateLimiter
from bot.db.models import Base
from bot.db.session import Database
from bot.settings import Settings
from bot.web import create_app
from tests.conftest import FakeClock
from tests.sms_support import PUBLIC_URL, sign, sms_settings
from tests.telegram_fake import BASE_URL, TOKEN, FakeBotApi, FakeMonotonic, payload

SECRET = "fuzz-webhook-secret"
FORM = "application/x-www-form-urlencoded"
EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def both_channels(database_url: str, **overrides: object) -> Settings:
    """Settings for an app serving the Telegram webhook and Twilio SMS, scheduler off."""
    values: dict[str, object] = {
        "telegram_bot_token": TOKEN,
        "telegram_base_url": BASE_URL,
        "telegram_webhook_secret": SECRET,
        "scheduler_enabled": False,
    }
    values.update(overrides)
    return sms_settings(database_url, **values)


@asynccontextmanager
async def running_app(
    settings: Settings, api: FakeBotApi, clock: FakeClock
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """Start the real app (lifespan and all) over the fake Bot API; yield it and a client."""
    monotonic = FakeMonotonic()
    limiter = ClinicRateLimiter(
        overall_max_rate=0,
        pacer=ChatPacer(clock=monotonic, sleep=monotonic.sleep),
        sleep=monotonic.sleep,
    )
    options = TelegramOptions(
        request=api, clock=clock, sleep=monotonic.sleep, rate_limiter=limiter
    )
    app = create_app(settings, telegram=options)
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(app.state.telegram.ready.wait(), timeout=30)
        transport = httpx.ASGITransport(app=app)  # app exceptions propagate into the test
        async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.5:8080") as c:
            yield app, c


async def row_counts(db: Database) -> dict[str, int]:
    """Count the rows of every table."""
    counts = {}
    async with db.session() as session:
        for table in Base.metadata.sorted_tables:
            counts[table.name] = int(
                await session.scalar(select(func.count()).select_from(table)) or 0
            )
    return counts


@pytest.fixture
async def served(tmp_path: Path, clock: FakeClock) -> AsyncIterator[tuple[Starlette, Any]]:
    api = FakeBotApi()
    settings = both_channels(f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}")
    async with running_app(settings, api, clock) as (app, client):
        yield app, client
    assert api.violations == [], api.violations


# --- strategies ------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
message_fields = st.fixed_dictionaries(
    {},
    optional={
        "message_id": st.integers() | st.text(max_size=5),
        "date": st.integers(min_value=0, max_value=2**31) | st.text(max_size=5),
        "text": st.text(max_size=300),
        "chat": st.fixed_dictionaries(
            {
                "id": st.integers(min_value=-(2**40), max_value=2**40),
                "type": st.sampled_from(["private", "group", "supergroup", "channel", "zzz"]),
            }
        )
        | json_values,
        "from": json_values,
        "contact": st.fixed_dictionaries(
            {"phone_number": st.text(max_size=20), "first_name": st.text(max_size=10)}
        )
        | json_values,
        "entities": json_values,
    },
)
updates = st.one_of(
    # shaped like an update, with random or missing fields
    st.fixed_dictionaries(
        {"update_id": st.integers(min_value=-(2**40), max_value=2**40)},
        optional={
            "message": message_fields | json_values,
            "edited_message": message_fields,
            "callback_query": json_values,
        },
    ),
    # a real captured update with random text
    st.builds(
        lambda text, uid: payload("private_text", text=text, update_id=uid),
        st.text(min_size=1, max_size=500),
        st.integers(min_value=1, max_value=2**40),
    ),
    json_values,
)
telegram_bodies = st.one_of(
    updates.map(lambda data: json.dumps(data).encode()),
    st.binary(max_size=2000),
    st.text(max_size=500).map(lambda text: text.encode("utf-8", "surrogatepass")),
)
content_types = st.sampled_from(
    [
        None,
        "application/json",
        FORM,
        "text/plain",
        "multipart/form-data; boundary=x",
        "\u00e9/\u00e9",
    ]
)
secrets = st.one_of(st.just(SECRET), st.none(), st.text(max_size=40))
form_fields = st.lists(
    st.tuples(
        st.sampled_from(
            ["From", "To", "Body", "MessageSid", "MessageStatus", "ErrorCode", "SmsSid"]
        )
        | st.text(max_size=12),
        st.text(max_size=200)
        | st.sampled_from(["+15035550199", "5035550199", "+1503", "", "delivered", "30003"]),
    ),
    max_size=8,
)


def _header_safe(value: str) -> str:
    return value.encode("ascii", "ignore").decode().replace("\r", "").replace("\n", "")


# --- Telegram --------------------------------------------------------------------------------


@EXAMPLES
@given(body=telegram_bodies, secret=secrets, content_type=content_types)
async def test_telegram_webhook_survives_anything(
    served: tuple[Starlette, httpx.AsyncClient],
    body: bytes,
    secret: str | None,
    content_type: str | None,
) -> None:
    app, client = served
    headers: dict[str, str | bytes] = {}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = _header_safe(secret)
    if content_type is not None:
        headers["content-type"] = content_type.encode("utf-8")
    before = await row_counts(app.state.services.db)
    response = await client.post("/telegram", content=body, headers=headers)
    assert response.status_code < 500
    if headers.get("X-Telegram-Bot-Api-Secret-Token") != SECRET:
        assert response.status_code == 403
    if response.status_code >= 400:
        assert await row_counts(app.state.services.db) == before


@pytest.mark.parametrize("size", [1_100_000, 8_000_000])
async def test_huge_telegram_bodies_are_refused_by_size(
    served: tuple[Starlette, httpx.AsyncClient], size: int
) -> None:
    app, client = served
    before = await row_counts(app.state.services.db)
    body = json.dumps(payload("private_text", text="x" * size)).encode()
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    response = await client.post("/telegram", content=body, headers=headers)
    assert response.status_code == 413
    unsigned = await client.post("/telegram", content=body)
    assert unsigned.status_code == 403
    assert await row_counts(app.state.services.db) == before


# --- SMS -------------------------------------------------------------------------------------


@EXAMPLES
@given(
    path=st.sampled_from(["/sms/inbound", "/sms/status"]),
    fields=form_fields,
    signed=st.sampled_from(["signed", "unsigned", "forged"]),
    content_type=content_types,
)
async def test_sms_webhooks_survive_anything(
    served: tuple[Starlette, httpx.AsyncClient],
    path: str,
    fields: list[tuple[str, str]],
    signed: str,
    content_type: str | None,
) -> None:
    app, client = served
    content_type = FORM if content_type is None else content_type
    headers = {"content-type": content_type.encode("utf-8")}
    if signed == "signed":
        headers["x-twilio-signature"] = sign(PUBLIC_URL + path, fields)
    elif signed == "forged":
        headers["x-twilio-signature"] = sign(PUBLIC_URL + path, fields, token="not-the-token")
    before = await row_counts(app.state.services.db)
    response = await client.post(path, content=urlencode(fields), headers=headers)
    assert response.status_code < 500
    if signed != "signed":
        assert response.status_code in (403, 415)
    if response.status_code >= 400:
        assert await row_counts(app.state.services.db) == before


@EXAMPLES
@given(body=st.binary(max_size=3000), path=st.sampled_from(["/sms/inbound", "/sms/status"]))
async def test_sms_webhooks_survive_raw_bytes(
    served: tuple[Starlette, httpx.AsyncClient], body: bytes, path: str
) -> None:
    app, client = served
    before = await row_counts(app.state.services.db)
    signature = "sig"
    response = await client.post(
        path, content=body, headers={"content-type": FORM, "x-twilio-signature": signature}
    )
    assert response.status_code in (400, 403)
    assert await row_counts(app.state.services.db) == before


@pytest.mark.parametrize("path", ["/sms/inbound", "/sms/status"])
@pytest.mark.parametrize("size", [70_000, 5_000_000])
async def test_huge_sms_bodies_are_refused_by_size(
    served: tuple[Starlette, httpx.AsyncClient], path: str, size: int
) -> None:
    app, client = served
    before = await row_counts(app.state.services.db)
    fields = [("From", "+15035550199"), ("Body", "y" * size)]
    headers = {"content-type": FORM, "x-twilio-signature": sign(PUBLIC_URL + path, fields)}
    response = await client.post(path, content=urlencode(fields), headers=headers)
    assert response.status_code == 413
    assert await row_counts(app.state.services.db) == before
