"""Fuzz both webhooks through the real app: never a 5xx, nothing stored from a rejected request."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
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

from bot import http_body
from bot.channels.sms.webhook import MAX_FIELDS
from bot.channels.telegram import TelegramOptions
from bot.channels.telegram.ratelimit import ChatPacer, ClinicRateLimiter
from bot.db.models import Base
from bot.db.session import Database
from bot.settings import Settings
from bot.web import create_app
from tests.conftest import FakeClock
from tests.sms_support import PUBLIC_URL, sign, sms_settings
from tests.sms_support import payload as sms_payload
from tests.staff_support import STAFF_CHAT, STAFF_USER, group_update
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
    app = create_app(settings, telegram=options, clock=clock)
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


# --- bounded bodies: slow, gone, deep, odd lengths ---------------------------------------------


async def asgi_post(
    app: Starlette, path: str, headers: dict[str, str], chunks: list[bytes], *, then: str
) -> list[dict[str, Any]]:
    """POST straight into the ASGI app: send `chunks`, then disconnect or stall; return sent."""
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks
    ]
    stalled = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        if then == "disconnect":
            return {"type": "http.disconnect"}
        await stalled.wait()  # a client that never sends the rest
        raise AssertionError("unreachable")

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("10.0.0.5", 8080),
    }
    await app(scope, receive, send)  # an exception here is a traceback in uvicorn's log
    return sent


def _status(sent: list[dict[str, Any]]) -> int:
    status: int = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status


WEBHOOKS = {
    "/sms/inbound": {"content-type": FORM, "x-twilio-signature": "sig"},
    "/sms/status": {"content-type": FORM, "x-twilio-signature": "sig"},
    "/telegram": {"content-type": "application/json", "x-telegram-bot-api-secret-token": SECRET},
}


@pytest.mark.parametrize("path", list(WEBHOOKS))
async def test_a_client_gone_mid_body_is_one_line_not_a_traceback(
    served: tuple[Starlette, httpx.AsyncClient], path: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = served
    before = await row_counts(app.state.services.db)
    sent = await asgi_post(app, path, WEBHOOKS[path], [b"From=%2B1503"], then="disconnect")
    assert _status(sent) == 400
    assert not [record for record in caplog.records if record.exc_info]
    assert await row_counts(app.state.services.db) == before


@pytest.mark.parametrize("path", list(WEBHOOKS))
async def test_a_body_trickled_too_slowly_is_refused_with_408(
    served: tuple[Starlette, httpx.AsyncClient], path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, _ = served
    monkeypatch.setattr(http_body, "BODY_SECONDS", 0.05)
    sent = await asgi_post(app, path, WEBHOOKS[path], [b"{"], then="stall")
    assert _status(sent) == 408


@pytest.mark.parametrize("length", ["abc", "\u00b2", "-1", "9" * 5000, "70000"])
@pytest.mark.parametrize("path", list(WEBHOOKS))
async def test_odd_content_lengths_are_refused_in_one_line(
    served: tuple[Starlette, httpx.AsyncClient], path: str, length: str
) -> None:
    app, _ = served
    headers = {**WEBHOOKS[path], "content-length": length}
    sent = await asgi_post(app, path, headers, [b"x"], then="disconnect")
    assert _status(sent) in (400, 413)


@pytest.mark.parametrize("depth", [500, 10_000, 100_000])
async def test_deeply_nested_telegram_json_is_a_400(
    served: tuple[Starlette, httpx.AsyncClient], depth: int
) -> None:
    _, client = served
    body = b"[" * depth + b"]" * depth
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    assert (await client.post("/telegram", content=body, headers=headers)).status_code == 400
    nested = b'{"update_id": 1, "message": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"
    assert (await client.post("/telegram", content=nested, headers=headers)).status_code == 400


@pytest.mark.parametrize("path", ["/sms/inbound", "/sms/status"])
async def test_more_form_fields_than_twilio_sends_are_refused_before_signing(
    served: tuple[Starlette, httpx.AsyncClient], path: str
) -> None:
    _, client = served
    fields = [*sms_payload("inbound"), *((f"X{i}", "") for i in range(MAX_FIELDS))]
    headers = {"content-type": FORM, "x-twilio-signature": sign(PUBLIC_URL + path, fields)}
    response = await client.post(path, content=urlencode(fields), headers=headers)
    assert response.status_code == 413
    assert response.text == f"more than {MAX_FIELDS} form fields"


# --- hostile values in signed requests, on SQLite and PostgreSQL --------------------------------
# Signed requests reach the handlers and the database: what a captured-and-edited request or an
# odd real one can carry (NUL, odd ids, other channels' senders, huge numbers) must be answered
# or refused in one line, never a 5xx, a traceback or a handler that fails without a reply.


@pytest.fixture
async def served_staff(
    database_url: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient, FakeBotApi]]:
    api = FakeBotApi()
    settings = both_channels(
        database_url,
        staff_chat_id=STAFF_CHAT,
        staff_telegram_ids=str(STAFF_USER),
        store_message_bodies=True,
    )
    async with running_app(settings, api, clock) as (app, client):
        yield app, client, api
    assert api.violations == [], api.violations
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures == []  # PTB logs a failed handler here (its reply never went out)
    assert not [r for r in caplog.records if r.exc_info]


# Each runs on both databases: fewer examples each, the same inputs covered.
HOSTILE = settings(EXAMPLES, max_examples=30)
_update_ids = itertools.count(500_000_001)
odd_text = st.text(max_size=40) | st.sampled_from(["\x00", "a\x00b", "\u00b2", "\ud800", " "])
sids = st.one_of(
    st.just("SM" + "0" * 32),
    st.from_regex(r"\A[A-Z]{2}[0-9a-f]{32}\Z"),
    st.sampled_from(["", "SM", "SM" + "0" * 31, "SM" + "0" * 40, "SM\x00" + "0" * 31]),
    odd_text,
)
senders = st.one_of(
    st.sampled_from(["+15035550199", "whatsapp:+15035550199", "messenger:123", "+1\x00503"]),
    st.sampled_from(["tel:+15035550199", " whatsapp:+1", "WhatsApp:+15035550199", ""]),
    odd_text,
)
numbers = st.integers(min_value=0, max_value=10**40).map(str) | st.sampled_from(
    ["\u00b2", "\u0661\u0662", "3000000000", "9" * 4400, "-1", "1e30"]
)


@HOSTILE
@given(
    path=st.sampled_from(["/sms/inbound", "/sms/status"]),
    sid=sids,
    others=st.lists(st.tuples(st.sampled_from(["SmsSid", "SmsMessageSid"]), sids), max_size=2),
    sender=senders,
    body=odd_text | st.text(max_size=300),
    code=numbers | odd_text,
    extra=st.integers(min_value=0, max_value=150),
)
async def test_signed_sms_with_hostile_values_never_fail(
    served_staff: tuple[Starlette, httpx.AsyncClient, FakeBotApi],
    path: str,
    sid: str,
    others: list[tuple[str, str]],
    sender: str,
    body: str,
    code: str,
    extra: int,
) -> None:
    app, client, _ = served_staff
    fields = [
        *((k, v) for k, v in sms_payload("inbound") if k not in ("MessageSid", "SmsSid")),
        ("MessageSid", sid),
        *others,
        ("From", sender),
        ("To", sender),
        ("Body", body),
        ("MessageStatus", "delivered"),
        ("ErrorCode", code),
        *((f"X{i}", "") for i in range(extra)),
    ]
    fields = [(k, v) for k, v in fields if k != "SmsMessageSid" or others]
    # A form is UTF-8 on the wire: a lone surrogate cannot be sent (Telegram's JSON can).
    fields = [(k, v.encode("utf-8", "replace").decode()) for k, v in fields]
    headers = {"content-type": FORM, "x-twilio-signature": sign(PUBLIC_URL + path, fields)}
    before = await row_counts(app.state.services.db)
    response = await client.post(path, content=urlencode(fields), headers=headers)
    assert response.status_code in (200, 204, 400, 413), response.text
    if response.status_code >= 400:
        assert "\n" not in response.text.strip()
        assert await row_counts(app.state.services.db) == before


@HOSTILE
@given(first_name=odd_text | st.text(min_size=1, max_size=64), text=odd_text)
async def test_telegram_names_and_texts_with_nul_are_answered(
    served_staff: tuple[Starlette, httpx.AsyncClient, FakeBotApi], first_name: str, text: str
) -> None:
    _, client, api = served_staff
    update = payload("private_text", text=text or "hi", update_id=next(_update_ids))
    update["message"]["from"]["first_name"] = first_name
    update["message"]["chat"]["first_name"] = first_name
    before = len(api.sent())
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    body = json.dumps(update).encode()  # ASCII with \u escapes: a lone surrogate survives
    response = await client.post("/telegram", content=body, headers=headers)
    assert response.status_code == 200
    assert len(api.sent()) > before  # answered, whatever the name holds


@HOSTILE
@given(argument=numbers | odd_text)
async def test_staff_close_with_any_argument_gets_a_one_line_reply(
    served_staff: tuple[Starlette, httpx.AsyncClient, FakeBotApi], argument: str
) -> None:
    _, client, api = served_staff
    text = f"/close {argument}"[:4096]
    update = group_update(next(_update_ids), text)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    response = await client.post("/telegram", content=json.dumps(update), headers=headers)
    assert response.status_code == 200
    replies = [c.text for c in api.sent() if int(c.params["chat_id"]) == STAFF_CHAT]
    assert replies and "\n" not in replies[-1]
