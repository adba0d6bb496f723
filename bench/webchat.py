"""Web chat under load: concurrent chats each sending a message a second, beside SMS webhooks.

Run: .venv/bin/python bench/webchat.py [--chats 200] [--seconds 60] [--rounds 1] [--no-write]

Starts one `clinicbot run` (uvicorn, SQLite in a temporary folder, the scheduler off) with web
chat and Twilio settings, so both channels are served by the same process. Then, in turn:

- Web chat: each of `--chats` visitors starts a chat (each from its own address, given as
  X-Forwarded-For, which uvicorn trusts from loopback as it would from a reverse proxy), opens
  its event stream, and sends one message a second for `--seconds` (open loop, phases spread
  over the second). A reply's latency runs from the start of the POST to the moment its event
  arrives on the stream: what a visitor waits for. Every reply must arrive, once.
- SMS: as many numbers, one signed inbound SMS a second each for as long, to /sms/inbound
  (bench/pipeline.py's requests, answered with TwiML): latency is the webhook's round trip.

An error is any status but 200/201, a transport error, a stream that breaks, or a reply that
never arrives. Reports per channel: sent, errors, rate, p50/p95/p99/max; and the ratio of the
two p99s, the figure to read on a shared machine; and the server's CPU time per reply (from
/proc, all its threads), which bounds what one process can serve whatever else the machine runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.perf_doc import write_section  # noqa: E402
from bench.pipeline import (  # noqa: E402
    ACCOUNT_SID,
    AUTH_TOKEN,
    PUBLIC_URL,
    SERVICE_SID,
    base_env,
    free_port,
    process,
    sms_form,
    text_for,
    wait_healthy,
)

TIMEOUT = 30.0
TARGET_P99_MS = 300.0


@dataclass
class Tally:
    """One channel's results."""

    name: str
    sent: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    posts: list[float] = field(default_factory=list)  # web chat: the POST's own round trip
    wall: float = 0.0
    cpu: float = float("nan")  # seconds of the server's CPU (all its threads) while loaded
    notes: list[str] = field(default_factory=list)

    def error(self, note: str) -> None:
        self.errors += 1
        if len(self.notes) < 5:
            self.notes.append(note)

    def percentile(self, p: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] * 1000 if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1] * 1000

    def cpu_ms(self) -> float:
        """Return the server's CPU milliseconds per reply: what one process's capacity rests on."""
        return self.cpu * 1000 / len(self.latencies) if self.latencies else float("nan")

    def row(self) -> str:
        rate = len(self.latencies) / self.wall if self.wall else 0.0
        top = max(self.latencies) * 1000 if self.latencies else float("nan")
        return (
            f"| {self.name} | {self.sent} | {self.errors} | {rate:.0f} | "
            f"{self.percentile(50):.0f} | {self.percentile(95):.0f} | "
            f"{self.percentile(99):.0f} | {top:.0f} | {self.cpu_ms():.1f} |"
        )


def cpu_seconds(pid: int) -> float:
    """Return a process's user and system CPU time so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Visitor:
    """One web chat: a token, an event stream, and the replies it waits for."""

    def __init__(self, base: str, index: int, tally: Tally) -> None:
        self.base, self.index, self.tally = base, index, tally
        self.ip = f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}"
        self.token = ""
        self.last = 0
        self.started: dict[int, float] = {}  # reply id -> when its POST started
        self.arrived: dict[int, float] = {}  # reply id -> when its event arrived
        self.waiting = 0
        self.stop = asyncio.Event()
        self.ready = asyncio.Event()
        self.idle = asyncio.Event()  # set while no reply is awaited
        self.idle.set()

    def headers(self) -> dict[str, str]:
        return {"origin": self.base, "x-webchat-token": self.token, "x-forwarded-for": self.ip}

    async def start(self, client: httpx.AsyncClient) -> None:
        response = await client.post(f"{self.base}/webchat/chats", headers=self.headers())
        if response.status_code != 201:
            raise RuntimeError(f"start: {response.status_code} {response.text}")
        self.token = response.json()["token"]

    async def listen(self, client: httpx.AsyncClient) -> None:
        """Read the stream until told to stop, reconnecting with Last-Event-ID when it ends."""
        while not self.stop.is_set():
            headers = {**self.headers(), "last-event-id": str(self.last)}
            try:
                async with client.stream(
                    "GET", f"{self.base}/webchat/events", headers=headers
                ) as response:
                    if response.status_code != 200:
                        self.tally.error(f"stream: {response.status_code}")
                        await asyncio.sleep(1)
                        continue
                    self.ready.set()
                    async for line in response.aiter_lines():
                        if line.startswith("data: "):
                            self.seen(json.loads(line[6:]))
            except httpx.HTTPError as exc:
                if not self.stop.is_set():
                    self.tally.error(f"stream: {type(exc).__name__}")

    def seen(self, event: dict[str, object]) -> None:
        ident = int(str(event["id"]))
        self.last = max(self.last, ident)
        if event.get("from") == "clinic":
            self.arrived.setdefault(ident, time.perf_counter())
            self.settle()

    def settle(self) -> None:
        for ident in [i for i in self.started if i in self.arrived]:
            self.tally.latencies.append(self.arrived.pop(ident) - self.started.pop(ident))
            self.waiting -= 1
        if self.waiting:
            self.idle.clear()
        else:
            self.idle.set()

    async def talk(self, client: httpx.AsyncClient, t0: float, seconds: float) -> None:
        """Send a message a second from t0 + a random phase, for `seconds`."""
        phase = random.random()
        for k in range(int(seconds)):
            delay = t0 + phase + k - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            body = {"client_id": f"b{self.index:06d}m{k:06d}", "text": text_for(self.index + k)}
            started = time.perf_counter()
            self.tally.sent += 1
            try:
                response = await client.post(
                    f"{self.base}/webchat/messages", json=body, headers=self.headers()
                )
            except httpx.HTTPError as exc:
                self.tally.error(f"post: {type(exc).__name__}")
                continue
            if response.status_code != 200:
                self.tally.error(f"post: {response.status_code} {response.text[:80]}")
                continue
            self.tally.posts.append(time.perf_counter() - started)
            for ident in response.json()["replies"]:
                self.started[ident] = started
                self.waiting += 1
            self.settle()


async def webchat_load(base: str, chats: int, seconds: float) -> Tally:
    tally = Tally(f"web chat ({chats} chats)")
    limits = httpx.Limits(max_connections=chats + 8, max_keepalive_connections=chats + 8)
    timeout = httpx.Timeout(TIMEOUT, read=None)  # a stream waits for lines as long as it lives
    async with (
        httpx.AsyncClient(limits=limits, timeout=TIMEOUT) as poster,
        httpx.AsyncClient(limits=limits, timeout=timeout) as streamer,
    ):
        visitors = [Visitor(base, i, tally) for i in range(chats)]
        for visitor in visitors:
            await visitor.start(poster)
        listeners = [asyncio.create_task(v.listen(streamer)) for v in visitors]
        await asyncio.wait_for(asyncio.gather(*(v.ready.wait() for v in visitors)), TIMEOUT)
        t0 = time.perf_counter() + 0.5
        await asyncio.gather(*(v.talk(poster, t0, seconds) for v in visitors))
        with contextlib.suppress(TimeoutError):  # what is still missing counts as errors
            await asyncio.wait_for(asyncio.gather(*(v.idle.wait() for v in visitors)), TIMEOUT)
        tally.wall = time.perf_counter() - t0
        missing = sum(v.waiting for v in visitors)
        for _ in range(missing):
            tally.error("reply never arrived on the stream")
        for visitor in visitors:
            visitor.stop.set()
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
    return tally


async def sms_load(base: str, numbers: int, seconds: float, offset: int) -> Tally:
    """Send from `numbers` numbers; `offset` keeps numbers and MessageSids apart per run."""
    tally = Tally(f"SMS webhook ({numbers} numbers)")
    limits = httpx.Limits(max_connections=numbers + 8, max_keepalive_connections=numbers + 8)
    async with httpx.AsyncClient(limits=limits, timeout=TIMEOUT) as client:
        t0 = time.perf_counter() + 0.5

        async def number(index: int) -> None:
            phase = random.random()
            for k in range(int(seconds)):
                delay = t0 + phase + k - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                request = sms_form(index + k * numbers, numbers, base=offset)
                started = time.perf_counter()
                tally.sent += 1
                try:
                    response = await client.post(
                        f"{base}/sms/inbound", content=request.content, headers=request.headers
                    )
                except httpx.HTTPError as exc:
                    tally.error(f"sms: {type(exc).__name__}")
                    continue
                if response.status_code != 200 or "<Message" not in response.text:
                    tally.error(f"sms: {response.status_code}")
                    continue
                tally.latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(number(i) for i in range(numbers)))
        tally.wall = time.perf_counter() - t0
    return tally


async def warm_up(base: str) -> None:
    """A few unmeasured messages on each channel: content loaded, connections made."""
    await webchat_load(base, 4, 2)
    await sms_load(base, 4, 2, offset=9000)


def report(args: argparse.Namespace, rounds: list[tuple[Tally, Tally]]) -> str:
    lines = [
        f"`bench/webchat.py --chats {args.chats} --seconds {args.seconds:g}`: one `clinicbot run` "
        "(SQLite, scheduler off) serving web chat and SMS; each chat or number sends one "
        "message a second. Web chat latency: POST start to the reply's event on the stream; "
        f"SMS: the webhook's round trip. Target: no error, web chat p99 < {TARGET_P99_MS:.0f} ms.",
        "",
        "| round · channel | sent | errors | replies/s | p50 ms | p95 ms | p99 ms | max ms "
        "| server CPU ms/reply |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for number, (web, sms) in enumerate(rounds, 1):
        for tally in (web, sms):
            lines.append(tally.row().replace("| ", f"| {number} · ", 1))
    web_p99 = statistics.median(web.percentile(99) for web, _ in rounds)
    sms_p99 = statistics.median(sms.percentile(99) for _, sms in rounds)
    errors = sum(web.errors + sms.errors for web, sms in rounds)
    lines += [
        "",
        f"Web chat p99 {web_p99:.0f} ms, SMS webhook p99 {sms_p99:.0f} ms: ratio "
        f"{web_p99 / sms_p99:.2f} (median over rounds); errors {errors}; no error and p99 "
        f"< {TARGET_P99_MS:.0f} ms at {args.chats} chats (the target is at 200): "
        f"{'yes' if errors == 0 and web_p99 < TARGET_P99_MS else 'no'}.",
    ]
    web_cpu = statistics.median(web.cpu_ms() for web, _ in rounds)
    sms_cpu = statistics.median(sms.cpu_ms() for _, sms in rounds)
    lines += [
        "",
        f"Server CPU per reply: web chat {web_cpu:.1f} ms, SMS {sms_cpu:.1f} ms (median over "
        "rounds). A process runs its Python on one core at a time: given a whole core it serves "
        f"about {1000 / web_cpu:.0f} web chat replies a second (the target needs 200).",
    ]
    for web, sms in rounds:
        for note in web.notes + sms.notes:
            lines.append(f"- {note}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    rounds: list[tuple[Tally, Tally]] = []
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = base_env(folder, port)
        env.update(
            {
                "WEBCHAT_ENABLED": "true",
                "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "TWILIO_MESSAGING_SERVICE_SID": SERVICE_SID,
                "PUBLIC_URL": PUBLIC_URL,
                "TWILIO_API_BASE_URL": "http://127.0.0.1:9",  # never called: replies are TwiML
            }
        )
        with process([sys.executable, "-m", "bot", "run"], env) as child:
            wait_healthy(child, f"{base}/healthz")
            asyncio.run(warm_up(base))
            for number in range(1, args.rounds + 1):
                print(f"Round {number}: web chat", flush=True)
                before = cpu_seconds(child.pid)
                web = asyncio.run(webchat_load(base, args.chats, args.seconds))
                web.cpu, before = cpu_seconds(child.pid) - before, cpu_seconds(child.pid)
                print(f"Round {number}: SMS webhook", flush=True)
                sms = asyncio.run(sms_load(base, args.chats, args.seconds, offset=1000 * number))
                sms.cpu = cpu_seconds(child.pid) - before
                rounds.append((web, sms))
    text = report(args, rounds)
    print(text)
    if not args.no_write:
        write_section("Web chat", text)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
