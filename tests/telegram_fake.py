"""A fake Bot API for the Telegram tests: records every call and checks it against the spec."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.request import BaseRequest, RequestData

from bot.channels.telegram.app import TelegramApp, build_application
from bot.channels.telegram.deps import Deps
from bot.channels.telegram.ratelimit import ChatPacer, ClinicRateLimiter
from bot.db.session import Database
from handlers.alerts import LogAlerts
from handlers.conversation.answer import Answerer
from handlers.conversation.conversation import Conversation
from handlers.conversation.onboarding import Onboarding
from tests.conftest import FakeClock

SPEC_PATH = Path(__file__).resolve().parent / "specs" / "telegram_bot_api_7.4_spec.json"
PAYLOADS = Path(__file__).resolve().parent / "payloads" / "telegram"
BASE_URL = "https://bot-api.test/bot"
TOKEN = "123456:TEST-TOKEN"
CLINIC_ZONE = "America/Los_Angeles"
BOT_USER = {
    "id": 999,
    "is_bot": True,
    "first_name": "Clinic",
    "username": "clinic_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
_SPEC: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))["methods"]


@dataclass
class Call:
    """One Bot API call the bot made."""

    method: str
    params: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """Return (label, callback data or '') for every button of the reply markup."""
        markup = self.params.get("reply_markup") or {}
        rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
        return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]


def spec_problems(method: str, params: dict[str, Any]) -> list[str]:
    """Say what is wrong with a call by the Bot API 7.4 spec: method, required and known names."""
    spec = _SPEC.get(method)
    if spec is None:
        return [f"unknown method {method}"]
    arguments = {a["name"]: a for a in spec.get("arguments", [])}
    problems = [f"{method}: unknown parameter {name}" for name in params if name not in arguments]
    problems += [
        f"{method}: missing required {name}"
        for name, argument in arguments.items()
        if argument["required"] and name not in params
    ]
    return problems


@dataclass
class FakeBotApi(BaseRequest):
    """A BaseRequest that answers like Telegram, records calls and refuses the real network."""

    calls: list[Call] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    failures: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    updates: list[dict[str, Any]] = field(default_factory=list)
    _next_id: int = 500
    replied: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    def fail(self, method: str, status: int, description: str, **parameters: Any) -> None:
        """Make the next call of `method` fail the way Telegram would."""
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        self.failures.setdefault(method, []).append((status, body))

    def sent(self, method: str = "sendMessage") -> list[Call]:
        return [call for call in self.calls if call.method == method]

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        if not url.startswith(f"{BASE_URL}{TOKEN}/"):
            self.violations.append(f"request outside the fake Bot API: {url.split('/')[2]}")
            raise AssertionError("a test tried to reach the network")
        api_method = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        if request_data is not None and request_data.contains_files:
            for name, (filename, *_rest) in request_data.multipart_data.items():
                params.setdefault(name, {"file": filename})
        self.violations += spec_problems(api_method, params)
        self.calls.append(Call(api_method, params))
        if api_method == "sendMessage":
            self.replied.set()
        if self.failures.get(api_method):
            status, body = self.failures[api_method].pop(0)
            return status, json.dumps(body).encode()
        return 200, json.dumps({"ok": True, "result": self._result(api_method, params)}).encode()

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method == "getUpdates":
            updates, self.updates = self.updates, []
            return updates
        if method in {"sendMessage", "sendDocument", "editMessageText"}:
            self._next_id += 1
            chat_id = int(params.get("chat_id", 0))
            return {
                "message_id": int(params.get("message_id", self._next_id)),
                "from": BOT_USER,
                "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
                "date": 1772463600,
                "text": str(params.get("text", "")),
            }
        return True


class FakeMonotonic:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def payload(name: str, **changes: Any) -> dict[str, Any]:
    """Load a captured update; `text`, `data`, `update_id`, `chat_id` patch it."""
    data: dict[str, Any] = copy.deepcopy(json.loads((PAYLOADS / f"{name}.json").read_text()))
    body = next(value for key, value in data.items() if key != "update_id")
    message = body.get("message", body)
    if "update_id" in changes:
        data["update_id"] = changes["update_id"]
    if "text" in changes:
        message["text"] = changes["text"]
        if changes["text"].startswith("/"):
            command = changes["text"].split()[0]
            message["entities"] = [{"offset": 0, "length": len(command), "type": "bot_command"}]
        else:
            message.pop("entities", None)
    if "data" in changes:
        body["data"] = changes["data"]
    if "message_id" in changes:
        message["message_id"] = changes["message_id"]
    return data


class Harness:
    """The real PTB Application over the fake Bot API; `send` feeds it one update."""

    def __init__(
        self,
        db: Database,
        answerer: Answerer,
        clock: FakeClock,
        *,
        pacer: ChatPacer | None = None,
    ) -> None:
        self.api = FakeBotApi()
        self.monotonic = FakeMonotonic()
        self.db = db
        self.clock = clock
        self.deps = Deps(
            db=db,
            conversation=Conversation(db, answerer, clock=clock, alerts=LogAlerts()),
            answerer=answerer,
            onboarding=Onboarding(answerer.content, CLINIC_ZONE),
            clock=clock,
            clinic_zone=CLINIC_ZONE,
            secret=TOKEN,
        )
        self.limiter = ClinicRateLimiter(
            overall_max_rate=0,
            pacer=pacer or ChatPacer(clock=self.monotonic, sleep=self.monotonic.sleep),
            sleep=self.monotonic.sleep,
        )
        self.app: TelegramApp = build_application(
            TOKEN,
            self.deps,
            base_url=BASE_URL,
            webhook=True,
            request=self.api,
            rate_limiter=self.limiter,
        )
        self._update_id = 200_000_000

    async def send(self, name: str, **changes: Any) -> list[Call]:
        """Process one update through PTB; return the Bot API calls it caused."""
        if "update_id" not in changes:
            self._update_id += 1
            changes["update_id"] = self._update_id
        return await self.process(payload(name, **changes))

    async def process(self, data: dict[str, Any]) -> list[Call]:
        before = len(self.api.calls)
        await self.app.process_update(Update.de_json(data, self.app.bot))
        return self.api.calls[before:]

    async def say(self, text: str) -> list[Call]:
        return await self.send("private_text", text=text)

    async def press(self, data: str, message_id: int = 20) -> list[Call]:
        return await self.send("callback_query", data=data, message_id=message_id)

    @classmethod
    @asynccontextmanager
    async def running(
        cls, db: Database, answerer: Answerer, clock: FakeClock, *, pacer: ChatPacer | None = None
    ) -> AsyncIterator[Harness]:
        harness = cls(db, answerer, clock, pacer=pacer)
        await harness.app.initialize()
        try:
            yield harness
        finally:
            await harness.app.shutdown()
        assert harness.api.violations == [], harness.api.violations
