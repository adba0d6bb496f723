"""Where the core reports events staff must know about; the staff issue posts them to a group."""

from __future__ import annotations

import logging
from typing import Protocol

from handlers.messages import Channel

__all__ = ["AlertSink", "LogAlerts"]

log = logging.getLogger(__name__)


class AlertSink(Protocol):
    """Receives alerts for staff: ids and categories only, never message text."""

    async def red_flag(self, *, patient_id: int, category: str, channel: Channel) -> None:
        """Tell staff a patient's message raised a red flag."""


class LogAlerts:
    """An AlertSink that writes alerts to the log, until staff alerts are delivered."""

    async def red_flag(self, *, patient_id: int, category: str, channel: Channel) -> None:
        """Log a red-flag alert with the patient's id and the category."""
        log.warning("red flag: patient=%s category=%s channel=%s", patient_id, category, channel)
