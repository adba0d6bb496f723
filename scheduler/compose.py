"""Write automated messages: the next tip in a patient's rotation, nudges with date and time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton, format_time
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Delivery, DeliveryStatus
from content.sms import count_segments, to_sms_text
from content.store import ContentStore
from content.tips import Tip
from handlers.messages import OutboundMessage, QuickReply, ReplyKind

__all__ = [
    "BROADCAST_PREFIX",
    "CONFIRM_PREFIX",
    "RESCHEDULE_PREFIX",
    "broadcast_message",
    "next_tip",
    "nudge_message",
    "pick_tip",
    "tip_message",
]

BROADCAST_PREFIX = "broadcast:"
CONFIRM_PREFIX = "appt:confirm:"
RESCHEDULE_PREFIX = "appt:reschedule:"
MAX_SEGMENTS = 2
_SENT = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.SENDING)


async def next_tip(session: AsyncSession, patient_id: int, pool: Sequence[Tip]) -> Tip | None:
    """Return the first tip of the pool this patient has not had, or the longest ago if all."""
    if not pool:
        return None
    rows = await session.execute(
        select(Delivery.content_ref, Delivery.sent_at)
        .where(
            Delivery.patient_id == patient_id,
            Delivery.kind == "tip",
            Delivery.reference == pool[0].category,
            Delivery.status.in_(_SENT),
            Delivery.content_ref.is_not(None),
        )
        .order_by(Delivery.sent_at)
    )
    last_sent: dict[str, int] = {}
    for order, (tip_id, _) in enumerate(rows):
        last_sent[str(tip_id)] = order
    return pick_tip(pool, last_sent)


def pick_tip(pool: Sequence[Tip], last_sent: Mapping[str, int]) -> Tip | None:
    """Return the first tip not yet sent, or the one sent longest ago (`last_sent`: tip id to
    the order of its latest send)."""
    if not pool:
        return None
    unseen = [tip for tip in pool if tip.id not in last_sent]
    if unseen:
        return unseen[0]
    return min(pool, key=lambda tip: last_sent[tip.id])


def _fit_sms(text: str, without_name: str) -> str:
    sms = to_sms_text(text)
    if count_segments(sms).count <= MAX_SEGMENTS:
        return sms
    return to_sms_text(without_name)  # a very long first name: drop it rather than a 3rd segment


def tip_message(content: ContentStore, tip: Tip) -> OutboundMessage:
    """Return a tip as a message, with how to stop it."""
    message = content.message("tip", tip.lang)
    return OutboundMessage(
        text=message.text.replace("{tip}", tip.text),
        sms=to_sms_text(message.sms.replace("{tip}", tip.text)),
        kind=ReplyKind.TIP,
        lang=tip.lang,
        topic=tip.id,
    )


def broadcast_message(
    content: ContentStore, text: str, lang: str, broadcast_id: int
) -> OutboundMessage:
    """Return a staff announcement; by SMS it names the clinic and says how to opt out."""
    message = content.message("broadcast", lang)
    return OutboundMessage(
        text=message.text.replace("{text}", text),
        sms=to_sms_text(message.sms.replace("{text}", text)),
        kind=ReplyKind.BROADCAST,
        lang=lang,
        topic=f"{BROADCAST_PREFIX}{broadcast_id}",
    )


def nudge_message(
    content: ContentStore,
    message_key: str,
    *,
    lang: str,
    first_name: str | None,
    starts_at: datetime,
    zone: ZoneInfo,
    appointment_id: int,
    ask: str | None,
) -> OutboundMessage:
    """Return an appointment nudge with first name, date and time, and Confirm/Reschedule."""
    local = starts_at.astimezone(zone)
    fields: Mapping[str, str] = {
        "{date}": format_skeleton("MMMEd", local, locale=lang),
        "{time}": format_time(local, format="short", locale=lang),
    }
    message = content.message(message_key, lang)

    def fill(template: str, name: str) -> str:
        for placeholder, value in {**fields, "{first_name}": name}.items():
            template = template.replace(placeholder, value)
        return " ".join(template.replace(" ,", ",").split(" ")).strip()

    name = (first_name or "").strip()
    options: tuple[QuickReply, ...] = ()
    if ask == "confirm":
        options = (
            QuickReply(
                content.message("confirm_button", lang).text, f"{CONFIRM_PREFIX}{appointment_id}"
            ),
            QuickReply(
                content.message("reschedule_button", lang).text,
                f"{RESCHEDULE_PREFIX}{appointment_id}",
            ),
        )
    return OutboundMessage(
        text=fill(message.text, name),
        sms=_fit_sms(fill(message.sms, name), fill(message.sms, "")),
        kind=ReplyKind.NUDGE,
        lang=lang,
        options=options,
        topic=message_key,
    )
