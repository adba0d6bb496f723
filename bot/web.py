"""The Starlette app that uvicorn serves: health now, channel webhooks as they arrive."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.app import Services, open_services
from bot.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> Starlette:
    """Build the web app; its lifespan opens and closes the services."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await open_services(settings)
        app.state.services = services
        log.info("clinicbot ready on %s:%s", settings.host, settings.port)
        try:
            yield
        finally:
            await services.close()
            log.info("clinicbot stopped")

    async def healthz(request: Request) -> JSONResponse:
        services: Services = request.app.state.services
        try:
            async with services.db.session() as session:
                await session.execute(text("SELECT 1"))
        except Exception:
            log.exception("health check: database unavailable")
            return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "up"})

    return Starlette(routes=[Route("/healthz", healthz)], lifespan=lifespan)
