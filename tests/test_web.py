"""The web app: its lifespan opens the services; /healthz reports what a load balancer needs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from starlette.applications import Starlette

from bot.db.models import SchedulerState
from bot.health import HEALTH_PROBE, MIN_FREE_BYTES, Health
from bot.settings import load_settings
from bot.web import create_app


@pytest.fixture
async def served(database_url: str) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    app: Starlette = create_app(load_settings(database_url=database_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://clinic.test") as c:
            yield app, c


@pytest.fixture
def client(served: tuple[Starlette, httpx.AsyncClient]) -> httpx.AsyncClient:
    return served[1]


class Probes:
    """The health check's clock, moved by hand, and the free space it sees."""

    def __init__(self, health: Health) -> None:
        self.now, self.free = 0.0, 10 * MIN_FREE_BYTES
        health.monotonic = lambda: self.now
        health.disk_usage = lambda path: (100 * MIN_FREE_BYTES, 0, self.free)

    def later(self) -> None:
        self.now += 60.0  # past the cached result


async def test_healthz_is_ok_once_started(client: httpx.AsyncClient, database_url: str) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    if database_url.startswith("sqlite"):
        assert response.json() == {"status": "ok", "database": "up", "disk": "ok"}
    else:
        assert response.json() == {"status": "ok", "database": "up"}


async def test_healthz_writes_a_probe_row(served: tuple[Starlette, httpx.AsyncClient]) -> None:
    app, client = served
    assert (await client.get("/healthz")).status_code == 200
    async with app.state.services.db.session() as session:
        names = list(await session.scalars(select(SchedulerState.name)))
    assert names == [HEALTH_PROBE]


async def test_a_database_refusing_writes_is_unavailable(
    served: tuple[Starlette, httpx.AsyncClient],
) -> None:
    """A full disk made every webhook fail while /healthz, which only read, said "ok"."""
    app, client = served
    probes = Probes(app.state.health)
    engine = app.state.services.db.engine.sync_engine

    def full(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            raise OperationalError(statement, {}, Exception("database or disk is full"))

    event.listen(engine, "before_cursor_execute", full)
    try:
        response = await client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
        assert response.json()["database"] == "down"
    finally:
        event.remove(engine, "before_cursor_execute", full)
    probes.later()
    assert (await client.get("/healthz")).status_code == 200


async def test_too_little_disk_for_sqlite_is_unavailable(
    served: tuple[Starlette, httpx.AsyncClient], database_url: str
) -> None:
    app, client = served
    probes = Probes(app.state.health)
    probes.free = MIN_FREE_BYTES - 1
    response = await client.get("/healthz")
    if database_url.startswith("sqlite"):
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable", "database": "up", "disk": "full"}
    else:  # the database server's disk is its own: the write probe speaks for it
        assert response.status_code == 200
    probes.free = MIN_FREE_BYTES
    probes.later()
    assert (await client.get("/healthz")).status_code == 200


async def test_healthz_probes_at_most_once_a_second(
    served: tuple[Starlette, httpx.AsyncClient],
) -> None:
    app, client = served
    probes = Probes(app.state.health)
    statements: list[str] = []
    engine = app.state.services.db.engine.sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        for _ in range(20):
            assert (await client.get("/healthz")).status_code == 200
        first = len(statements)
        probes.later()
        assert (await client.get("/healthz")).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert first >= 1 and len(statements) == 2 * first


async def test_unknown_paths_are_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/admin")).status_code == 404
