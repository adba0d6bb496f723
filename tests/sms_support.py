"""Helpers for the SMS tests: settings, and requests signed the way Twilio signs them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx
from starlette.applications import Starlette
from starlette.datastructures import FormData
from twilio.request_validator import RequestValidator

from bot.app import Services, open_services
from bot.channels.sms.channel import SmsChannel
from bot.settings import Settings, load_settings

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
SERVICE_SID = "MG0123456789abcdef0123456789abcdef"
TOKEN = "test-auth-token-0123456789"
PUBLIC_URL = "https://bot.clinic.example"
PATIENT = "+15035550199"
PAYLOADS = Path(__file__).parent / "payloads" / "sms"


def sms_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": TOKEN,
        "twilio_messaging_service_sid": SERVICE_SID,
        "public_url": PUBLIC_URL,
    }
    values.update(overrides)
    return load_settings(**values)


@asynccontextmanager
async def running_sms_app(
    database_url: str, clock: Callable[[], datetime], **overrides: object
) -> AsyncIterator[tuple[Starlette, Services]]:
    """Run the SMS channel's routes on a fresh service stack, closing both afterwards."""
    settings = sms_settings(database_url, **overrides)
    services = await open_services(settings, clock=clock)
    channel = SmsChannel(settings, clock=clock)
    await channel.start(services)
    try:
        yield Starlette(routes=channel.routes()), services
    finally:
        await channel.stop()
        await services.close()


def payload(name: str, **changes: str) -> list[tuple[str, str]]:
    data: dict[str, str] = json.loads((PAYLOADS / f"{name}.json").read_text())
    data.update(changes)
    return list(data.items())


def sign(url: str, params: list[tuple[str, str]], token: str = TOKEN) -> str:
    signature: str = RequestValidator(token).compute_signature(url, FormData(params))
    return signature


async def post_signed(
    client: httpx.AsyncClient,
    path: str,
    params: list[tuple[str, str]],
    *,
    signed_url: str | None = None,
    signed_params: list[tuple[str, str]] | None = None,
    signature: str | None = None,
) -> httpx.Response:
    """POST a form the way Twilio does, signed over `signed_url` and `signed_params`."""
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if signature is None:
        signature = sign(signed_url or PUBLIC_URL + path, signed_params or params)
    if signature:
        headers["x-twilio-signature"] = signature
    return await client.post(path, content=urlencode(params), headers=headers)
