"""Web chat over plain HTTP (httpx's ASGI transport): identity, transport and abuse limits."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette

from bot.channels.base import SendStatus
from bot.channels.webchat import WebChatChannel
from bot.channels.webchat.identity import token_hash
from bot.db.models import Address, MessageLog, Patient, WebChat, WebChatMessage
from bot.db.session import Database
from bot.errors import ConfigError
from bot.settings import Settings, load_settings
from bot.web import create_app
from handlers.messages import OutboundMessage, ReplyKind

OWN = "http://testserver"
ALLOWED = "https://clinic.example"
RED_FLAG = "I can't feel my legs and I wet myself"


class Ticks:
    """A monotonic clock the test moves by hand (the limits' time)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def webchat_settings(folder: Path, **extra: Any) -> Settings:
    """Settings with only web chat on, SQLite in `folder`, the scheduler off."""
    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{folder / 'webchat.db'}",
        "webchat_enabled": True,
        "webchat_allowed_origins": ALLOWED,
        "scheduler_enabled": False,
        **extra,
    }
    return load_settings(**values)


def webchat_app(settings: Settings, **options: Any) -> tuple[Starlette, WebChatChannel]:
    """Build the real app (bot.web) around a web chat channel built with `options`."""
    channel = WebChatChannel(settings, **options)
    return create_app(settings, webchat=channel, clock=options.get("clock")), channel


@asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and yield a client on httpx's ASGI transport."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
        async with httpx.AsyncClient(transport=transport, base_url=OWN) as client:
            yield client


async def start_chat(client: httpx.AsyncClient, origin: str = OWN) -> str:
    response = await client.post("/webchat/chats", headers={"origin": origin})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


async def say(
    client: httpx.AsyncClient, token: str, text: str, client_id: str, origin: str = OWN
) -> httpx.Response:
    return await client.post(
        "/webchat/messages",
        json={"client_id": client_id, "text": text},
        headers={"origin": origin, "x-webchat-token": token},
    )


def events(body: str) -> list[tuple[int, dict[str, Any]]]:
    """Parse a server-sent event stream into (id, data) pairs."""
    found = []
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in fields:
            found.append((int(fields["id"]), json.loads(fields["data"])))
    return found


async def stream(client: httpx.AsyncClient, token: str, last: int | None = None) -> str:
    headers = {"x-webchat-token": token}
    if last is not None:
        headers["last-event-id"] = str(last)
    response = await client.get("/webchat/events", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return response.text


async def count(db: Database, model: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return webchat_settings(tmp_path)


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
async def client_and_channel(
    settings: Settings, ticks: Ticks
) -> AsyncIterator[tuple[httpx.AsyncClient, WebChatChannel]]:
    # Streams end quickly here: the ASGI transport returns a response once it is complete.
    app, channel = webchat_app(settings, monotonic=ticks, keepalive=0.05, lifetime=0.3)
    async with running(app) as client:
        yield client, channel


@pytest.fixture
def client(client_and_channel: tuple[httpx.AsyncClient, WebChatChannel]) -> httpx.AsyncClient:
    return client_and_channel[0]


def database(client: httpx.AsyncClient) -> Database:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app: Any = transport.app
    db: Database = app.state.services.db
    return db


async def test_a_visitor_gets_a_token_and_no_patient_row_until_the_first_message(
    client: httpx.AsyncClient,
) -> None:
    db = database(client)
    token = await start_chat(client)
    assert await count(db, WebChat) == 1
    assert await count(db, Patient) == 0  # opening a chat is not being a patient
    async with db.session() as session:
        stored = await session.scalar(select(WebChat.token_hash))
    assert stored == token_hash(token) and token not in str(stored)  # the token is not stored

    response = await say(client, token, "does acupuncture hurt", "msg-00000001")
    assert response.status_code == 200, response.text
    assert await count(db, Patient) == 1
    async with db.session() as session:
        urns = list(await session.scalars(select(Address.urn)))
        channels = set(await session.scalars(select(MessageLog.channel)))
    assert urns == [f"web:{token_hash(token)}"]
    assert channels == {"web"}


async def test_replies_stream_as_events_whose_ids_replay_what_was_missed(
    client: httpx.AsyncClient,
) -> None:
    token = await start_chat(client)
    first = (await say(client, token, "does acupuncture hurt", "msg-00000001")).json()
    body = await stream(client, token)
    assert "retry: " in body and ": keep-alive" in body
    lines = events(body)
    assert [line_id for line_id, _ in lines] == [first["id"], *first["replies"]]
    visitor, reply = lines[0][1], lines[1][1]
    assert visitor == {
        "id": first["id"],
        "from": "visitor",
        "client_id": "msg-00000001",
        "text": "does acupuncture hurt",
    }
    assert reply["from"] == "clinic" and reply["kind"] == "faq" and reply["text"]

    second = (await say(client, token, "what is cupping", "msg-00000002")).json()
    missed = events(await stream(client, token, last=lines[-1][0]))
    assert [line_id for line_id, _ in missed] == [second["id"], *second["replies"]]
    assert missed[0][1]["text"] == "what is cupping"


async def test_a_red_flag_comes_back_as_a_red_flag_reply_with_the_emergency_number(
    client: httpx.AsyncClient,
) -> None:
    token = await start_chat(client)
    await say(client, token, RED_FLAG, "msg-00000001")
    reply = events(await stream(client, token))[-1][1]
    assert reply["kind"] == ReplyKind.RED_FLAG
    assert "911" in reply["text"]


async def test_a_retried_post_is_answered_once(client: httpx.AsyncClient) -> None:
    token = await start_chat(client)
    first = await say(client, token, "what is cupping", "msg-00000001")
    again = await say(client, token, "what is cupping", "msg-00000001")
    assert first.json()["replies"] and again.json() == {"duplicate": True}
    assert await count(database(client), WebChatMessage) == 2  # one in, one out


async def test_a_button_posts_its_payload(client: httpx.AsyncClient) -> None:
    token = await start_chat(client)
    await say(client, token, "does acupuncture hurt", "msg-00000001")
    lines = events(await stream(client, token))
    options = [o for _, line in lines for o in line.get("options", [])]
    assert options[0]["payload"].startswith("more:"), options  # the short answer's "More"
    response = await client.post(
        "/webchat/messages",
        json={"client_id": "msg-00000002", "text": options[0]["label"], **options[0]},
        headers={"origin": OWN, "x-webchat-token": token},
    )
    assert response.status_code == 200, response.text
    last = events(await stream(client, token, last=lines[-1][0]))
    assert last[0][1]["payload"] == options[0]["payload"]
    assert last[1][1]["kind"] == ReplyKind.FAQ


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "https://clinic.example.evil"])
async def test_another_site_cannot_start_a_chat_or_post(
    client: httpx.AsyncClient, origin: str
) -> None:
    response = await client.post("/webchat/chats", headers={"origin": origin})
    assert response.status_code == 403
    assert response.json() == {"error": "this site is not allowed to use the clinic's chat"}
    assert "access-control-allow-origin" not in response.headers
    preflight = await client.options(
        "/webchat/messages",
        headers={"origin": origin, "access-control-request-method": "POST"},
    )
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers
    token = await start_chat(client)
    posted = await say(client, token, "hello", "msg-00000001", origin=origin)
    assert posted.status_code == 403
    assert await count(database(client), Patient) == 0


async def test_a_request_without_origin_cannot_start_a_chat(client: httpx.AsyncClient) -> None:
    response = await client.post("/webchat/chats")
    assert response.status_code == 403


async def test_an_allowed_site_gets_cors_headers_for_the_chat_only(
    client: httpx.AsyncClient,
) -> None:
    preflight = await client.options(
        "/webchat/messages",
        headers={
            "origin": ALLOWED,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type, x-webchat-token",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ALLOWED
    assert "x-webchat-token" in preflight.headers["access-control-allow-headers"]
    token = await start_chat(client, origin=ALLOWED)
    posted = await say(client, token, "what is cupping", "msg-00000001", origin=ALLOWED)
    assert posted.status_code == 200
    assert posted.headers["access-control-allow-origin"] == ALLOWED
    health = await client.get("/healthz", headers={"origin": ALLOWED})
    assert "access-control-allow-origin" not in health.headers  # nothing else is readable


async def test_chats_started_per_ip_per_minute_are_limited(
    client: httpx.AsyncClient, ticks: Ticks
) -> None:
    for _ in range(10):
        await start_chat(client)
    refused = await client.post("/webchat/chats", headers={"origin": OWN})
    assert refused.status_code == 429
    assert refused.json() == {"error": "too many chats started from here; wait a minute"}
    assert 1 <= int(refused.headers["retry-after"]) <= 61
    assert await count(database(client), WebChat) == 10
    ticks.now += 60
    await start_chat(client)


async def test_messages_per_chat_per_second_are_limited(
    client: httpx.AsyncClient, ticks: Ticks
) -> None:
    token, other = await start_chat(client), await start_chat(client)
    statuses = [(await say(client, token, "hi", f"msg-{i:08d}")).status_code for i in range(6)]
    assert statuses == [200] * 5 + [429]
    assert (await say(client, other, "hi", "msg-00000001")).status_code == 200  # per chat
    ticks.now += 0.5  # two messages a second refill
    assert (await say(client, token, "hi", "msg-00000010")).status_code == 200
    refused = await say(client, token, "hi", "msg-00000011")
    assert refused.json() == {"error": "too many messages; wait a moment"}


async def test_a_body_over_4_kb_is_refused_with_one_line(client: httpx.AsyncClient) -> None:
    token = await start_chat(client)
    headers = {"origin": OWN, "x-webchat-token": token, "content-type": "application/json"}
    big = json.dumps({"client_id": "msg-00000001", "text": "a" * 4100})
    response = await client.post("/webchat/messages", content=big, headers=headers)
    assert response.status_code == 413
    assert response.json() == {"error": "body too large"}

    async def trickle() -> AsyncIterator[bytes]:  # no Content-Length: the stream is counted
        for _ in range(5):
            yield b" " * 1000

    response = await client.post("/webchat/messages", content=trickle(), headers=headers)
    assert response.status_code == 413
    assert await count(database(client), Patient) == 0


@pytest.mark.parametrize(
    ("content", "content_type", "status", "error"),
    [
        (b"{not json", "application/json", 400, "the body is not JSON"),
        (b"[1]", "application/json", 400, "the body must be a JSON object"),
        (b'{"text": "hi"}', "application/json", 400, "client_id must be 8 to 40"),
        (b'{"client_id": "msg-00000001", "text": " "}', "application/json", 400, "text is empty"),
        (b'{"client_id": "msg-00000001", "text": 5}', "application/json", 400, "text must be"),
        (b"text=hi", "application/x-www-form-urlencoded", 415, "send JSON"),
    ],
)
async def test_a_malformed_message_gets_one_clear_line(
    client: httpx.AsyncClient, content: bytes, content_type: str, status: int, error: str
) -> None:
    token = await start_chat(client)
    headers = {"origin": OWN, "x-webchat-token": token, "content-type": content_type}
    response = await client.post("/webchat/messages", content=content, headers=headers)
    assert response.status_code == status
    message = response.json()["error"]
    assert message.startswith(error) and "\n" not in message


@pytest.mark.parametrize("token", ["", "x" * 43, "not a token"])
async def test_an_unknown_token_is_refused(client: httpx.AsyncClient, token: str) -> None:
    posted = await say(client, token, "hello", "msg-00000001")
    assert posted.status_code == 401
    assert "start a new chat" in posted.json()["error"]
    streamed = await client.get("/webchat/events", headers={"x-webchat-token": token})
    assert streamed.status_code == 401


async def test_staff_and_automated_messages_reach_the_chat_through_its_sender(
    client_and_channel: tuple[httpx.AsyncClient, WebChatChannel],
) -> None:
    client, channel = client_and_channel
    token = await start_chat(client)
    await say(client, token, "hello", "msg-00000001")
    assert channel.sender is not None
    note = OutboundMessage(
        text="**Dr. Lee** here.", sms="Dr. Lee here.", kind=ReplyKind.HUMAN, lang="en"
    )
    outcome = await channel.sender.send(f"web:{token_hash(token)}", note)
    assert outcome.status is SendStatus.SENT
    last = events(await stream(client, token))[-1][1]
    assert last["text"] == "**Dr. Lee** here." and last["from"] == "clinic"
    gone = await channel.sender.send("web:" + "0" * 40, note)
    assert gone.status is SendStatus.UNREACHABLE


async def test_idle_anonymous_chats_are_purged_and_linked_patients_kept(
    client_and_channel: tuple[httpx.AsyncClient, WebChatChannel],
) -> None:
    client, channel = client_and_channel
    db = database(client)
    assert channel.store is not None
    await start_chat(client)  # a visitor who never writes
    anonymous, linked = await start_chat(client), await start_chat(client)
    await say(client, anonymous, "hello", "msg-00000001")
    await say(client, linked, "hello", "msg-00000001")
    async with db.session() as session, session.begin():
        patient_id = await session.scalar(
            select(Address.patient_id).where(Address.urn == f"web:{token_hash(linked)}")
        )
        assert patient_id is not None
        session.add(Address(patient_id=patient_id, urn="tel:+15035550123", scheme="tel",
                            reachable=True, created_at=channel.store._clock()))  # fmt: skip
    assert await channel.purge() == 0  # all active within WEBCHAT_RETENTION_DAYS
    now = channel.store._clock()
    assert await channel.store.purge(idle_since=now - timedelta(minutes=1)) == 0
    assert await channel.store.purge(idle_since=now + timedelta(minutes=1)) == 3
    async with db.session() as session:
        urns = list(await session.scalars(select(Address.urn)))
        patients = list(await session.scalars(select(Patient.id)))
    assert urns == ["tel:+15035550123"] and patients == [patient_id]
    assert await count(db, WebChat) == 0 and await count(db, WebChatMessage) == 0
    assert (await say(client, anonymous, "hello", "msg-00000002")).status_code == 401


async def test_web_chat_alone_is_a_channel_clinicbot_run_can_start(tmp_path: Path) -> None:
    load_settings(webchat_enabled=True).require_channel()  # no Telegram, no Twilio
    with pytest.raises(ConfigError, match="WEBCHAT_ENABLED=true"):
        load_settings().require_channel()
    with pytest.raises(ConfigError, match=r"WEBCHAT_ALLOWED_ORIGINS: 'clinic\.example'"):
        load_settings(webchat_allowed_origins="https://a.example, clinic.example")
    off = create_app(webchat_settings(tmp_path, webchat_enabled=False))
    async with running(off) as client:
        assert (await client.get("/webchat/widget.js")).status_code == 404


async def test_the_widget_and_demo_are_served_with_safe_headers(client: httpx.AsyncClient) -> None:
    widget = await client.get("/webchat/widget.js")
    assert widget.status_code == 200
    assert widget.headers["content-type"].startswith("text/javascript")
    assert "customElements.define" in widget.text and "innerHTML" not in widget.text
    demo = await client.get("/webchat/demo")
    assert demo.status_code == 200 and "<clinic-chat" in demo.text
    policy = demo.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy


async def test_the_whole_flow_on_each_database(database_url: str, tmp_path: Path) -> None:
    settings = webchat_settings(tmp_path, database_url=database_url)
    app, channel = webchat_app(settings, keepalive=0.05, lifetime=0.3)
    async with running(app) as client:
        token = await start_chat(client)
        first = (await say(client, token, RED_FLAG, "msg-00000001")).json()
        assert (await say(client, token, RED_FLAG, "msg-00000001")).json() == {"duplicate": True}
        lines = events(await stream(client, token))
        assert [line_id for line_id, _ in lines] == [first["id"], *first["replies"]]
        assert lines[-1][1]["kind"] == ReplyKind.RED_FLAG
        assert channel.store is not None
        now = channel.store._clock()
        assert await channel.store.purge(idle_since=now + timedelta(minutes=1)) == 1
        db = database(client)
        assert await count(db, Patient) == 0 and await count(db, WebChatMessage) == 0
