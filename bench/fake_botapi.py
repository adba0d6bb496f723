"""A fake Telegram Bot API over HTTP on loopback, for benchmarks and process-level tests.

Run: python -m bench.fake_botapi --port 8081 [--enforce] [--rate 30] [--delay 0.005]

It answers getMe, sendMessage and every other method (True), counts calls, and with --enforce
refuses more than --rate (30) sendMessage a second overall (sliding one-second window) or more
than one a second per chat with 429 and `retry_after`, as Telegram does. GET /stats returns the
counts; GET /log every accepted sendMessage as [chat, monotonic seconds, text].
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from aiohttp import web

from bench.fake_window import SlidingWindow

__all__ = ["FakeBotApi", "make_app"]

BOT_USER = {"id": 999, "is_bot": True, "first_name": "Clinic", "username": "clinic_bench_bot"}


class FakeBotApi:
    """The server's state: counts, and the limits it enforces."""

    def __init__(self, *, enforce: bool = False, delay: float = 0.0, rate: int = 30) -> None:
        self.enforce, self.delay, self.rate = enforce, delay, rate
        self.log: list[tuple[str, float, str]] = []
        self.calls: dict[str, int] = {}
        self.sent = 0
        self.refused = 0
        self.first: float | None = None
        self.last: float | None = None
        self._window = SlidingWindow(rate)
        self._chat_last: dict[str, float] = {}
        self._message_id = 0

    def _limited(self, chat: str, now: float) -> float | None:
        """Return retry_after seconds when this send breaks a limit, else book it."""
        wait = self._window.wait(now)
        if wait is not None:
            return wait
        last = self._chat_last.get(chat)
        if last is not None and now - last < 1.0:
            return 1.0 - (now - last)
        self._window.book(now)
        self._chat_last[chat] = now
        return None

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.calls[method] = self.calls.get(method, 0) + 1
        params: dict[str, Any] = dict(await request.post()) if request.can_read_body else {}
        if request.content_type == "application/json":
            params = await request.json()
        if self.delay:
            await asyncio.sleep(self.delay)
        if method == "getMe":
            return _ok(BOT_USER)
        if method != "sendMessage":
            return _ok(True)
        chat = str(params.get("chat_id", "0"))
        now = time.monotonic()
        if self.enforce:
            wait = self._limited(chat, now)
            if wait is not None:
                self.refused += 1
                body = {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {max(1, round(wait))}",
                    "parameters": {"retry_after": max(1, round(wait))},
                }
                return web.json_response(body, status=429)
        self.sent += 1
        self.log.append((chat, now, str(params.get("text", ""))))
        self.first = self.first if self.first is not None else now
        self.last = now
        self._message_id += 1
        chat_id = int(chat) if chat.lstrip("-").isdigit() else 0
        return _ok(
            {
                "message_id": self._message_id,
                "from": BOT_USER,
                "chat": {"id": chat_id, "type": "private"},
                "date": int(time.time()),
                "text": str(params.get("text", "")),
            }
        )

    async def stats(self, request: web.Request) -> web.Response:
        span = (self.last - self.first) if self.first is not None and self.last else 0.0
        return web.json_response(
            {"calls": self.calls, "sent": self.sent, "refused": self.refused, "span": span}
        )

    async def accepted(self, request: web.Request) -> web.Response:
        return web.json_response(self.log)


def _ok(result: Any) -> web.Response:
    return web.Response(
        text=json.dumps({"ok": True, "result": result}), content_type="application/json"
    )


def make_app(api: FakeBotApi) -> web.Application:
    """Build the aiohttp app serving `api`."""
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_route("*", "/bot{token}/{method}", api.handle)
    app.router.add_get("/stats", api.stats)
    app.router.add_get("/log", api.accepted)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--enforce", action="store_true")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--rate", type=int, default=30)
    args = parser.parse_args()
    api = FakeBotApi(enforce=args.enforce, delay=args.delay, rate=args.rate)
    print("fake bot api ready", flush=True)
    web.run_app(make_app(api), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
