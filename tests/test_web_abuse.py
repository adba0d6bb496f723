"""Hostile requests against the real server: refused cheaply, and /healthz stays responsive."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import statistics
import string
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from bot.settings import DEFAULT_CONTENT_DIR
from tests.sms_support import ACCOUNT_SID, PUBLIC_URL, SERVICE_SID, TOKEN

FORM = "application/x-www-form-urlencoded"


def many_keys(count: int) -> bytes:
    """A form of `count` distinct, valueless keys, as short as they come (fits in 64 KB)."""
    alphabet = string.ascii_letters + string.digits
    keys = (
        "".join(letters)
        for size in itertools.count(1)
        for letters in itertools.product(alphabet, repeat=size)
    )
    return "&".join(itertools.islice(keys, count)).encode()


@contextmanager
def serving(tmp_path: Path) -> Iterator[str]:
    """Run `clinicbot run` with SMS on a loopback port, in its own process; yield its URL.

    A process of its own: a server thread would share the test's interpreter lock with the
    attacking client and measure the client too.
    """
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_"))}
    env.update(
        PYTHONPATH=str(DEFAULT_CONTENT_DIR.parent),
        PORT=str(port),
        DATABASE_URL=f"sqlite:///{tmp_path / 'abuse.db'}",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=TOKEN,
        TWILIO_MESSAGING_SERVICE_SID=SERVICE_SID,
        PUBLIC_URL=PUBLIC_URL,
        SCHEDULER_ENABLED="false",
        LOG_LEVEL="ERROR",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                httpx.get(f"{url}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert process.poll() is None
        yield url
        process.terminate()
        _, errors = process.communicate(timeout=30)
        assert "Traceback" not in errors, errors
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def base_url(tmp_path: Path) -> Iterator[str]:
    with serving(tmp_path) as url:
        yield url


async def test_17000_form_keys_are_refused_and_healthz_stays_fast(base_url: str) -> None:
    """Unsigned forms with ~17,000 keys used to block the loop for 20 s each (quadratic)."""
    hostile = many_keys(17_000)
    assert len(hostile) < 64 * 1024  # within the body limit: only the key count can refuse it
    headers = {"content-type": FORM, "x-twilio-signature": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}
    statuses: list[int] = []
    done = asyncio.Event()

    async def attack(client: httpx.AsyncClient, path: str) -> None:
        while not done.is_set():
            response = await client.post(path, content=hostile, headers=headers)
            statuses.append(response.status_code)

    latencies: list[float] = []
    timeout = httpx.Timeout(60.0)
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=timeout) as attacker,
        httpx.AsyncClient(base_url=base_url, timeout=timeout) as prober,
    ):
        attackers = [
            asyncio.create_task(attack(attacker, path))
            for path in ("/sms/inbound", "/sms/status", "/sms/inbound", "/sms/status")
        ]
        try:
            await asyncio.sleep(0.2)  # the attack is under way before the first probe
            for _ in range(200):
                started = time.perf_counter()
                response = await prober.get("/healthz")
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 200
        finally:
            done.set()
            await asyncio.gather(*attackers)
    p99 = statistics.quantiles(latencies, n=100)[98]
    median = statistics.median(latencies)
    print(f"/healthz under attack: median {median * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    print(f"hostile requests refused meanwhile: {len(statuses)}")
    assert statuses and set(statuses) == {413}
    # The target is p99 < 100 ms (measured well under it); assert with room for a busy machine.
    assert p99 < 1.0
