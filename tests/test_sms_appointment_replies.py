"""Free-text appointment replies: codes, words, typos, negations and questions."""

from __future__ import annotations

import pytest

from handlers.patients.appointment_replies import (
    AppointmentIntent,
    pending_appointment,
    understand,
)

CONFIRM, RESCHEDULE = AppointmentIntent.CONFIRM, AppointmentIntent.RESCHEDULE


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("C", CONFIRM),
        ("c.", CONFIRM),
        ("confirm", CONFIRM),
        ("Confirmed!", CONFIRM),
        ("confrim", CONFIRM),  # a typo
        ("yes I'll be there", CONFIRM),
        ("see you then", CONFIRM),
        ("Sí, ahí estaré", CONFIRM),
        ("R", RESCHEDULE),
        ("reschedule", RESCHEDULE),
        ("reschedual please", RESCHEDULE),
        ("can we move it to Thursday?", RESCHEDULE),
        ("yes, but can we move it?", RESCHEDULE),
        ("I can't make it", RESCHEDULE),
        ("no puedo ir, ¿podemos cambiarla?", RESCHEDULE),
        ("what time is it?", None),
        ("Is it ok to eat before?", None),
        ("Is there no parking?", None),
        ("how long do cupping marks last", None),
        ("", None),
        (None, None),
    ],
)
def test_replies_are_understood(text: str | None, intent: AppointmentIntent | None) -> None:
    assert understand(text) is intent


@pytest.mark.parametrize(
    ("pending", "expected"),
    [("appointment:12", 12), ("consent", None), ("appointment:x", None), (None, None)],
)
def test_pending_appointment_ids(pending: str | None, expected: int | None) -> None:
    assert pending_appointment(pending) == expected
