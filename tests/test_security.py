"""Forged webhooks are refused and counted; patients get no staff powers; hostile text is inert."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette

from bot.db.models import Broadcast, MessageLog, Patient, Ticket
from handlers.patients.privacy import export, export_json
from tests.conftest import FakeClock
from tests.sms_support import PUBLIC_URL, payload, post_signed, sign
from tests.telegram_fake import FakeBotApi
from tests.telegram_fake import payload as update
from tests.test_fuzz_webhooks import SECRET, both_channels, row_counts, running_app

HOSTILE = [
    "'; DROP TABLE patients;--",
    "<script>alert('x')</script>",
    'Robert"); DELETE FROM message_log; --',
    "<b>bold</b> &amp; <a href='javascript:alert(1)'>x</a>",
]
TG = {"X-Telegram-Bot-Api-Secret-Token": SECRET}


@pytest.fixture
def api() -> FakeBotApi:
    return FakeBotApi()


@pytest.fixture
async def served(
    tmp_path: Path, clock: FakeClock, api: FakeBotApi
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    settings = both_channels(
        f"sqlite+aiosqlite:///{tmp_path / 'sec.db'}", store_message_bodies=True
    )
    async with running_app(settings, api, clock) as served:
        yield served
    assert api.violations == [], api.violations


async def test_forged_requests_are_refused_and_counted(
    served: tuple[Starlette, httpx.AsyncClient], api: FakeBotApi
) -> None:
    app, client = served
    assert "rejected" not in (await client.get("/healthz")).json()
    before = await row_counts(app.state.services.db)
    params = payload("inbound", Body="STOP")
    forged = sign(PUBLIC_URL + "/sms/inbound", params, token="stolen-or-guessed")
    assert (await post_signed(client, "/sms/inbound", params, signature=forged)).status_code == 403
    assert (await post_signed(client, "/sms/status", params, signature="")).status_code == 403
    wrong = {"X-Telegram-Bot-Api-Secret-Token": "guess"}
    response = await client.post("/telegram", json=update("private_text"), headers=wrong)
    assert response.status_code == 403
    assert api.sent() == []
    assert await row_counts(app.state.services.db) == before
    health = (await client.get("/healthz")).json()
    assert health["rejected"] == {"telegram": 1, "sms": 2}
    # a well-formed but unsigned-looking mistake (bad sender) is not counted as forged
    assert (
        await post_signed(client, "/sms/inbound", payload("inbound", From="1"))
    ).status_code == 400
    assert (await client.get("/healthz")).json()["rejected"] == {"telegram": 1, "sms": 2}


@pytest.mark.parametrize("command", ["/broadcast Closed tomorrow", "/stats", "/close 1", "/staff"])
async def test_a_patient_trying_staff_commands_gets_the_ordinary_reply(
    served: tuple[Starlette, httpx.AsyncClient], api: FakeBotApi, command: str
) -> None:
    app, client = served
    ids = iter(range(300_000_000, 300_000_100))
    ok = await client.post(
        "/telegram", json=update("command_start", update_id=next(ids)), headers=TG
    )
    assert ok.status_code == 200
    before = len(api.sent())
    unknown = update("private_text", text="/xyzzy", update_id=next(ids))
    assert (await client.post("/telegram", json=unknown, headers=TG)).status_code == 200
    ordinary = [call.text for call in api.sent()[before:]]
    before = len(api.sent())
    tried = update("private_text", text=command, update_id=next(ids))
    assert (await client.post("/telegram", json=tried, headers=TG)).status_code == 200
    assert [call.text for call in api.sent()[before:]] == ordinary
    async with app.state.services.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Broadcast)) == 0
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 0


async def test_sql_and_html_looking_text_is_stored_and_shown_literally(
    served: tuple[Starlette, httpx.AsyncClient], api: FakeBotApi
) -> None:
    app, client = served
    db = app.state.services.db
    for number, text in enumerate(HOSTILE):
        tg = update("private_text", text=text, update_id=400_000_000 + number)
        assert (await client.post("/telegram", json=tg, headers=TG)).status_code == 200
        sid = f"SM{number:032x}"
        sms = payload("inbound", Body=text, MessageSid=sid, SmsMessageSid=sid, SmsSid=sid)
        response = await post_signed(client, "/sms/inbound", sms)
        assert response.status_code == 200
        assert "<script" not in response.text  # TwiML escapes whatever it carries
    async with db.session() as session:
        bodies = list(
            await session.scalars(select(MessageLog.body).where(MessageLog.direction == "in"))
        )
        patients = list(await session.scalars(select(Patient.id)))
    for text in HOSTILE:
        assert bodies.count(text) == 2  # once per channel, byte for byte
    assert len(patients) == 2  # the tables are intact
    # Replies are HTML-formatted for Telegram: no patient-supplied markup gets through raw.
    assert not any("<script" in call.text for call in api.sent())
    async with db.session() as session:
        exported = export_json(await export(session, patients[0])).decode()
    assert "DROP TABLE patients" in exported or "DELETE FROM message_log" in exported
