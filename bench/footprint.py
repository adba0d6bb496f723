"""Footprint: start-up of `clinicbot run` to a healthy /healthz, and idle memory.

Run: .venv/bin/python bench/footprint.py [--runs 5] [--no-write]

Starts the real command (Telegram configured against bench/fake_botapi.py on loopback, SQLite in a
temporary folder, the scheduler on) and, as the reference in the same run, a bare Starlette app
with one /healthz route under uvicorn. Reports the median time from spawn to the first 200 and
the resident memory after 5 s idle, and the ratios to the reference.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.perf_doc import write_section  # noqa: E402

IDLE_SECONDS = 5.0
BARE_APP = """
import sys
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def healthz(request):
    return JSONResponse({"status": "ok"})

uvicorn.run(Starlette(routes=[Route("/healthz", healthz)]), host="127.0.0.1",
            port=int(sys.argv[1]), log_level="warning")
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _measure(command: list[str], env: dict[str, str], port: int) -> tuple[float, float]:
    """Return (seconds to a healthy /healthz, idle RSS in MB) for one start."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT
    )
    try:
        deadline = start + 60
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{command[-1]} exited with {process.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.02)
        else:
            raise RuntimeError("not healthy within 60 s")
        ready = time.perf_counter() - start
        time.sleep(IDLE_SECONDS)
        return ready, _rss_mb(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    """Measure both apps a few times each and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    api_port = _free_port()
    fake = subprocess.Popen(
        [sys.executable, "-m", "bench.fake_botapi", "--port", str(api_port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results: dict[str, list[tuple[float, float]]] = {"clinicbot run": [], "bare Starlette": []}
    try:
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as folder:
                port = _free_port()
                env = {
                    **{k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")},
                    "PYTHONPATH": str(ROOT),
                    "PORT": str(port),
                    "DATABASE_URL": f"sqlite:///{folder}/bench.db",
                    "TELEGRAM_BOT_TOKEN": "123:bench",
                    "TELEGRAM_BASE_URL": f"http://127.0.0.1:{api_port}/bot",
                    "LOG_LEVEL": "WARNING",
                }
                command = [sys.executable, "-m", "bot", "run"]
                results["clinicbot run"].append(_measure(command, env, port))
            port = _free_port()
            bare = [sys.executable, "-c", BARE_APP, str(port)]
            results["bare Starlette"].append(_measure(bare, dict(os.environ), port))
    finally:
        fake.terminate()
        fake.wait()
    medians = {
        name: (statistics.median(r for r, _ in runs), statistics.median(m for _, m in runs))
        for name, runs in results.items()
    }
    base_ready, base_rss = medians["bare Starlette"]
    lines = [
        f"`python bench/footprint.py --runs {args.runs}` — {platform.platform()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"medians of {args.runs} starts.",
        "",
        "| process | start-up to healthy /healthz (s) | idle RSS after 5 s (MB) |",
        "|---|---:|---:|",
    ]
    for name, (ready, rss) in medians.items():
        lines.append(f"| {name} | {ready:.2f} | {rss:.0f} |")
    ready, rss = medians["clinicbot run"]
    lines += [
        "",
        f"Ratios to the bare app in the same run: start-up {ready / base_ready:.1f}x, "
        f"idle memory {rss / base_rss:.1f}x. `clinicbot run` loads and checks the content, "
        "builds the FAQ index, migrates the database, connects Telegram (a fake on loopback) and "
        "starts the scheduler before it reports healthy.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("Footprint", text)


if __name__ == "__main__":
    main()
