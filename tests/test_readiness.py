"""GET /readyz: ready only between start-up and shutdown, and while the database answers."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from bot.db.session import Database
from bot.health import Readiness
from bot.settings import Settings
from bot.web import create_app


async def test_ready_only_while_open_and_the_database_answers(db: Database) -> None:
    readiness = Readiness(db)
    assert await readiness.check() == (False, {"app": "starting"})
    readiness.open()
    assert await readiness.check() == (True, {"app": "open", "database": "up"})
    readiness.drain()
    assert await readiness.check() == (False, {"app": "draining"})


async def test_a_database_that_does_not_answer_is_not_ready() -> None:
    broken = Database.open("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    readiness = Readiness(broken)
    readiness.open()
    ready, details = await readiness.check()
    await broken.close()
    assert (ready, details) == (False, {"app": "open", "database": "down"})


async def test_the_app_answers_readyz_once_started(tmp_path: object) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/ready.db",
        scheduler_enabled=False,
        twilio_account_sid=None,
    )
    app = create_app(settings)
    assert isinstance(app, Starlette)
    assert any(isinstance(r, Route) and r.path == "/readyz" for r in app.routes)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/readyz")
    assert response.status_code == 200 and response.json()["status"] == "ready"
