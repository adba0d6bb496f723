"""Send one claimed delivery: checks at send time, then the channel, then the outcome."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.base import ChannelSender, SendOutcome, SendStatus
from bot.clock import Clock
from bot.db.models import (
    Address,
    Appointment,
    AppointmentStatus,
    Broadcast,
    BroadcastStatus,
    ConsentCategory,
    Delivery,
    DeliveryStatus,
    Patient,
    PatientStatus,
)
from bot.db.patients import consents_of
from bot.db.session import Database
from content.store import ContentStore
from content.tips import Tip
from handlers.messages import OutboundMessage
from scheduler.compose import (
    BROADCAST_PREFIX,
    broadcast_message,
    next_tip,
    nudge_message,
    tip_message,
)
from scheduler.planner import patient_zone
from scheduler.rules import NudgeRule
from scheduler.timing import QuietHours

__all__ = ["CATEGORY_OF_KIND", "Dispatcher"]

log = logging.getLogger(__name__)

CATEGORY_OF_KIND = {
    "tip": ConsentCategory.TIPS,
    "nudge": ConsentCategory.APPOINTMENTS,
    "broadcast": ConsentCategory.ANNOUNCEMENTS,
}
MAX_ATTEMPTS = 5
_VISIT_OK = (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED, AppointmentStatus.COMPLETED)


@dataclass(frozen=True)
class _Ready:
    """What to send, decided inside the claim's transaction."""

    urn: str
    scheme: str
    address_id: int
    message: OutboundMessage
    pending_question: str | None


class Dispatcher:
    """Turn claimed outbox rows into sent messages, or say why not."""

    def __init__(
        self,
        db: Database,
        content: ContentStore,
        tips: Mapping[tuple[str, str], Sequence[Tip]],
        rules: Sequence[NudgeRule],
        senders: Mapping[str, ChannelSender],
        *,
        clock: Clock,
        clinic_zone: ZoneInfo,
        quiet: QuietHours,
    ) -> None:
        self._db, self._content, self._tips = db, content, tips
        self._rules = {rule.id: rule for rule in rules}
        self._senders, self._clock = senders, clock
        self._zone, self._quiet = clinic_zone, quiet

    async def dispatch(self, delivery_id: int) -> str:
        """Send one claimed delivery; return its final or new status."""
        async with self._db.session() as session, session.begin():
            delivery = await session.get(Delivery, delivery_id)
            if delivery is None or delivery.status != DeliveryStatus.CLAIMED:
                return "gone"
            ready = await self._prepare(session, delivery)
            if ready is None:
                return delivery.status
            delivery.status, delivery.channel = DeliveryStatus.SENDING, ready.scheme
            delivery.attempts += 1
            delivery.updated_at = self._clock()
        outcome = await self._senders[ready.scheme].send(ready.urn, ready.message)
        async with self._db.session() as session, session.begin():
            delivery = await session.get(Delivery, delivery_id)
            assert delivery is not None
            await self._record(session, delivery, ready, outcome)
            return delivery.status

    def _finish(self, delivery: Delivery, status: DeliveryStatus, reason: str | None) -> None:
        delivery.status, delivery.reason, delivery.updated_at = status, reason, self._clock()

    async def _prepare(self, session: AsyncSession, delivery: Delivery) -> _Ready | None:
        now = self._clock()
        if delivery.expires_at is not None and now >= delivery.expires_at:
            self._finish(delivery, DeliveryStatus.MISSED, "expired")
            return None
        patient = await session.get(Patient, delivery.patient_id)
        if patient is None or patient.status != PatientStatus.ACTIVE:
            self._finish(delivery, DeliveryStatus.SKIPPED, "no_patient")
            return None
        category = CATEGORY_OF_KIND.get(delivery.kind)
        if category is None or not (await consents_of(session, patient.id)).get(category):
            self._finish(delivery, DeliveryStatus.SKIPPED, "no_consent")
            return None
        if delivery.kind == "tip" and patient.reminders_paused:
            self._finish(delivery, DeliveryStatus.SKIPPED, "paused")
            return None
        address = await self._address(session, patient.id, delivery.channel)
        if address is None:
            self._finish(delivery, DeliveryStatus.SKIPPED, "unreachable")
            return None
        zone = patient_zone(patient.timezone, self._zone)
        if self._quiet.is_quiet(now, zone):  # e.g. a retry that drifted into the night
            delivery.due_at = self._quiet.next_allowed(now, zone)
            self._finish(delivery, DeliveryStatus.PENDING, "quiet_hours")
            return None
        lang = patient.language or "en"
        composed = await self._compose(session, delivery, patient, lang, zone)
        if composed is None:
            return None
        message, question = composed
        return _Ready(address.urn, address.scheme, address.id, message, question)

    async def _address(
        self, session: AsyncSession, patient_id: int, only: str | None
    ) -> Address | None:
        schemes = [only] if only else list(self._senders)
        addresses = (
            await session.execute(
                select(Address).where(
                    Address.patient_id == patient_id,
                    Address.reachable.is_(True),
                    Address.opted_out_at.is_(None),
                    Address.scheme.in_([s for s in schemes if s in self._senders]),
                )
            )
        ).scalars()
        # Telegram first (free and richer), then SMS.
        ranked = sorted(addresses, key=lambda a: (a.scheme != "telegram", a.id))
        return ranked[0] if ranked else None

    async def _compose(
        self,
        session: AsyncSession,
        delivery: Delivery,
        patient: Patient,
        lang: str,
        zone: ZoneInfo,
    ) -> tuple[OutboundMessage, str | None] | None:
        if delivery.kind == "tip":
            pool = self._tips.get((delivery.reference, lang)) or self._tips.get(
                (delivery.reference, "en"), ()
            )
            tip = await next_tip(session, patient.id, pool)
            if tip is None:
                self._finish(delivery, DeliveryStatus.SKIPPED, "no_tips")
                return None
            delivery.content_ref = tip.id
            return tip_message(self._content, tip), None
        if delivery.kind == "nudge":
            return await self._nudge(session, delivery, patient, lang, zone)
        if delivery.kind == "broadcast":
            return await self._broadcast(session, delivery, lang)
        self._finish(delivery, DeliveryStatus.FAILED, "unknown_kind")
        return None

    async def _nudge(
        self,
        session: AsyncSession,
        delivery: Delivery,
        patient: Patient,
        lang: str,
        zone: ZoneInfo,
    ) -> tuple[OutboundMessage, str | None] | None:
        _, appointment_id, rule_id = delivery.reference.split(":")
        rule = self._rules.get(rule_id)
        appointment = await session.get(Appointment, int(appointment_id))
        if rule is None or rule.version != delivery.rule_version:
            self._finish(delivery, DeliveryStatus.CANCELLED, "rule_changed")
            return None
        if appointment is None or appointment.status not in _VISIT_OK:
            self._finish(delivery, DeliveryStatus.CANCELLED, "appointment_changed")
            return None
        if rule.only_without_future_visit and await self._has_later_visit(session, appointment):
            self._finish(delivery, DeliveryStatus.SKIPPED, "visit_booked")
            return None
        message = nudge_message(
            self._content,
            rule.message,
            lang=lang,
            first_name=(patient.name or "").split(" ")[0] or None,
            starts_at=appointment.starts_at,
            zone=zone,
            appointment_id=appointment.id,
            ask=rule.ask,
        )
        # The patient's free-text reply answers this ("C", "yes", "7"): see handlers/.
        question = {"confirm": "appointment", "pain_score": "pain_score"}.get(rule.ask or "")
        question = f"{question}:{appointment.id}" if question else None
        return message, question

    async def _broadcast(
        self, session: AsyncSession, delivery: Delivery, lang: str
    ) -> tuple[OutboundMessage, str | None] | None:
        broadcast_id = delivery.reference.removeprefix(BROADCAST_PREFIX)
        broadcast = (
            await session.get(Broadcast, int(broadcast_id)) if broadcast_id.isdigit() else None
        )
        if broadcast is None or broadcast.status == BroadcastStatus.CANCELLED:
            self._finish(delivery, DeliveryStatus.CANCELLED, "broadcast_cancelled")
            return None
        texts = json.loads(broadcast.texts)
        text = texts.get(lang) or texts.get("en") or next(iter(texts.values()), "")
        return broadcast_message(self._content, str(text), lang, broadcast.id), None

    async def _has_later_visit(self, session: AsyncSession, appointment: Appointment) -> bool:
        later = await session.scalar(
            select(Appointment.id).where(
                Appointment.patient_id == appointment.patient_id,
                Appointment.starts_at > appointment.starts_at,
                Appointment.status.in_(list(_VISIT_OK)),
            )
        )
        return later is not None

    async def _record(
        self, session: AsyncSession, delivery: Delivery, ready: _Ready, outcome: SendOutcome
    ) -> None:
        now = self._clock()
        delivery.external_id, delivery.updated_at = outcome.external_id, now
        if outcome.status is SendStatus.SENT:
            delivery.status, delivery.sent_at, delivery.reason = DeliveryStatus.SENT, now, None
            if ready.pending_question is not None:
                patient = await session.get(Patient, delivery.patient_id)
                if patient is not None:
                    patient.pending_question, patient.pending_since = ready.pending_question, now
        elif outcome.status is SendStatus.RETRY and delivery.attempts < MAX_ATTEMPTS:
            # Our own backoff (the SDKs' retries are off so nothing is sent twice); at least
            # a second, so a retry is never reclaimed within the same tick.
            wait = max(outcome.retry_after or 30.0 * 2 ** (delivery.attempts - 1), 1.0)
            delivery.status, delivery.reason = DeliveryStatus.PENDING, outcome.error
            delivery.due_at = now + timedelta(seconds=wait)
        else:
            delivery.status, delivery.reason = (
                DeliveryStatus.FAILED,
                outcome.error or outcome.status,
            )
            if outcome.status in (SendStatus.UNREACHABLE, SendStatus.OPTED_OUT):
                address = await session.get(Address, ready.address_id)
                if address is not None and outcome.status is SendStatus.UNREACHABLE:
                    address.reachable, address.unreachable_reason = False, outcome.error
                elif address is not None:
                    address.opted_out_at = now
                delivery.status = DeliveryStatus.SKIPPED
                delivery.reason = str(outcome.status)
        log.info(
            "delivery %s: kind=%s channel=%s status=%s reason=%s",
            delivery.id,
            delivery.kind,
            ready.scheme,
            delivery.status,
            delivery.reason,
        )
