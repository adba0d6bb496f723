"""Broadcasts: compose in English and Spanish with a live preview, send or schedule, report."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.console.auth import SignedIn
from bot.console.guard import staff_only
from bot.console.state import console_of
from bot.db.models import Broadcast, Delivery, DeliveryStatus
from content.sms import count_segments
from content.store import ContentStore
from handlers.ids import read_id
from handlers.staff.audience import (
    Audience,
    AudienceError,
    Selection,
    parse_audience,
    select_recipients,
)
from handlers.staff.broadcast_reports import counts_text
from handlers.staff.broadcasts import (
    BUCKETS,
    MAX_TEXT_CHARS,
    BroadcastError,
    ChannelPreview,
    Preview,
    cancel_broadcast,
    check_texts,
    create_broadcast,
    delivery_report,
    recent_broadcasts,
)
from scheduler.compose import BROADCAST_PREFIX, broadcast_message

__all__ = [
    "broadcast_cancel",
    "broadcast_create",
    "broadcast_preview",
    "broadcast_report",
    "broadcasts",
]

_FAILED = (DeliveryStatus.FAILED, DeliveryStatus.SKIPPED, DeliveryStatus.MISSED)
MAX_FAILURES = 500
AUDIENCE_TTL = timedelta(seconds=30)


def _audience(form: FormData) -> Audience:
    """Build the audience from the builder's fields, through the same parser as the CLI."""
    parts = []
    channel = str(form.get("channel", "both"))
    if channel != "both":
        parts.append(f"channel={channel}")
    if lang := str(form.get("lang", "")):
        parts.append(f"lang={lang}")
    if tags := str(form.get("tags", "")).strip():
        parts.append(f"tag={tags}")
    if days := str(form.get("within", "")).strip():
        parts.append(f"appointment_within={days}")
    return parse_audience(";".join(parts) or "all")


def _texts(form: FormData) -> dict[str, str]:
    return {lang: str(form.get(f"text_{lang}", ""))[: MAX_TEXT_CHARS * 2] for lang in ("en", "es")}


def _clinic_zone(request: Request) -> ZoneInfo:
    services = console_of(request).services(request)
    return services.staff_env().clinic_zone


@staff_only
async def broadcasts(request: Request, who: SignedIn) -> Response:
    """List recent broadcasts with what they said, and the composer."""
    console = console_of(request)
    async with console.services(request).db.session() as session:
        recent = await recent_broadcasts(session, limit=20)
    rows = [(b, json.loads(b.texts)) for b in recent]
    context = {
        "who": who,
        "page": "broadcasts",
        "recent": rows,
        "zone": _clinic_zone(request).key,
        "max_chars": MAX_TEXT_CHARS,
        "error": request.query_params.get("error"),
    }
    return console.render(request, "broadcasts.html", context)


def _languages(content: ContentStore, texts: dict[str, str]) -> tuple[ChannelPreview, ...]:
    """Render each language as Telegram and SMS will show it (broadcasts.preview)."""
    shown = []
    for lang, text in sorted(texts.items()):
        message = broadcast_message(content, text, lang, 0)
        shown.append(ChannelPreview(lang, message.text, message.sms, count_segments(message.sms)))
    return tuple(shown)


@staff_only
async def broadcast_preview(request: Request, who: SignedIn) -> Response:
    """Render the preview fragment: each language as Telegram and SMS, and who receives it."""
    console = console_of(request)
    form = await request.form()
    context: dict[str, Any] = {"who": who}
    try:
        audience = _audience(form)
        services, now = console.services(request), console.now(request)
        content = services.conversation.answerer.content
        cleaned = check_texts(_texts(form))  # an empty English text is said before counting

        async def count() -> Selection:
            async with services.db.session() as session:
                return await select_recipients(session, audience, now)

        # Staff type and the preview follows: the audience is counted once per 30 seconds.
        key = f"audience:{audience.spec()}"
        selection = await console.cached(key, now, AUDIENCE_TTL, count)
        context["preview"] = Preview(audience, _languages(content, cleaned), selection)
    except (AudienceError, BroadcastError) as exc:
        context["error"] = str(exc)
    return console.render(request, "_preview.html", context)


@staff_only
async def broadcast_create(request: Request, who: SignedIn) -> Response:
    """Create the broadcast now or at the chosen clinic-local time (audited)."""
    console = console_of(request)
    form = await request.form()
    now = console.now(request)
    try:
        audience = _audience(form)
        when = str(form.get("send_at", "")).strip()
        send_at = now
        if form.get("when") == "later":
            try:
                local = datetime.fromisoformat(when)
            except ValueError:
                raise BroadcastError("choose the date and time to send it") from None
            send_at = (
                local.replace(tzinfo=_clinic_zone(request)) if local.tzinfo is None else local
            )
        services = console.services(request)
        async with services.db.session() as session, session.begin():
            created = await create_broadcast(
                session, _texts(form), audience, send_at=send_at, actor=who.actor, now=now
            )
    except (AudienceError, BroadcastError) as exc:
        query = urlencode({"error": str(exc)[:200]})
        return RedirectResponse(f"/console/broadcasts?{query}", status_code=303)
    return RedirectResponse(f"/console/broadcasts/{created.id}", status_code=303)


@staff_only
async def broadcast_report(request: Request, who: SignedIn) -> Response:
    """Show a broadcast: its texts, progress, counts by channel and every failure's reason."""
    console = console_of(request)
    broadcast_id = read_id(request.path_params["broadcast_id"])
    async with console.services(request).db.session() as session:
        broadcast = await session.get(Broadcast, broadcast_id) if broadcast_id else None
        if broadcast is None:
            return console.render(request, "missing.html", {"who": who, "what": "broadcast"}, 404)
        report = await delivery_report(session, broadcast.id)
        failures = list(
            await session.execute(
                select(Delivery.patient_id, Delivery.channel, Delivery.status, Delivery.reason)
                .where(
                    Delivery.reference == f"{BROADCAST_PREFIX}{broadcast.id}",
                    Delivery.status.in_(list(_FAILED)),
                )
                .order_by(Delivery.id)
                .limit(MAX_FAILURES)
            )
        )
    total = sum(report.total(bucket) for bucket in BUCKETS)
    context = {
        "who": who,
        "page": "broadcasts",
        "broadcast": broadcast,
        "texts": json.loads(broadcast.texts),
        "audience": Audience.from_json(broadcast.audience).spec(),
        "report": report,
        "buckets": BUCKETS,
        "summary": counts_text(report),
        "done": total - report.total("pending"),
        "total": total,
        "failures": failures,
        "cancelled": request.query_params.get("cancelled"),
    }
    if request.query_params.get("part") == "report":
        # 286 tells htmx to stop polling: a finished broadcast no longer changes.
        finished = report.status not in ("scheduled", "running")
        return console.render(request, "_report.html", context, 286 if finished else 200)
    return console.render(request, "broadcast.html", context)


@staff_only
async def broadcast_cancel(request: Request, who: SignedIn) -> Response:
    """Cancel a scheduled or running broadcast's pending deliveries (audited)."""
    console = console_of(request)
    broadcast_id = read_id(request.path_params["broadcast_id"])
    if broadcast_id is None:
        return console.render(request, "missing.html", {"who": who, "what": "broadcast"}, 404)
    services = console.services(request)
    try:
        async with services.db.session() as session, session.begin():
            cancelled = await cancel_broadcast(
                session, broadcast_id, actor=who.actor, now=console.now(request)
            )
    except BroadcastError:
        cancelled = -1
    return RedirectResponse(
        f"/console/broadcasts/{broadcast_id}?cancelled={cancelled}", status_code=303
    )
