"""Staff announcements: preview, create through the outbox, cancel, report and finish."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Broadcast, BroadcastStatus, Delivery, DeliveryStatus
from content.sms import Segments, count_segments
from content.store import ContentStore
from handlers.staff.audience import Audience, Selection, select_recipients
from handlers.staff.roles import audit
from scheduler.compose import BROADCAST_PREFIX, broadcast_message
from scheduler.outbox import PlannedDelivery, insert_planned

__all__ = [
    "MAX_TEXT_CHARS",
    "BroadcastError",
    "ChannelPreview",
    "Preview",
    "Progress",
    "Report",
    "cancel_broadcast",
    "check_texts",
    "create_broadcast",
    "delivery_report",
    "finish_broadcasts",
    "preview",
    "recent_broadcasts",
]

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 1000  # a longer SMS costs 7+ segments per patient; Telegram caps at 4,096
PAST_GRACE = timedelta(minutes=1)  # "now" typed a moment ago is still now
_OPEN = (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED, DeliveryStatus.SENDING)
_UPDATE_CHUNK = 2000
BUCKETS = (
    "pending",
    "sent",
    "delivered",
    "failed",
    "interrupted",  # caught mid-send by a crash: may or may not have arrived, never resent
    "skipped_opted_out",
    "skipped_unreachable",
    "cancelled",
)


class BroadcastError(ValueError):
    """A broadcast request that cannot go ahead; the message is one line for staff."""


def check_texts(texts: Mapping[str, str]) -> dict[str, str]:
    """Return the texts stripped, or raise BroadcastError (English missing, empty, too long)."""
    cleaned = {lang: text.strip() for lang, text in texts.items() if text and text.strip()}
    if "en" not in cleaned:
        raise BroadcastError("the English text is empty (it is also the fallback)")
    for lang, text in cleaned.items():
        if len(text) > MAX_TEXT_CHARS:
            raise BroadcastError(
                f"the {lang} text has {len(text)} characters; the limit is {MAX_TEXT_CHARS}"
            )
    return cleaned


@dataclass(frozen=True)
class ChannelPreview:
    """One language of the announcement as Telegram and SMS will show it."""

    lang: str
    telegram: str
    sms: str
    segments: Segments


@dataclass(frozen=True)
class Preview:
    """What a broadcast would send, and to how many patients on each channel."""

    audience: Audience
    languages: tuple[ChannelPreview, ...]
    selection: Selection


async def preview(
    session: AsyncSession,
    content: ContentStore,
    texts: Mapping[str, str],
    audience: Audience,
    now: datetime,
) -> Preview:
    """Render each language for each channel and count recipients after exclusions."""
    cleaned = check_texts(texts)
    languages = []
    for lang, text in sorted(cleaned.items()):
        message = broadcast_message(content, text, lang, 0)
        segments = count_segments(message.sms)
        languages.append(ChannelPreview(lang, message.text, message.sms, segments))
    selection = await select_recipients(session, audience, now)
    return Preview(audience, tuple(languages), selection)


async def create_broadcast(
    session: AsyncSession,
    texts: Mapping[str, str],
    audience: Audience,
    *,
    send_at: datetime,
    actor: str,
    now: datetime,
    report_chat_id: int | None = None,
) -> Broadcast:
    """Insert the broadcast and one pending delivery per recipient, due at `send_at`; audit it."""
    cleaned = check_texts(texts)
    if send_at < now - PAST_GRACE:
        raise BroadcastError("the send time is in the past")
    selection = await select_recipients(session, audience, now)
    if not selection.recipients:
        raise BroadcastError("no patient in this audience can receive announcements")
    broadcast = Broadcast(
        created_by=actor,
        texts=json.dumps(cleaned, ensure_ascii=False, sort_keys=True),
        audience=audience.to_json(),
        status=BroadcastStatus.SCHEDULED,
        send_at=max(send_at, now),
        recipients=len(selection.recipients),
        report_chat_id=report_chat_id,
        created_at=now,
        updated_at=now,
    )
    session.add(broadcast)
    await session.flush()
    reference = f"{BROADCAST_PREFIX}{broadcast.id}"
    planned = [
        PlannedDelivery(
            key=f"broadcast:{r.patient_id}:{broadcast.id}",
            patient_id=r.patient_id,
            kind="broadcast",
            reference=reference,
            due_at=broadcast.send_at,
            expires_at=None,
        )
        for r in selection.recipients
    ]
    await insert_planned(session, planned, now)
    # The outbox has no channel in a plan: set it afterwards, so the dispatcher sends on
    # the channel chosen here rather than the patient's first reachable address.
    await session.execute(
        update(Delivery).where(Delivery.reference == reference).values(channel="telegram")
    )
    sms_ids = [r.patient_id for r in selection.recipients if r.channel == "tel"]
    for start in range(0, len(sms_ids), _UPDATE_CHUNK):
        await session.execute(
            update(Delivery)
            .where(
                Delivery.reference == reference,
                Delivery.patient_id.in_(sms_ids[start : start + _UPDATE_CHUNK]),
            )
            .values(channel="tel")
        )
    await audit(
        session,
        actor,
        "broadcast.create",
        now,
        target=reference,
        detail=f"recipients={broadcast.recipients} audience={audience.spec()}",
    )
    log.info("broadcast %s: %s recipients", broadcast.id, broadcast.recipients)
    return broadcast


async def cancel_broadcast(
    session: AsyncSession, broadcast_id: int, *, actor: str, now: datetime
) -> int:
    """Cancel a scheduled or running broadcast and its pending deliveries; return how many."""
    broadcast = await session.get(Broadcast, broadcast_id, with_for_update=True)
    if broadcast is None:
        raise BroadcastError(f"there is no broadcast #{broadcast_id}")
    if broadcast.status not in (BroadcastStatus.SCHEDULED, BroadcastStatus.RUNNING):
        raise BroadcastError(f"broadcast #{broadcast_id} is already {broadcast.status}")
    broadcast.status, broadcast.updated_at, broadcast.finished_at = (
        BroadcastStatus.CANCELLED,
        now,
        now,
    )
    # Rows already claimed by a tick are stopped by the dispatcher, which re-reads the status.
    result = await session.execute(
        update(Delivery)
        .where(
            Delivery.reference == f"{BROADCAST_PREFIX}{broadcast_id}",
            Delivery.status == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.CANCELLED, reason="broadcast_cancelled", updated_at=now)
    )
    cancelled: int = result.rowcount  # type: ignore[attr-defined]
    await audit(
        session,
        actor,
        "broadcast.cancel",
        now,
        target=f"{BROADCAST_PREFIX}{broadcast_id}",
        detail=f"cancelled={cancelled}",
    )
    return cancelled


@dataclass(frozen=True)
class Report:
    """Delivery counts of one broadcast by status bucket and channel ("telegram", "tel")."""

    broadcast_id: int
    status: str
    counts: dict[str, dict[str, int]]

    def total(self, bucket: str) -> int:
        """Count one bucket over both channels."""
        return sum(self.counts.get(bucket, {}).values())


def _bucket(status: str, reason: str | None) -> str:
    if status in _OPEN:
        return "pending"
    if status == DeliveryStatus.SKIPPED:
        # A STOP withdraws consent, so "no consent" at send time is an opt-out too.
        opted_out = reason in ("opted_out", "no_consent")
        return "skipped_opted_out" if opted_out else "skipped_unreachable"
    if status == DeliveryStatus.MISSED:
        return "failed"
    if status == DeliveryStatus.FAILED and reason == "interrupted":
        return "interrupted"
    return status


async def delivery_report(session: AsyncSession, broadcast_id: int) -> Report:
    """Count a broadcast's deliveries by status and channel."""
    broadcast = await session.get(Broadcast, broadcast_id)
    if broadcast is None:
        raise BroadcastError(f"there is no broadcast #{broadcast_id}")
    rows = await session.execute(
        select(Delivery.status, Delivery.reason, Delivery.channel, func.count())
        .where(Delivery.reference == f"{BROADCAST_PREFIX}{broadcast_id}")
        .group_by(Delivery.status, Delivery.reason, Delivery.channel)
    )
    counts: dict[str, dict[str, int]] = {bucket: {} for bucket in BUCKETS}
    for status, reason, channel, number in rows:
        per_channel = counts.setdefault(_bucket(str(status), reason), {})
        key = str(channel or "telegram")
        per_channel[key] = per_channel.get(key, 0) + int(number)
    return Report(broadcast_id, str(broadcast.status), counts)


async def recent_broadcasts(session: AsyncSession, limit: int = 10) -> list[Broadcast]:
    """Return the newest broadcasts, scheduled ones included."""
    rows = await session.scalars(select(Broadcast).order_by(Broadcast.id.desc()).limit(limit))
    return list(rows)


@dataclass(frozen=True)
class Progress:
    """How far a running broadcast has got: rows no longer waiting, out of all its rows."""

    chat_id: int
    broadcast_id: int
    done: int
    total: int


async def finish_broadcasts(
    session: AsyncSession, now: datetime, progress: list[Progress] | None = None
) -> list[tuple[int, Report]]:
    """Mark due broadcasts running and finished ones done; return (chat id, report) to send.

    Running broadcasts with a staff chat are added to `progress`, if given.
    """
    due = await session.scalars(
        select(Broadcast).where(
            Broadcast.status.in_([BroadcastStatus.SCHEDULED, BroadcastStatus.RUNNING]),
            Broadcast.send_at <= now,
        )
    )
    reports: list[tuple[int, Report]] = []
    for broadcast in list(due):
        broadcast.status, broadcast.updated_at = BroadcastStatus.RUNNING, now
        still_open = await session.scalar(
            select(func.count()).where(
                Delivery.reference == f"{BROADCAST_PREFIX}{broadcast.id}",
                Delivery.status.in_(list(_OPEN)),
            )
        )
        if still_open:
            if progress is not None and broadcast.report_chat_id is not None:
                total = max(broadcast.recipients, still_open)
                done = total - still_open
                progress.append(Progress(broadcast.report_chat_id, broadcast.id, done, total))
            continue
        broadcast.status, broadcast.finished_at = BroadcastStatus.DONE, now
        await session.flush()
        report = await delivery_report(session, broadcast.id)
        log.info("broadcast %s done: %s", broadcast.id, report.counts)
        if broadcast.report_chat_id is not None:
            reports.append((broadcast.report_chat_id, report))
    return reports
