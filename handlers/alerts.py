"""Where the core reports events staff must know about; the staff issue posts them to a group."""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

from handlers.messages import Channel

__all__ = ["AlertSink", "LogAlerts", "StaffDesk"]

log = logging.getLogger(__name__)


class AlertSink(Protocol):
    """Receives alerts for staff: ids and categories only, never message text."""

    async def red_flag(self, *, patient_id: int, category: str, channel: Channel) -> None:
        """Tell staff a patient's message raised a red flag."""


@runtime_checkable
class StaffDesk(AlertSink, Protocol):
    """An AlertSink that also takes hand-offs, reschedule requests and failed deliveries."""

    # True when staff can take a hand-off (a staff group is configured): /human opens a ticket.
    handoff: bool

    async def ticket_opened(self, *, patient_id: int) -> None:
        """Tell staff about the patient's open ticket, unless they have been told already."""

    async def ticket_message(self, *, ticket_id: int, text: str) -> None:
        """Pass a patient's message on to the staff handling their ticket."""

    async def reschedule(self, *, patient_id: int, appointment_id: int, channel: Channel) -> None:
        """Tell staff a patient asked to move an appointment (a ticket, with a staff group)."""

    async def nudge_failed(self, *, delivery_id: int) -> None:
        """Tell staff an appointment message could not be delivered."""


class LogAlerts:
    """An AlertSink that writes alerts to the log, until staff alerts are delivered."""

    handoff = False

    async def red_flag(self, *, patient_id: int, category: str, channel: Channel) -> None:
        """Log a red-flag alert with the patient's id and the category."""
        log.warning("red flag: patient=%s category=%s channel=%s", patient_id, category, channel)

    async def ticket_opened(self, *, patient_id: int) -> None:
        """Log that a patient has an open ticket."""
        log.info("ticket open: patient=%s", patient_id)

    async def ticket_message(self, *, ticket_id: int, text: str) -> None:
        """Log that a ticket got a message (never its text)."""
        log.info("ticket message: ticket=%s", ticket_id)

    async def reschedule(self, *, patient_id: int, appointment_id: int, channel: Channel) -> None:
        """Log a reschedule request by ids."""
        log.warning("reschedule: patient=%s appointment=%s", patient_id, appointment_id)

    async def nudge_failed(self, *, delivery_id: int) -> None:
        """Log a failed appointment message by its delivery id."""
        log.warning("nudge not delivered: delivery=%s", delivery_id)
