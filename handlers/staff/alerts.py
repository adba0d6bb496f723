"""Alerts and ticket messages for the staff group, with as little detail as the clinic chose."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from sqlalchemy import select

from bot.clock import Clock, utc_now
from bot.db.models import (
    Appointment,
    Delivery,
    Patient,
    SafetyEvent,
    Ticket,
    TicketPost,
    TicketStatus,
)
from bot.db.session import Database
from content.store import ContentStore
from handlers.channels import channel_of_scheme
from handlers.messages import Channel
from handlers.patients.appointments import describe_when
from handlers.staff.tickets import open_ticket, open_ticket_of
from handlers.wording import fill

__all__ = [
    "BACKLOG",
    "AlertDetail",
    "StaffAlerts",
    "StaffPoster",
    "channel_label",
    "ticket_header",
]

log = logging.getLogger(__name__)

BACKLOG = 200  # alerts kept while the staff group is unreachable (then the oldest is dropped)

_CHANNEL_LABELS: dict[str, str] = {
    Channel.TELEGRAM: "Telegram",
    Channel.SMS: "SMS",
    Channel.CLI: "terminal",
    Channel.WEB: "web chat",
}


class AlertDetail(StrEnum):
    """How much the staff group sees: `minimal` never shows symptoms or message text."""

    MINIMAL = "minimal"
    FULL = "full"


class StaffPoster(Protocol):
    """The channel that reaches the staff group (Telegram)."""

    async def post(self, text: str, *, ticket_id: int | None = None) -> bool:
        """Post plain text to the staff group, linked to a ticket; False if it did not go."""


def channel_label(channel: str) -> str:
    """Return how staff see a channel's name."""
    return _CHANNEL_LABELS.get(channel, channel)


def _first_name(name: str) -> str:
    return name.split(" ")[0] or name


def ticket_header(content: ContentStore, ticket: Ticket, name: str) -> str:
    """Return the staff group's first post of a ticket: number, first name, channel, reason."""
    return fill(
        content.message("staff_ticket_opened", "en").text,
        {
            "ticket": str(ticket.id),
            "name": name,
            "channel": channel_label(ticket.channel),
            "reason": ticket.reason,
        },
    )


@dataclass(frozen=True)
class _Unposted:
    """An alert the staff group could not take when it was raised."""

    text: str
    ticket_id: int | None
    what: str  # ids only, for the log


class StaffAlerts:
    """An AlertSink that posts to the staff group.

    It is built before the channels (the conversation needs it) and attached to the staff
    group's poster when Telegram starts, hence `attach`. An alert the group cannot take (Telegram
    not connected yet, or refusing) waits in memory, up to BACKLOG of them, and goes out before
    the next one or when Telegram connects; the safety event itself is already in the database.
    """

    handoff = True

    def __init__(
        self, *, detail: AlertDetail = AlertDetail.MINIMAL, clock: Clock = utc_now
    ) -> None:
        self.detail = detail
        self._clock = clock
        self._db: Database | None = None
        self._content: ContentStore | None = None
        self._poster: StaffPoster | None = None
        self._unposted: deque[_Unposted] = deque(maxlen=BACKLOG)

    def attach(self, db: Database, content: ContentStore, poster: StaffPoster) -> None:
        """Start posting to the staff group through `poster`."""
        self._db, self._content, self._poster = db, content, poster

    def _name(self, patient: Patient | None) -> str:
        if patient is None:
            return "?"
        if not patient.name:  # an SMS patient who never gave a name
            return f"patient {patient.id}"
        return patient.name if self.detail is AlertDetail.FULL else _first_name(patient.name)

    def _say(self, key: str, **values: str) -> str:
        assert self._content is not None
        return fill(self._content.message(key, "en").text, values)

    async def _post(self, text: str, ticket_id: int | None, what: str) -> None:
        # Older alerts go first, so staff read them in the order they happened.
        if await self.retry_unposted() is not None and await self._try(text, ticket_id):
            return
        if len(self._unposted) == BACKLOG:
            log.warning("staff alert dropped (backlog full): %s", self._unposted[0].what)
        self._unposted.append(_Unposted(text, ticket_id, what))
        log.warning("staff alert not posted yet, kept to retry: %s", what)

    async def _try(self, text: str, ticket_id: int | None) -> bool:
        return self._poster is not None and await self._poster.post(text, ticket_id=ticket_id)

    def drop_unposted(self, ticket_ids: Collection[int]) -> int:
        """Forget the waiting alerts of these tickets (the patient was erased); return how many."""
        kept = deque(
            (alert for alert in self._unposted if alert.ticket_id not in ticket_ids),
            maxlen=BACKLOG,
        )
        dropped = len(self._unposted) - len(kept)
        self._unposted = kept
        return dropped

    async def retry_unposted(self) -> int | None:
        """Post the alerts the staff group could not take yet, oldest first.

        Return how many went, or None if some are still waiting (the group is unreachable).
        Called before every new alert and when Telegram connects.
        """
        sent = 0
        while self._unposted:
            first = self._unposted[0]
            if not await self._try(first.text, first.ticket_id):
                return None
            self._unposted.popleft()
            sent += 1
        if sent:
            log.info("staff alerts posted late: %s", sent)
        return sent

    async def red_flag(self, *, patient_id: int, category: str, channel: Channel) -> None:
        """Post a red-flag alert: first name, channel, category, ticket (the rule only if full)."""
        log.warning("red flag: patient=%s category=%s channel=%s", patient_id, category, channel)
        if self._db is None:
            return
        async with self._db.session() as session:
            patient = await session.get(Patient, patient_id)
            ticket = await open_ticket_of(session, patient_id)
            # The rule names the symptom: read back from the event the core just recorded.
            rule = await session.scalar(
                select(SafetyEvent.rule)
                .where(SafetyEvent.patient_id == patient_id)
                .order_by(SafetyEvent.id.desc())
                .limit(1)
            )
        values = {
            "name": self._name(patient),
            "channel": channel_label(channel),
            "category": category,
            "ticket": f" · #{ticket.id}" if ticket else "",
        }
        text = self._say("staff_alert_red_flag", **values)
        if self.detail is AlertDetail.FULL and rule:
            text = f"{text}\n{self._say('staff_alert_rule', rule=rule)}"
        await self._post(text, ticket.id if ticket else None, f"red_flag patient={patient_id}")

    async def ticket_opened(self, *, patient_id: int) -> None:
        """Post the open ticket's header, unless the staff group has a post for it already."""
        if self._db is None or self._content is None:
            log.info("ticket open: patient=%s (staff group not connected)", patient_id)
            return
        async with self._db.session() as session:
            ticket = await open_ticket_of(session, patient_id)
            if ticket is None:
                return
            posted = await session.scalar(
                select(TicketPost.id).where(TicketPost.ticket_id == ticket.id).limit(1)
            )
            patient = await session.get(Patient, patient_id)
        if posted is None:
            header = ticket_header(self._content, ticket, self._name(patient))
            await self._post(header, ticket.id, f"ticket={ticket.id}")

    async def ticket_message(self, *, ticket_id: int, text: str) -> None:
        """Post a patient's message under their ticket number (staff answer by replying)."""
        if self._db is None:
            log.info("ticket message: ticket=%s (staff group not connected)", ticket_id)
            return
        async with self._db.session() as session:
            ticket = await session.get(Ticket, ticket_id)
            patient = await session.get(Patient, ticket.patient_id) if ticket else None
        if ticket is None or ticket.status != TicketStatus.OPEN:
            return
        body = self._say(
            "staff_ticket_message", ticket=str(ticket_id), name=self._name(patient), text=text
        )
        await self._post(body, ticket_id, f"ticket={ticket_id}")

    async def reschedule(self, *, patient_id: int, appointment_id: int, channel: Channel) -> None:
        """Open (or reuse) the patient's ticket and post the request (the time only if full)."""
        log.info("reschedule alert: patient=%s appointment=%s", patient_id, appointment_id)
        if self._db is None or self._content is None:
            return
        async with self._db.session() as session, session.begin():
            appointment = await session.get(Appointment, appointment_id)
            if appointment is None or appointment.patient_id != patient_id:
                return  # a stale or forged pick: nothing was requested
            patient = await session.get(Patient, patient_id)
            ticket, _ = await open_ticket(
                session, patient_id, reason="reschedule", channel=channel, now=self._clock()
            )
        text = self._say(
            "staff_alert_reschedule",
            name=self._name(patient),
            channel=channel_label(ticket.channel),
            ticket=f" · #{ticket.id}",
        )
        if self.detail is AlertDetail.FULL:
            text = f"{text}\n{self._say('staff_alert_visit', when=self._when(appointment))}"
        await self._post(text, ticket.id, f"reschedule patient={patient_id}")

    def _when(self, appointment: Appointment) -> str:
        assert self._content is not None
        zone = str(self._content.clinic.get("timezone", "UTC"))
        return describe_when(appointment.starts_at, zone, "en")

    async def nudge_failed(self, *, delivery_id: int) -> None:
        """Post that an appointment message was not delivered: first name, channel, why."""
        log.warning("nudge not delivered: delivery=%s", delivery_id)
        if self._db is None:
            return
        async with self._db.session() as session:
            delivery = await session.get(Delivery, delivery_id)
            patient = await session.get(Patient, delivery.patient_id) if delivery else None
            ticket = await open_ticket_of(session, patient.id) if patient else None
        if delivery is None:
            return
        channel = channel_of_scheme(delivery.channel or "")
        text = self._say(
            "staff_alert_nudge_failed",
            name=self._name(patient),
            channel=channel_label(channel) if channel else "-",
            reason=delivery.reason or str(delivery.status),
            ticket=f" · #{ticket.id}" if ticket else "",
        )
        await self._post(text, ticket.id if ticket else None, f"nudge delivery={delivery_id}")
