"""The console's routes under /console, and installing its state in the web app."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.console import (
    pages_admin,
    pages_auth,
    pages_broadcasts,
    pages_imports,
    pages_inbox,
    pages_patients,
)
from bot.console.auth import SessionPolicy
from bot.console.guard import SignInLimiter
from bot.console.state import HERE, ConsoleState

__all__ = ["PUBLIC_PATHS", "console_routes", "install_console"]

# Reachable without a session: the sign-in page and the vendored assets (nothing private).
PUBLIC_PATHS = ("/console/signin", "/console/static")


def _pages() -> list[BaseRoute]:
    post = ["POST"]
    routes: list[BaseRoute] = [
        Route("/", pages_auth.home),
        Route("/signin", pages_auth.sign_in, methods=["GET", "POST"]),
        Route("/signout", pages_auth.sign_out, methods=post),
        Route("/inbox", pages_inbox.inbox),
        Route("/tickets/{ticket_id}", pages_inbox.ticket_page),
        Route("/tickets/{ticket_id}/reply", pages_inbox.ticket_reply, methods=post),
        Route("/tickets/{ticket_id}/close", pages_inbox.ticket_close, methods=post),
        Route("/broadcasts", pages_broadcasts.broadcasts),
        Route("/broadcasts", pages_broadcasts.broadcast_create, methods=post),
        Route("/broadcasts/preview", pages_broadcasts.broadcast_preview, methods=post),
        Route("/broadcasts/{broadcast_id}", pages_broadcasts.broadcast_report),
        Route(
            "/broadcasts/{broadcast_id}/cancel", pages_broadcasts.broadcast_cancel, methods=post
        ),
        Route("/appointments", pages_imports.imports_page),
        Route("/appointments/dry-run", pages_imports.import_dry_run, methods=post),
        Route("/appointments/commit", pages_imports.import_commit, methods=post),
        Route("/audit", pages_admin.audit_page),
        Route("/stats", pages_admin.stats_page),
        Route("/staff", pages_admin.staff_page),
        Route("/staff", pages_admin.staff_change, methods=post),
        Route("/patients", pages_patients.patients),
        Route("/patients/{patient_id}", pages_patients.patient_page),
        Route("/patients/{patient_id}/export", pages_patients.patient_export, methods=post),
        Route("/patients/{patient_id}/erase", pages_patients.patient_erase, methods=post),
    ]
    return routes


def console_routes() -> list[BaseRoute]:
    """Return the /console mount (pages and static assets)."""
    static = StaticFiles(directory=str(HERE / "static"))
    return [Mount("/console", routes=[Mount("/static", app=static, name="static"), *_pages()])]


def install_console(state: Any, policy: SessionPolicy) -> ConsoleState:
    """Put the console's process state on the app."""
    console = ConsoleState(policy=policy, limiter=SignInLimiter())
    state.console = console
    return console
