"""/mydata on the web chat: a one-time, short-lived ticket the widget redeems for the data."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.db.models import AuditEntry, WebChatDownload
from tests.conftest import FakeClock
from tests.test_webchat_http import (
    ALLOWED,
    OWN,
    database,
    events,
    running,
    say,
    start_chat,
    stream,
    webchat_app,
    webchat_settings,
)


@pytest.fixture
async def client(tmp_path: Path, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    app, _ = webchat_app(
        webchat_settings(tmp_path), clock=clock, keepalive=0.05, lifetime=0.3, burst=100
    )
    async with running(app) as client:
        yield client


async def ask_for_data(client: httpx.AsyncClient, token: str, turn: int = 1) -> dict[str, Any]:
    """Write a question, then /mydata; return the download the reply offers."""
    await say(client, token, "does acupuncture hurt", f"msg-{turn:08d}a")
    response = await say(client, token, "/mydata", f"msg-{turn:08d}b")
    assert response.status_code == 200, response.text
    reply = events(await stream(client, token))[-1][1]
    assert reply["from"] == "clinic" and reply["text"]
    download: dict[str, Any] = reply["download"]
    return download


async def redeem(
    client: httpx.AsyncClient, token: str, ticket: str, origin: str = OWN
) -> httpx.Response:
    return await client.post(
        "/webchat/download",
        json={"ticket": ticket},
        headers={"origin": origin, "x-webchat-token": token},
    )


async def test_mydata_offers_a_download_that_gives_the_patients_data_once(
    client: httpx.AsyncClient,
) -> None:
    token = await start_chat(client)
    download = await ask_for_data(client, token)
    assert download["name"] == "my-data.json"
    async with database(client).session() as session:
        stored = list(await session.scalars(select(WebChatDownload.ticket_hash)))
    assert len(stored) == 1 and download["ticket"] not in stored[0]  # only its hash is kept

    response = await redeem(client, token, download["ticket"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-disposition"] == 'attachment; filename="my-data.json"'
    data = response.json()
    patient_id = data["patient"]["id"]
    said = [json.loads(line["body"]).get("text") for line in data["webchat_messages"]]
    assert "does acupuncture hurt" in said and "/mydata" in said
    assert {chat["patient_id"] for chat in data["webchat_chats"]} == {patient_id}

    again = await redeem(client, token, download["ticket"])
    assert again.status_code == 404 and "ask for it again" in again.json()["error"]
    async with database(client).session() as session:
        audited = list(await session.scalars(select(AuditEntry.action)))
    assert "patient.exported" in audited


async def test_a_ticket_is_no_use_to_another_chat_or_after_ten_minutes(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    token, other = await start_chat(client), await start_chat(client)
    await say(client, other, "hello", "msg-00000009")
    download = await ask_for_data(client, token)

    stolen = await redeem(client, other, download["ticket"])
    assert stolen.status_code == 404  # and the owner's ticket is not spent by the attempt
    assert (await redeem(client, "x" * 43, download["ticket"])).status_code == 401
    malformed = await redeem(client, token, "not-a-ticket")
    assert malformed.status_code == 404

    clock.advance(minutes=11)
    assert (await redeem(client, token, download["ticket"])).status_code == 404

    fresh = await ask_for_data(client, token, turn=2)
    assert fresh["ticket"] != download["ticket"]
    assert (await redeem(client, token, fresh["ticket"])).status_code == 200


async def test_the_download_follows_the_chats_origin_policy(client: httpx.AsyncClient) -> None:
    token = await start_chat(client)
    download = await ask_for_data(client, token)
    refused = await redeem(client, token, download["ticket"], origin="https://evil.example")
    assert refused.status_code == 403
    allowed = await redeem(client, token, download["ticket"], origin=ALLOWED)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
