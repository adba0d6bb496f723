"""Staff-facing broadcast text (preview, list, report) and the hook that sends final reports."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.clock import Clock
from bot.db.models import Broadcast
from bot.db.session import Database
from content.store import ContentStore
from handlers.delivery.outcomes import SendStatus
from handlers.delivery.transport import ChannelSender
from handlers.messages import OutboundMessage, ReplyKind
from handlers.staff.broadcasts import BUCKETS, Preview, Progress, Report, finish_broadcasts
from handlers.wording import fill

__all__ = ["BroadcastProgress", "listing_lines", "preview_text", "report_text", "staff_message"]

log = logging.getLogger(__name__)
STAFF_LANG = "en"  # staff text is English (it may be translated in es.yaml like any message)


def staff_message(content: ContentStore, key: str, **values: str | int) -> str:
    """Return a staff message with its values filled in."""
    return fill(content.message(key, STAFF_LANG).text, {k: str(v) for k, v in values.items()})


def preview_text(content: ContentStore, preview: Preview) -> str:
    """Describe the announcement per language and channel, and who gets it."""
    parts = [
        staff_message(
            content,
            "staff_bc_preview_lang",
            lang=item.lang,
            telegram=item.telegram,
            sms=item.sms,
            segments=item.segments.count,
            encoding=item.segments.encoding,
        )
        for item in preview.languages
    ]
    counts = preview.selection.by_channel()
    return staff_message(
        content,
        "staff_bc_preview",
        audience=preview.audience.spec(),
        previews="\n\n".join(parts),
        telegram=counts["telegram"],
        sms=counts["tel"],
        **preview.selection.excluded,
    )


def counts_text(report: Report) -> str:
    """Return one line per non-empty status: total, then Telegram and SMS."""
    lines = []
    for bucket in BUCKETS:
        total = report.total(bucket)
        if total:
            per = report.counts[bucket]
            lines.append(
                f"{bucket.replace('_', ' ')}: {total} "
                f"(Telegram {per.get('telegram', 0)}, SMS {per.get('tel', 0)})"
            )
    return "\n".join(lines) or "no deliveries"


def report_text(content: ContentStore, report: Report) -> str:
    """Return the final delivery report for the staff member who sent the broadcast."""
    return staff_message(
        content, "staff_bc_report", id=report.broadcast_id, counts=counts_text(report)
    )


def listing_lines(broadcasts: Sequence[Broadcast]) -> str:
    """Return one line per broadcast: number, status, send time (UTC) and recipients."""
    return "\n".join(
        f"#{b.id} {b.status} {b.send_at:%Y-%m-%d %H:%M} UTC, {b.recipients} recipients, "
        f"by {b.created_by}"
        for b in broadcasts
    )


class BroadcastProgress:
    """After a scheduler tick: finish broadcasts whose rows are all final and report them."""

    def __init__(
        self,
        db: Database,
        content: ContentStore,
        sender: ChannelSender | None,
        *,
        clock: Clock,
    ) -> None:
        self._db, self._content, self._sender, self._clock = db, content, sender, clock
        self._quarters: dict[int, int] = {}  # broadcast id -> quarters reported (1..3)

    async def __call__(self) -> None:
        """Mark running and done broadcasts; tell their staff member at each quarter, and
        send each final report."""
        progress: list[Progress] = []
        async with self._db.session() as session, session.begin():
            reports = await finish_broadcasts(session, self._clock(), progress)
        for step in progress:
            # In memory: after a restart a quarter may be reported once more, never skipped.
            quarter = 4 * step.done // step.total if step.total else 0
            if quarter > self._quarters.get(step.broadcast_id, 0) and self._sender is not None:
                self._quarters[step.broadcast_id] = quarter
                text = staff_message(
                    self._content,
                    "staff_bc_progress",
                    id=step.broadcast_id,
                    done=step.done,
                    total=step.total,
                )
                await self._tell(step.chat_id, step.broadcast_id, text)
        for chat_id, report in reports:
            if self._sender is None:
                log.info("broadcast %s done; no Telegram sender to report", report.broadcast_id)
                continue
            self._quarters.pop(report.broadcast_id, None)
            await self._tell(chat_id, report.broadcast_id, report_text(self._content, report))

    async def _tell(self, chat_id: int, broadcast_id: int, text: str) -> None:
        assert self._sender is not None
        message = OutboundMessage(text=text, sms=text, kind=ReplyKind.SYSTEM, lang=STAFF_LANG)
        outcome = await self._sender.send(f"telegram:{chat_id}", message)
        if outcome.status is not SendStatus.SENT:
            log.warning("broadcast %s message not sent: %s", broadcast_id, outcome.error)
