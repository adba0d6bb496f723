"""`clinicbot run` as a process: it serves /healthz and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bot.settings import DEFAULT_CONTENT_DIR


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_run_serves_health_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_"))}
    env.update(
        PYTHONPATH=str(DEFAULT_CONTENT_DIR.parent),
        PORT=str(port),
        TELEGRAM_BOT_TOKEN="123:test-token",
        # A closed loopback port: Telegram is unreachable and no test touches the network.
        TELEGRAM_BASE_URL=f"http://127.0.0.1:{_free_port()}/bot",
        DATABASE_URL=f"sqlite:///{tmp_path / 'run.db'}",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert status == 200
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    # uvicorn re-raises the signal after a graceful shutdown, so the exit status says SIGTERM.
    assert process.returncode in (0, -signal.SIGTERM)
    assert "clinicbot stopped" in output
    assert "test-token" not in output
