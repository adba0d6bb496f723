"""Decide one claimed delivery from a batch's prefetched facts: send it, or say why not."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.db.models import (
    Address,
    BroadcastStatus,
    ConsentCategory,
    Delivery,
    DeliveryStatus,
    Patient,
    PatientStatus,
)
from content.store import ContentStore
from content.tips import Tip
from handlers.messages import OutboundMessage
from handlers.time.quiet_hours import QuietHours
from scheduler.compose import (
    BROADCAST_PREFIX,
    broadcast_message,
    nudge_message,
    pick_tip,
    tip_message,
)
from scheduler.prefetch import VISIT_OK, BatchFacts, nudge_target
from scheduler.rules import NudgeRule
from scheduler.timing import occurrences, parse_hhmm, patient_zone
from scheduler.tip_window import TIP_GRACE

__all__ = ["CATEGORY_OF_KIND", "Decider", "Ready"]

CATEGORY_OF_KIND = {
    "tip": ConsentCategory.TIPS,
    "nudge": ConsentCategory.APPOINTMENTS,
    "broadcast": ConsentCategory.ANNOUNCEMENTS,
}
_QUESTION = {"confirm": "appointment", "pain_score": "pain_score"}
Composed = tuple[OutboundMessage, str | None, str | None]  # message, question, content_ref


@dataclass(frozen=True)
class Ready:
    """A row decided sendable: where it goes, what it says, what it asks."""

    delivery_id: int
    kind: str
    patient_id: int
    attempts: int  # including this one
    due_at: datetime
    urn: str
    scheme: str
    address_id: int
    message: OutboundMessage
    pending_question: str | None
    content_ref: str | None


class Decider:
    """Check consent, reachability, quiet hours, expiry and the visit; compose the message."""

    def __init__(
        self,
        content: ContentStore,
        tips: Mapping[tuple[str, str], Sequence[Tip]],
        rules: Sequence[NudgeRule],
        schemes: Collection[str],
        *,
        clock: Clock,
        clinic_zone: ZoneInfo,
        quiet: QuietHours,
    ) -> None:
        self._content, self._tips = content, tips
        self._rules = {rule.id: rule for rule in rules}
        self._schemes, self._clock = schemes, clock
        self._zone, self._quiet = clinic_zone, quiet

    def _finish(self, delivery: Delivery, status: DeliveryStatus, reason: str | None) -> None:
        delivery.status, delivery.reason, delivery.updated_at = status, reason, self._clock()

    def decide(self, delivery: Delivery, facts: BatchFacts) -> Ready | None:
        """Return what to send, or None after recording on the row why it is not sent."""
        now = self._clock()
        if delivery.expires_at is not None and now >= delivery.expires_at:
            self._finish(delivery, DeliveryStatus.MISSED, "expired")
            return None
        patient = facts.patients.get(delivery.patient_id)
        if patient is None or patient.status != PatientStatus.ACTIVE:
            self._finish(delivery, DeliveryStatus.SKIPPED, "no_patient")
            return None
        category = CATEGORY_OF_KIND.get(delivery.kind)
        if category is None or not facts.consents[patient.id].get(category):
            self._finish(delivery, DeliveryStatus.SKIPPED, "no_consent")
            return None
        if delivery.kind == "tip" and patient.reminders_paused:
            self._finish(delivery, DeliveryStatus.SKIPPED, "paused")
            return None
        if delivery.kind == "tip" and not self._still_wanted(delivery, patient, facts):
            # Planned up to a day ahead: the patient has since turned it off or moved it.
            self._finish(delivery, DeliveryStatus.CANCELLED, "preference_changed")
            return None
        address = self._address(facts.addresses[patient.id], delivery.channel)
        if address is None:
            self._finish(delivery, DeliveryStatus.SKIPPED, "unreachable")
            return None
        zone = patient_zone(patient.timezone, self._zone)
        if self._quiet.is_quiet(now, zone):  # e.g. a retry that drifted into the night
            delivery.due_at = self._quiet.next_allowed(now, zone)
            self._finish(delivery, DeliveryStatus.PENDING, "quiet_hours")
            return None
        composed = self._compose(delivery, patient, facts, zone)
        if composed is None:
            return None
        message, question, content_ref = composed
        # The sender checks this consent again just before it posts
        # (handlers.delivery.consent.refusal).
        message = replace(message, consent=category)
        return Ready(
            delivery.id,
            delivery.kind,
            patient.id,
            delivery.attempts + 1,
            delivery.due_at,
            address.urn,
            address.scheme,
            address.id,
            message,
            question,
            content_ref,
        )

    def _still_wanted(self, delivery: Delivery, patient: Patient, facts: BatchFacts) -> bool:
        """Say whether the patient's current preference would still plan this tip."""
        preference = facts.tip_preferences.get((patient.id, delivery.reference))
        if preference is None:
            return False
        weekdays, local_time = preference
        try:
            at = parse_hhmm(local_time)
        except ValueError:
            return False
        zone = patient_zone(patient.timezone, self._zone)
        # The planned time, not due_at: a retry moves due_at but never expires_at.
        planned = delivery.expires_at - TIP_GRACE if delivery.expires_at else delivery.due_at
        around = timedelta(hours=13)
        return any(
            self._quiet.next_allowed(instant, zone) == planned
            for instant in occurrences(planned - around, planned + around, zone, at, weekdays)
        )

    def _address(self, addresses: Sequence[Address], only: str | None) -> Address | None:
        schemes = [only] if only else list(self._schemes)
        usable = [a for a in addresses if a.scheme in schemes and a.scheme in self._schemes]
        # Telegram first (free and richer), then SMS.
        ranked = sorted(usable, key=lambda a: (a.scheme != "telegram", a.id))
        return ranked[0] if ranked else None

    def _compose(
        self, delivery: Delivery, patient: Patient, facts: BatchFacts, zone: ZoneInfo
    ) -> Composed | None:
        lang = patient.language or "en"
        if delivery.kind == "tip":
            pool = self._tips.get((delivery.reference, lang)) or self._tips.get(
                (delivery.reference, "en"), ()
            )
            history = facts.history[(patient.id, delivery.reference)]
            tip = pick_tip(pool, history)
            if tip is None:
                self._finish(delivery, DeliveryStatus.SKIPPED, "no_tips")
                return None
            history[tip.id] = max(history.values(), default=-1) + 1  # a 2nd tip in this batch
            return tip_message(self._content, tip), None, tip.id
        if delivery.kind == "nudge":
            return self._nudge(delivery, patient, facts, lang, zone)
        if delivery.kind == "broadcast":
            return self._broadcast(delivery, facts, lang)
        self._finish(delivery, DeliveryStatus.FAILED, "unknown_kind")
        return None

    def _nudge(
        self, delivery: Delivery, patient: Patient, facts: BatchFacts, lang: str, zone: ZoneInfo
    ) -> Composed | None:
        appointment_id, rule_id = nudge_target(delivery)
        rule = self._rules.get(rule_id or "")
        appointment = facts.appointments.get(appointment_id or 0)
        if rule is None or rule.version != delivery.rule_version:
            self._finish(delivery, DeliveryStatus.CANCELLED, "rule_changed")
            return None
        if appointment is None or appointment.status not in VISIT_OK:
            self._finish(delivery, DeliveryStatus.CANCELLED, "appointment_changed")
            return None
        latest = facts.last_visit.get(appointment.patient_id, appointment.starts_at)
        if rule.only_without_future_visit and latest > appointment.starts_at:
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
        question = _QUESTION.get(rule.ask or "")
        question = f"{question}:{appointment.id}" if question else None
        return message, question, delivery.content_ref

    def _broadcast(self, delivery: Delivery, facts: BatchFacts, lang: str) -> Composed | None:
        broadcast_id = delivery.reference.removeprefix(BROADCAST_PREFIX)
        broadcast = facts.broadcasts.get(int(broadcast_id)) if broadcast_id.isdigit() else None
        if broadcast is None or broadcast.status == BroadcastStatus.CANCELLED:
            self._finish(delivery, DeliveryStatus.CANCELLED, "broadcast_cancelled")
            return None
        texts = json.loads(broadcast.texts)
        text = texts.get(lang) or texts.get("en") or next(iter(texts.values()), "")
        return broadcast_message(self._content, str(text), lang, broadcast.id), None, None
