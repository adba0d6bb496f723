"""The web app: its lifespan opens the services; /healthz reports the database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from bot.settings import load_settings
from bot.web import create_app


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'web.db'}")
    app: Starlette = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://clinic.test") as c:
            yield c


async def test_healthz_is_ok_once_started(client: httpx.AsyncClient, tmp_path: Path) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "up"}
    assert (tmp_path / "web.db").exists()  # migrated on start


async def test_unknown_paths_are_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/admin")).status_code == 404
