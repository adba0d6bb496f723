"""Console pages: p95 render time with 10,000 patients and 100,000 messages.

Run: .venv/bin/python bench/console.py [--patients N] [--messages N] [--requests N] [--no-write]

Seeds a SQLite database in a temporary folder (patients on Telegram and SMS with consents,
tags, pain scores and appointments; messages over 30 days; 200 open tickets; a finished
broadcast to everyone with some failures; audit entries), signs in through a link, and requests
each console page in process over httpx's ASGI transport, one at a time. The reference, in the
same run and the same way: a bare Starlette page rendering one small Jinja2 template.
Reports p50 and p95 per page, and p95 as a multiple of the bare page's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from jinja2 import DictLoader, Environment
from sqlalchemy import insert
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.perf_doc import write_section  # noqa: E402
from bot.console.auth import issue_link  # noqa: E402
from bot.db.models import (  # noqa: E402
    Address,
    Appointment,
    AuditEntry,
    Broadcast,
    Consent,
    Delivery,
    MessageLog,
    PainScore,
    Patient,
    PatientTag,
    Staff,
    Ticket,
)
from bot.settings import load_settings  # noqa: E402
from bot.web import create_app  # noqa: E402

TARGET_MS = 150.0
STAFF_ID = 4242
CHUNK = 5000


async def _insert(session: object, model: object, rows: list[dict[str, object]]) -> None:
    for start in range(0, len(rows), CHUNK):
        await session.execute(insert(model), rows[start : start + CHUNK])  # type: ignore[attr-defined,arg-type]


async def seed(app: Starlette, patients: int, messages: int, now: datetime) -> None:
    """Fill the database the way a busy clinic's would look."""
    db = app.state.services.db
    async with db.session() as session, session.begin():
        session.add(
            Staff(
                telegram_user_id=STAFF_ID, name="Bench", role="admin", active=True, created_at=now
            )
        )
        await _insert(session, Patient, [
            {"id": i, "name": f"Patient {i:05d}", "language": "es" if i % 3 == 0 else "en",
             "status": "active", "created_at": now, "updated_at": now}
            for i in range(1, patients + 1)
        ])  # fmt: skip
        await _insert(session, Address, [
            {"patient_id": i, "urn": f"telegram:{100000 + i}" if i % 2 else f"tel:+1415{i:07d}",
             "scheme": "telegram" if i % 2 else "tel", "reachable": True, "created_at": now}
            for i in range(1, patients + 1)
        ])  # fmt: skip
        await _insert(session, Consent, [
            {"patient_id": i, "category": c, "granted": True, "source": "b", "recorded_at": now}
            for i in range(1, patients + 1)
            for c in ("appointments", "tips", "announcements")
        ])  # fmt: skip
        await _insert(session, PatientTag, [
            {"patient_id": i, "tag": "knee" if i % 5 == 0 else "back"}
            for i in range(1, patients + 1)
        ])  # fmt: skip
        await _insert(session, PainScore, [
            {"patient_id": i, "score": (i + k) % 11, "recorded_at": now - timedelta(days=7 * k)}
            for i in range(1, patients + 1, 2)
            for k in range(4)
        ])  # fmt: skip
        await _insert(session, Appointment, [
            {"patient_id": i, "external_uid": f"b-{i}", "starts_at": now + timedelta(days=i % 20),
             "duration_minutes": 60, "status": "booked", "created_at": now, "updated_at": now}
            for i in range(1, patients + 1)
        ])  # fmt: skip
        await _insert(session, MessageLog, [
            {"patient_id": 1 + n % patients, "direction": "in" if n % 2 else "out",
             "channel": "telegram" if n % 3 else "sms", "kind": "text", "status": "sent",
             "body": f"message {n}", "created_at": now - timedelta(minutes=n * 43200 // messages)}
            for n in range(messages)
        ])  # fmt: skip
        await _insert(session, Ticket, [
            {"patient_id": i, "status": "open", "reason": "human", "channel": "telegram",
             "opened_at": now - timedelta(minutes=i)}
            for i in range(1, 400, 2)
        ])  # fmt: skip
        broadcast = Broadcast(
            created_by=f"staff:{STAFF_ID}", texts=json.dumps({"en": "Closed Friday"}),
            audience=json.dumps({"channel": "both"}), status="done", send_at=now,
            recipients=patients, created_at=now, updated_at=now, finished_at=now,
        )  # fmt: skip
        session.add(broadcast)
        await session.flush()
        await _insert(session, Delivery, [
            {"key": f"broadcast:{i}:{broadcast.id}", "patient_id": i, "kind": "broadcast",
             "reference": f"broadcast:{broadcast.id}", "channel": "telegram" if i % 2 else "tel",
             "due_at": now, "status": "failed" if i % 50 == 0 else "sent",
             "reason": "forbidden" if i % 50 == 0 else None, "attempts": 1,
             "created_at": now, "updated_at": now}
            for i in range(1, patients + 1)
        ])  # fmt: skip
        await _insert(session, AuditEntry, [
            {"actor": f"patient:{i}", "action": "consent.granted", "target": f"patient:{i}",
             "created_at": now - timedelta(minutes=i)}
            for i in range(1, patients * 2 + 1)
        ])  # fmt: skip


def _bare_app() -> Starlette:
    env = Environment(
        loader=DictLoader({"page.html": "<!doctype html><title>{{ t }}</title><p>{{ t }}</p>"}),
        autoescape=True,
    )
    template = env.get_template("page.html")

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(template.render(t="bare"))

    return Starlette(routes=[Route("/", page)])


async def _timed(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    data: object,
    n: int,
    cache: dict[str, object] | None = None,
) -> list[float]:
    times = []
    for i in range(n + 5):
        if cache is not None:
            cache.clear()  # time the computation the cache saves
        began = time.perf_counter()
        response = await client.request(method, path, data=data)  # type: ignore[arg-type]
        elapsed = (time.perf_counter() - began) * 1e3
        if response.status_code != 200:
            raise SystemExit(f"{method} {path}: {response.status_code}")
        if i >= 5:  # the first few compile templates and statements
            times.append(elapsed)
    return times


def _p95(times: list[float]) -> float:
    ranked = sorted(times)
    return ranked[min(len(ranked) - 1, int(0.95 * len(ranked)))]


async def run(patients: int, messages: int, requests: int) -> list[tuple[str, float, float]]:
    """Seed, sign in, and time every page; return (page, p50, p95) with the bare page first."""
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        app = create_app(load_settings(database_url=url, scheduler_enabled=False))
        async with app.router.lifespan_context(app):
            began = time.perf_counter()
            await seed(app, patients, messages, now)
            print(f"seeded in {time.perf_counter() - began:.1f} s", file=sys.stderr)
            async with app.state.services.db.session() as session, session.begin():
                token = await issue_link(session, STAFF_ID, now=now, actor="bench")
            base = "https://clinic.example"
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url=base, headers={"Origin": base}
            ) as client:
                signed = await client.post("/console/signin", data={"t": token})
                assert signed.status_code == 303, signed.text
                pages: list[tuple[str, str, str, object]] = [
                    ("inbox", "GET", "/console/inbox", None),
                    ("ticket", "GET", "/console/tickets/1", None),
                    ("patients: name search", "GET", "/console/patients?q=patient 0999", None),
                    ("patients: #tag", "GET", "/console/patients?q=%23knee", None),
                    ("patient page + chart", "GET", "/console/patients/1", None),
                    ("broadcasts", "GET", "/console/broadcasts", None),
                    ("broadcast preview (count cached 30 s)", "POST",
                     "/console/broadcasts/preview",
                     {"text_en": "Closed Friday", "text_es": "Cerrado"}),
                    ("broadcast report", "GET", "/console/broadcasts/1", None),
                    ("appointments", "GET", "/console/appointments", None),
                    ("audit", "GET", "/console/audit", None),
                    ("audit filtered", "GET", "/console/audit?target=patient:9", None),
                    ("stats (30 days, cached 1 min)", "GET", "/console/stats", None),
                    ("staff", "GET", "/console/staff", None),
                ]  # fmt: skip
                results = []
                async with httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=_bare_app()), base_url=base
                ) as bare:
                    times = await _timed(bare, "GET", "/", None, requests)
                    results.append(("bare Starlette page", statistics.median(times), _p95(times)))
                for name, method, path, data in pages:
                    times = await _timed(client, method, path, data, requests)
                    results.append((name, statistics.median(times), _p95(times)))
                cache = app.state.console.cache
                for name, method, path, data in pages:
                    if name.startswith(("stats", "broadcast preview")):
                        times = await _timed(client, method, path, data, requests // 4, cache)
                        cold = (f"{name}, cache emptied each time", statistics.median(times))
                        results.append((*cold, _p95(times)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--no-write", action="store_true", help="do not update PERFORMANCE.md")
    args = parser.parse_args()
    results = asyncio.run(run(args.patients, args.messages, args.requests))
    bare = results[0][2]
    lines = [
        f"{args.patients:,} patients, {args.messages:,} messages, SQLite; {args.requests} "
        f"requests per page in process (httpx ASGI), after 5 warm-up requests. Target: p95 < "
        f"{TARGET_MS:.0f} ms. Machine: {platform.machine()}, Python {platform.python_version()}. "
        "Command: `.venv/bin/python bench/console.py`.",
        "",
        "| page | p50 ms | p95 ms | p95 / bare page |",
        "|---|---:|---:|---:|",
    ]
    for name, p50, p95 in results:
        flag = "" if p95 < TARGET_MS else " (over target)"
        lines.append(f"| {name} | {p50:.1f} | {p95:.1f}{flag} | {p95 / bare:.0f}x |")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("Staff console", text)


if __name__ == "__main__":
    main()
