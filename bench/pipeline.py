"""Pipeline throughput: webhook -> handlers -> SQLite -> replies, next to bare reference apps.

Run: .venv/bin/python bench/pipeline.py [--updates 1000] [--rounds 3] [--no-write] ...

Telegram: starts bench/fake_botapi.py (no --enforce: it answers every call at once) and
`clinicbot run` (uvicorn, webhook mode, SQLite in a temporary folder, the scheduler off), then
POSTs N distinct text-message updates to /telegram at a bounded concurrency. The webhook answers
after the update is processed, so a request's latency is the pipeline's latency; the fake's
sendMessage count shows the replies went out. The reference, in the same run and under the same
load: a bare python-telegram-bot echo bot (Application without an Updater, no rate limiter,
base_url on the same fake) behind a Starlette route of the same shape.

SMS: `clinicbot run` with Twilio settings only, N signed form posts to /sms/inbound (distinct
From numbers and MessageSids, answered with TwiML, so no REST call); the reference is a bare
Starlette endpoint that checks the Twilio signature and echoes the text as TwiML.

Each reference also runs a second time writing one row per message to SQLite (one SQLAlchemy
transaction on aiosqlite, set up as clinicbot's database is): the floor any bot that keeps a
durable record of every message pays on this stack, and a second ratio to read ours against.

clinicbot has no setting to switch its Telegram pacing off: ClinicRateLimiter spaces sendMessage
calls 1/30 s apart overall and 1 s apart per chat. The `clinicbot run` row measures that as
shipped; an extra row runs the same app (create_app, same settings) with the limiter built with
overall pacing and per-chat spacing off, to show the pipeline's own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
from starlette.datastructures import FormData
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.perf_doc import write_section  # noqa: E402

TOKEN = "123456:BENCH"
SECRET = "bench-webhook-secret"
PUBLIC_URL = "https://bot.bench.example"
ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
SERVICE_SID = "MG0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "bench-auth-token-0123456789"
CLINIC_NUMBER = "+15035550100"
START_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0
WARMUP = 16

QUESTIONS = (
    "what is acupuncture",
    "do you take insurance",
    "what are your hours",
    "how much is acupuncture",
    "how many sessions do i need",
    "how long is an appointment",
    "does acupuncture hurt",
    "what is cupping",
    "how do i book an appointment",
    "whats your cancellation policy",
    "what should i wear to acupuncture",
    "should i eat before acupuncture",
    "can acupuncture help back pain",
    "can acupuncture help with stress",
    "can i pay with my hsa card",
    "how thin are acupuncture needles",
    "do you treat kids",
    "what happens at the first appointment",
    "can i work out after acupuncture",
    "how long do cupping marks last",
    "are your acupuncturists licensed",
    "is acupuncture safe",
)
GREETINGS = ("hi", "hello there", "good morning", "thanks!", "thank you so much")

# The durable references' one write per message: a SQLAlchemy transaction on aiosqlite inserting
# one row, with clinicbot's SQLite set-up (WAL, BEGIN IMMEDIATE, one pooled connection). The
# database URL is the reference's last argument; without one it records nothing.
RECORDER = """
import sys
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, event
from sqlalchemy.ext.asyncio import create_async_engine

class Recorder:
    def __init__(self, url):
        self.engine = create_async_engine(url, pool_size=1, max_overflow=0)

        @event.listens_for(self.engine.sync_engine, "connect")
        def _connect(dbapi_connection, _record):
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA journal_mode=WAL")

        @event.listens_for(self.engine.sync_engine, "begin")
        def _begin(connection):
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        self.meta = MetaData()
        self.table = Table(
            "messages", self.meta, Column("id", Integer, primary_key=True),
            Column("external_id", String(64), unique=True), Column("text", Text),
        )

    async def start(self):
        async with self.engine.begin() as connection:
            await connection.run_sync(self.meta.create_all)

    async def record(self, external_id, text):
        async with self.engine.begin() as connection:
            row = {"external_id": external_id, "text": text}
            await connection.execute(self.table.insert().values(**row))

recorder = Recorder(sys.argv[-1]) if sys.argv[-1].startswith("sqlite") else None
"""

# A bare python-telegram-bot 22 echo bot behind a Starlette webhook route of the same shape.
ECHO_BOT = (
    RECORDER
    + """
import json, sys
from contextlib import asynccontextmanager
import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application, MessageHandler, filters

port, token, base_url, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
application = Application.builder().token(token).base_url(base_url).updater(None).build()

async def echo(update, context):
    if recorder is not None:
        await recorder.record(str(update.update_id), update.message.text)
    await update.message.reply_text(update.message.text)

application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))

async def telegram(request):
    if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != secret:
        return Response(status_code=403)
    update = Update.de_json(json.loads(await request.body()), application.bot)
    await application.process_update(update)
    return Response(status_code=200)

async def healthz(request):
    return Response("ok")

@asynccontextmanager
async def lifespan(app):
    if recorder is not None:
        await recorder.start()
    async with application:
        await application.start()
        yield
        await application.stop()

routes = [Route("/telegram", telegram, methods=["POST"]), Route("/healthz", healthz)]
app = Starlette(routes=routes, lifespan=lifespan)
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
"""
)

# A bare Starlette endpoint: check the Twilio signature, echo the text as TwiML.
SMS_ECHO = (
    RECORDER
    + """
import sys
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl
import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

port, token, public_url = int(sys.argv[1]), sys.argv[2], sys.argv[3]
validator = RequestValidator(token)

async def inbound(request):
    form = FormData(parse_qsl((await request.body()).decode(), keep_blank_values=True))
    signature = request.headers.get("x-twilio-signature", "")
    if not validator.validate(public_url + request.url.path, form, signature):
        return PlainTextResponse("invalid Twilio signature", status_code=403)
    if recorder is not None:
        await recorder.record(str(form.get("MessageSid", "")), str(form.get("Body", "")))
    twiml = MessagingResponse()
    twiml.message(str(form.get("Body", "")))
    return Response(str(twiml), media_type="application/xml")

async def healthz(request):
    return Response("ok")

@asynccontextmanager
async def lifespan(app):
    if recorder is not None:
        await recorder.start()
    yield

app = Starlette(routes=[Route("/sms/inbound", inbound, methods=["POST"]),
                        Route("/healthz", healthz)], lifespan=lifespan)
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
"""
)

# `clinicbot run`'s app with Telegram pacing off (no setting exists for it, so it is injected).
UNPACED = """
import uvicorn
from bot.channels.telegram import TelegramOptions
from bot.channels.telegram.ratelimit import ChatPacer, ClinicRateLimiter
from bot.settings import load_settings
from bot.web import create_app

settings = load_settings()
limiter = ClinicRateLimiter(overall_max_rate=0, pacer=ChatPacer(0.0))
app = create_app(settings, telegram=TelegramOptions(rate_limiter=limiter))
uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", lifespan="on")
"""


@dataclass(frozen=True)
class Request:
    """One request to post: the body and its headers."""

    content: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Result:
    """One pipeline's run under load."""

    name: str
    ok: int
    failed: int
    wall: float
    latencies: list[float]
    replies: int

    @property
    def rate(self) -> float:
        return self.ok / self.wall if self.wall else 0.0

    def percentile(self, p: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] * 1000 if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1] * 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def text_for(i: int) -> str:
    """Return a realistic message: mostly FAQ questions, one in five a greeting or thanks."""
    if i % 5 == 4:
        return GREETINGS[(i // 5) % len(GREETINGS)]
    return QUESTIONS[(i * 7) % len(QUESTIONS)]


def telegram_update(i: int, chats: int, base_chat: int = 7_000_000) -> Request:
    """Build update i: chats in turn, so each chat's messages are `chats` updates apart."""
    chat = base_chat + i % chats
    user = {"id": chat, "is_bot": False, "first_name": f"Pat{chat}", "language_code": "en"}
    update = {
        "update_id": 500_000_000 + i,
        "message": {
            "message_id": 10 + i // chats,
            "from": user,
            "chat": {"id": chat, "first_name": user["first_name"], "type": "private"},
            "date": int(time.time()),
            "text": text_for(i),
        },
    }
    return Request(
        json.dumps(update).encode(),
        {"content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
    )


def sms_form(i: int, senders: int, base: int = 0) -> Request:
    """Build inbound SMS i, signed over PUBLIC_URL/sms/inbound the way Twilio signs it."""
    sender = f"+1503555{(base + i % senders) % 10_000:04d}"
    sid = f"SM{i + base * 1_000_000:032x}"
    params = [
        ("ToCountry", "US"),
        ("SmsMessageSid", sid),
        ("NumMedia", "0"),
        ("SmsSid", sid),
        ("SmsStatus", "received"),
        ("Body", text_for(i)),
        ("FromCountry", "US"),
        ("To", CLINIC_NUMBER),
        ("MessagingServiceSid", SERVICE_SID),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", sender),
        ("ApiVersion", "2010-04-01"),
    ]
    validator = RequestValidator(AUTH_TOKEN)
    signature: str = validator.compute_signature(f"{PUBLIC_URL}/sms/inbound", FormData(params))
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": signature,
    }
    return Request(urlencode(params).encode(), headers)


@contextmanager
def process(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """Run a child process for the block, then SIGTERM it (SIGKILL after 20 s)."""
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: a chatty child never blocks
        child = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
        try:
            yield child
        except Exception:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-3000:]
            if tail:
                print(f"--- stderr of {command[-1][:60]!r}:\n{tail}", file=sys.stderr)
            raise
        finally:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def wait_healthy(child: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {child.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} not healthy within {START_TIMEOUT:.0f} s")


def sent_messages(api_port: int) -> int:
    stats = httpx.get(f"http://127.0.0.1:{api_port}/stats", timeout=5).json()
    count: int = stats["calls"].get("sendMessage", 0)
    return count


async def load(
    url: str,
    requests: list[Request],
    concurrency: int,
    count_replies: Callable[[httpx.Response], int],
) -> tuple[int, int, float, list[float], int]:
    """POST every request with `concurrency` workers; return ok, failed, wall, latencies."""
    latencies: list[float] = []
    ok = failed = replies = 0
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT, limits=limits) as client:

        async def worker() -> None:
            nonlocal ok, failed, replies
            while not queue.empty():
                request = queue.get_nowait()
                started = time.perf_counter()
                try:
                    response = await client.post(
                        url, content=request.content, headers=request.headers
                    )
                except httpx.HTTPError:
                    failed += 1
                    continue
                elapsed = time.perf_counter() - started
                if response.status_code == 200:
                    ok += 1
                    latencies.append(elapsed)
                    replies += count_replies(response)
                else:
                    failed += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return ok, failed, wall, latencies, replies


async def warm_up(url: str, requests: list[Request]) -> None:
    """Post a few requests (not measured) until the app answers 200: Telegram connects late."""
    deadline = time.monotonic() + START_TIMEOUT
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as client:
        for request in requests:
            while True:
                response = await client.post(url, content=request.content, headers=request.headers)
                if response.status_code == 200:
                    break
                if response.status_code != 503 or time.monotonic() > deadline:
                    raise RuntimeError(f"warm-up: {url} answered {response.status_code}")
                await asyncio.sleep(0.1)


def run_one(
    name: str,
    command: list[str],
    env: dict[str, str],
    port: int,
    path: str,
    requests: list[Request],
    warmups: list[Request],
    concurrency: int,
    *,
    api_port: int | None,
    timeout: float,
) -> Result:
    """Start one app, warm it up, load it, and count the replies it produced."""
    base = f"http://127.0.0.1:{port}"
    with process(command, env) as child:
        wait_healthy(child, f"{base}/healthz")
        asyncio.run(warm_up(base + path, warmups))
        before = sent_messages(api_port) if api_port is not None else 0
        ok, failed, wall, latencies, twiml = asyncio.run(
            asyncio.wait_for(
                load(base + path, requests, concurrency, _twiml_messages), timeout=timeout
            )
        )
        replies = sent_messages(api_port) - before if api_port is not None else twiml
    print(f"  {name}: {ok} ok, {failed} failed, {wall:.1f} s", flush=True)
    return Result(name, ok, failed, wall, latencies, replies)


def _twiml_messages(response: httpx.Response) -> int:
    return response.text.count("<Message")


def reference(command: list[str], given: list[str], folder: str, *, durable: bool) -> list[str]:
    """Return a reference app's command line; a durable one also gets its database URL last."""
    database = [f"sqlite+aiosqlite:///{folder}/reference.db"] if durable else []
    return [*command, *given, *database]


def base_env(folder: str, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TWILIO_", "TELEGRAM_", "STAFF_", "PUBLIC_URL", "DATABASE_URL"))
    }
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "DATABASE_URL": f"sqlite:///{folder}/bench.db",
            "SCHEDULER_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


@dataclass(frozen=True)
class Channel:
    """One channel's rows: clinicbot's pipelines, the bare reference, the durable reference."""

    name: str
    ours: list[Result]
    bare: Result
    durable: Result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--chats", type=int, default=400, help="distinct chats / From numbers")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    n, chats, concurrency = args.updates, min(args.chats, args.updates), args.concurrency
    # Paced at 30 sends/s, clinicbot needs N/30 s; allow three times that, and 60 s at least.
    timeout = max(60.0, 3 * n / 30)
    api_port = free_port()
    fake_command = [sys.executable, "-m", "bench.fake_botapi", "--port", str(api_port)]
    telegram = [telegram_update(i, chats) for i in range(n)]
    telegram_warm = [telegram_update(n + i, WARMUP, base_chat=6_000_000) for i in range(WARMUP)]
    sms = [sms_form(i, chats) for i in range(n)]
    sms_warm = [sms_form(n + i, WARMUP, base=9000) for i in range(WARMUP)]
    bot = [sys.executable, "-m", "bot", "run"]
    rounds: list[list[Channel]] = []
    with process(fake_command, dict(os.environ)) as fake:
        wait_healthy(fake, f"http://127.0.0.1:{api_port}/stats")
        api_url = f"http://127.0.0.1:{api_port}/bot"

        def telegram_env(folder: str, port: int) -> dict[str, str]:
            env = base_env(folder, port)
            env.update(
                {
                    "TELEGRAM_BOT_TOKEN": TOKEN,
                    "TELEGRAM_BASE_URL": api_url,
                    "TELEGRAM_WEBHOOK_SECRET": SECRET,
                    "PUBLIC_URL": PUBLIC_URL,
                }
            )
            return env

        def run_telegram(
            name: str, command: list[str], *, ours: bool, durable: bool = False
        ) -> Result:
            with tempfile.TemporaryDirectory() as folder:
                port = free_port()
                env = telegram_env(folder, port) if ours else dict(os.environ)
                if not ours:
                    given = [str(port), TOKEN, api_url, SECRET]
                    command = reference(command, given, folder, durable=durable)
                return run_one(
                    name, command, env, port, "/telegram", telegram, telegram_warm,
                    api_port=api_port, concurrency=concurrency, timeout=timeout,
                )  # fmt: skip

        def run_sms(name: str, command: list[str], *, ours: bool, durable: bool = False) -> Result:
            with tempfile.TemporaryDirectory() as folder:
                port = free_port()
                if ours:
                    env = base_env(folder, port)
                    env.update(
                        {
                            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                            "TWILIO_MESSAGING_SERVICE_SID": SERVICE_SID,
                            "PUBLIC_URL": PUBLIC_URL,
                            "TWILIO_API_BASE_URL": f"http://127.0.0.1:{api_port}",  # not called
                        }
                    )
                else:
                    env = dict(os.environ)
                    given = [str(port), AUTH_TOKEN, PUBLIC_URL]
                    command = reference(command, given, folder, durable=durable)
                return run_one(
                    name, command, env, port, "/sms/inbound", sms, sms_warm,
                    api_port=None, concurrency=concurrency, timeout=timeout,
                )  # fmt: skip

        echo = [sys.executable, "-c", ECHO_BOT]
        bare = [sys.executable, "-c", SMS_ECHO]
        unpaced = [sys.executable, "-c", UNPACED]
        for round_ in range(1, args.rounds + 1):
            # Rounds interleave every row, so a slow spell on a shared machine hits them all.
            print(f"Round {round_} of {args.rounds}, Telegram:", flush=True)
            telegram_rows = Channel(
                "Telegram",
                [
                    run_telegram("clinicbot run", bot, ours=True),
                    run_telegram("clinicbot app, pacing off", unpaced, ours=True),
                ],
                run_telegram("PTB echo bot", echo, ours=False),
                run_telegram("PTB echo bot + one SQLite insert", echo, ours=False, durable=True),
            )
            print(f"Round {round_} of {args.rounds}, SMS:", flush=True)
            sms_rows = Channel(
                "SMS",
                [run_sms("clinicbot run", bot, ours=True)],
                run_sms("Starlette + Twilio signature echo", bare, ours=False),
                run_sms(
                    "Starlette + Twilio signature echo + one SQLite insert",
                    bare,
                    ours=False,
                    durable=True,
                ),
            )
            rounds.append([telegram_rows, sms_rows])
    print(report(args, n, chats, concurrency, rounds))
    if not args.no_write:
        write_section("Pipeline throughput", report(args, n, chats, concurrency, rounds))


def report(
    args: argparse.Namespace, n: int, chats: int, concurrency: int, rounds: list[list[Channel]]
) -> str:
    flags = ""
    if n != 1000:
        flags += f" --updates {n}"
    if concurrency != 8:
        flags += f" --concurrency {concurrency}"
    if args.chats != 400:
        flags += f" --chats {args.chats}"
    if args.rounds != 3:
        flags += f" --rounds {args.rounds}"
    lines = [
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs (nproc), Python "
        f"{platform.python_version()}, SQLite. Command: `.venv/bin/python bench/pipeline.py"
        f"{flags}`. {n:,} requests per row and round at concurrency {concurrency}, "
        f"{len(rounds)} rounds, {chats} distinct chats "
        "(Telegram) and From numbers (SMS) in turn; load generator, apps and the fake Bot API "
        "share the machine.",
        "",
        "| channel | pipeline | requests ok (failed) | replies | req/s | p50 ms | p99 ms "
        "| ratio to bare | ratio to bare + 1 insert |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def ratios(of: list[Result], to: list[Result]) -> str:
        # Each round's ratio is taken within the round; the median and the range are shown.
        values = sorted(a.rate / b.rate for a, b in zip(of, to, strict=True) if b.rate)
        if not values:
            return "n/a"
        middle = f"{statistics.median(values):.2f}"
        return middle if len(values) == 1 else f"{middle} ({values[0]:.2f}-{values[-1]:.2f})"

    for index, channel in enumerate(rounds[0]):
        per_round = [round_[index] for round_ in rounds]
        bare = [c.bare for c in per_round]
        durable = [c.durable for c in per_round]
        for row in range(len(channel.ours) + 2):
            results = [[*c.ours, c.bare, c.durable][row] for c in per_round]
            median = sorted(results, key=lambda r: r.rate)[len(results) // 2]
            ok, failed = sum(r.ok for r in results), sum(r.failed for r in results)
            lines.append(
                f"| {channel.name} | {median.name} | {ok:,} ({failed}) "
                f"| {sum(r.replies for r in results):,} | {median.rate:.1f} "
                f"| {median.percentile(50):.1f} | {median.percentile(99):.1f} "
                f"| {ratios(results, bare)} | {ratios(results, durable)} |"
            )
    lines += [
        "",
        "Replies: sendMessage calls the fake Bot API received during the run (Telegram), "
        "`<Message>` elements in the TwiML answers (SMS), summed over the rounds, as are the "
        "requests; req/s, p50 and p99 are those of the median round by rate. The issue's "
        "figure is the ratio to the bare reference within a round (goal >= 0.7 with SQLite), "
        "as the median of the rounds with their range. The second ratio is to "
        "the same reference writing one row per message in one SQLAlchemy transaction on "
        "aiosqlite, set up as clinicbot's SQLite is (WAL, BEGIN IMMEDIATE, one connection): "
        "the least any bot that keeps a durable record of each message pays on this stack.",
        "",
        "Fairness: the fake enforces no limits, and the echo bots have no rate limiter. "
        "clinicbot has no setting to switch its Telegram pacing off: `ClinicRateLimiter` "
        "(built in bot/channels/telegram/app.py) spaces sendMessage calls 1/30 s apart overall "
        "and 1 s apart per chat, so `clinicbot run` cannot pass ~30 replies/s however fast its "
        "pipeline is. The chats take turns, so a chat's next update comes "
        f"{chats} updates later and per-chat pacing rarely applies. The row "
        "`clinicbot app, pacing off` is the same app and settings with the limiter built with "
        "overall_max_rate=0 and a zero per-chat interval (injected through TelegramOptions, "
        "bench only): it measures the pipeline's own cost. SMS replies go back as TwiML, with "
        "no pacing on that path; a number's first text is also answered with the welcome (the "
        "consent question), hence more replies than requests. clinicbot's engine hands each "
        "statement to aiosqlite's thread in one call (bot/db/sqlite_driver.py); the durable "
        "references keep SQLAlchemy's stock adapter (three or four calls per statement), what "
        "a bot on this stack pays without that change. With the default --chats 400, every "
        "message of a 400-request row is a first contact (a new patient, and on SMS the "
        "welcome); longer rows repeat chats.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
