"""Real-browser tests: Debian's Chromium driven by Playwright, the app served on loopback.

Never `playwright install` (it downloads a browser and fails offline): Playwright drives
`/usr/bin/chromium`, which `.ci/run` installs from Debian. Without it the browser tests skip
with that reason, so a user's first machine is told what is missing instead of failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

__all__ = ["CHROMIUM", "axe_serious", "launch_chromium", "outside_requests", "serve"]

CHROMIUM = Path("/usr/bin/chromium")
_ARGS = ["--disable-background-networking", "--disable-component-update", "--no-first-run"]


@contextlib.contextmanager
def launch_chromium() -> Iterator[Any]:
    """Yield a headless Chromium browser (sync Playwright), or skip when it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed: apt-get install chromium (see .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread on 127.0.0.1; yield its base URL."""
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the app did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def outside_requests(page: Any, base_url: str) -> list[str]:
    """Record every request the page makes to anywhere but the app; return the live list."""
    outside: list[str] = []

    def seen(request: Any) -> None:
        url = str(request.url)
        if not (url.startswith(base_url) or url.startswith(("data:", "blob:", "about:"))):
            outside.append(url)

    page.on("request", seen)
    return outside


def axe_serious(page: Any) -> list[str]:
    """Run axe-core (bundled, offline) on the page; return its serious and critical findings."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    violations = results.response.get("violations", [])
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)"
        for v in violations
        if v.get("impact") in {"serious", "critical"}
    ]
