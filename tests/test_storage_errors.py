"""A database that cannot serve a request (disk full, server down) gives a 503 and one log line."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bot.settings import load_settings
from bot.storage_errors import StorageErrors
from bot.web import create_app


class DiskFullError(Exception):
    """Stands in for a driver's own error class (asyncpg.DiskFullError, sqlite3's)."""


async def full(request: Request) -> PlainTextResponse:
    raise OperationalError("INSERT INTO message_log ... +15035550199", {}, DiskFullError())


async def duplicate(request: Request) -> PlainTextResponse:
    raise IntegrityError("INSERT ...", {}, Exception("unique violation"))


async def fine(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


@pytest.fixture
def client() -> httpx.AsyncClient:
    app = Starlette(
        routes=[
            Route("/sms/inbound", full, methods=["POST"]),
            Route("/duplicate", duplicate),
            Route("/fine", fine),
        ],
        middleware=[Middleware(StorageErrors)],
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_a_storage_failure_is_a_503_with_retry_after_and_one_line(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await client.post("/sms/inbound", data={"Body": "hi"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert response.text == "storage unavailable\n"
    [record] = caplog.records
    assert record.getMessage() == "storage unavailable: POST /sms/inbound: DiskFullError"
    assert record.exc_info is None  # one line, no traceback
    assert "+1503" not in caplog.text  # the statement and its parameters are never logged


async def test_other_requests_and_other_errors_are_untouched(client: httpx.AsyncClient) -> None:
    response = await client.get("/fine")
    assert (response.status_code, response.text) == (200, "ok")
    with pytest.raises(IntegrityError):  # a bug in the code, not the storage: it propagates
        await client.get("/duplicate")


def test_the_service_app_answers_storage_failures_this_way(tmp_path: Path) -> None:
    app = create_app(load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/db.sqlite"))
    assert any(middleware.cls is StorageErrors for middleware in app.user_middleware)
