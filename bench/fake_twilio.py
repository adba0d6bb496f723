"""A fake Twilio Messages API over HTTP on loopback, for process-level tests and benchmarks.

Run: python -m bench.fake_twilio --port 8082 [--rate 10] [--prism http://127.0.0.1:4010]

POST /2010-04-01/Accounts/{AccountSid}/Messages.json as the twilio SDK sends it. Each sender
(From, or MessagingServiceSid) may have --rate messages in any one-second window; more are
refused with 429 and Twilio's error 20429, as Twilio queues or refuses past a number's rate.
With --prism, each request is first checked by Prism serving Twilio's OpenAPI description
(tests/specs/twilio_api_v2010.json), and Prism's refusal (422, 401) is returned as it is.
The spec requires only To, so From or MessagingServiceSid and Body are checked here.
GET /stats returns the counts; GET /log every accepted message as [To, monotonic seconds, Body].
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from typing import Any

import aiohttp
from aiohttp import web

from bench.fake_window import SlidingWindow

__all__ = ["FakeTwilio", "make_app"]


class FakeTwilio:
    """The server's state: counts, the senders' windows, and where Prism is (if anywhere)."""

    def __init__(self, *, rate: int = 10, prism: str | None = None) -> None:
        self.rate, self.prism = rate, prism.rstrip("/") if prism else None
        self.log: list[tuple[str, float, str]] = []
        self.sent = self.refused = self.invalid = 0
        self.first: float | None = None
        self.last: float | None = None
        self._windows: dict[str, SlidingWindow] = {}
        self._http: aiohttp.ClientSession | None = None

    async def _spec_refusal(
        self, request: web.Request, form: dict[str, str]
    ) -> web.Response | None:
        """Return Prism's answer when it refuses the request, else None."""
        if self.prism is None:
            return None
        if self._http is None:
            self._http = aiohttp.ClientSession()
        headers = {k: v for k, v in request.headers.items() if k.lower() == "authorization"}
        async with self._http.post(
            self.prism + request.path, data=form, headers=headers
        ) as answer:
            if answer.status < 400:
                return None
            return web.Response(
                status=answer.status, text=await answer.text(), content_type="application/json"
            )

    async def messages(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        sender = form.get("MessagingServiceSid") or form.get("From")
        refusal = await self._spec_refusal(request, form)
        if refusal is None and (not sender or not form.get("Body")):
            refusal = _error(
                400, 21603, "A 'From' or 'MessagingServiceSid' and a Body are required"
            )
        if refusal is not None:
            self.invalid += 1
            return refusal
        now = time.monotonic()
        window = self._windows.setdefault(str(sender), SlidingWindow(self.rate))
        wait = window.wait(now)
        if wait is not None:
            self.refused += 1
            response = _error(429, 20429, "Too Many Requests")
            response.headers["Retry-After"] = str(max(1, round(wait)))
            return response
        window.book(now)
        self.sent += 1
        self.log.append((form.get("To", ""), now, form["Body"]))
        self.first = self.first if self.first is not None else now
        self.last = now
        return _created(request.match_info["account"], form)

    async def stats(self, request: web.Request) -> web.Response:
        span = (self.last - self.first) if self.first is not None and self.last else 0.0
        body = {"sent": self.sent, "refused": self.refused, "invalid": self.invalid, "span": span}
        return web.json_response(body)

    async def accepted(self, request: web.Request) -> web.Response:
        return web.json_response(self.log)

    async def close(self, app: web.Application) -> None:
        if self._http is not None:
            await self._http.close()


def _error(status: int, code: int, message: str) -> web.Response:
    body = {"code": code, "message": message, "more_info": "", "status": status}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def _created(account: str, form: dict[str, str]) -> web.Response:
    sid = "SM" + uuid.uuid4().hex
    body: dict[str, Any] = {
        "sid": sid,
        "account_sid": account,
        "to": form.get("To"),
        "from": form.get("From"),
        "messaging_service_sid": form.get("MessagingServiceSid"),
        "body": form.get("Body"),
        "status": "queued",
        "num_segments": "1",
        "uri": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json",
    }
    return web.Response(status=201, text=json.dumps(body), content_type="application/json")


def make_app(api: FakeTwilio) -> web.Application:
    """Build the aiohttp app serving `api`."""
    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", api.messages)
    app.router.add_get("/stats", api.stats)
    app.router.add_get("/log", api.accepted)
    app.on_cleanup.append(api.close)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=int, default=10)
    parser.add_argument("--prism", help="Prism's base URL, to check each request against the spec")
    args = parser.parse_args()
    api = FakeTwilio(rate=args.rate, prism=args.prism)
    web.run_app(make_app(api), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
