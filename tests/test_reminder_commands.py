"""Tips commands in words: what "TIPS DIET OFF" and friends mean, and what they refuse."""

from __future__ import annotations

import pytest

from bot.db.models import TipCategory
from handlers.patients.preferences import DAYS
from handlers.patients.reminder_commands import (
    ReminderChange,
    ReminderCommandError,
    parse_tips_command,
)
from handlers.time.quiet_hours import QuietHours

QUIET = QuietHours()
ALL = tuple(TipCategory)


@pytest.mark.parametrize(
    ("text", "change"),
    [
        ("TIPS", ReminderChange()),
        ("  tips ", ReminderChange()),
        ("Consejos", ReminderChange()),
        ("TIPS DIET OFF", ReminderChange(turn_off=(TipCategory.DIET,))),
        (
            "tips exercise meditation on",
            ReminderChange(turn_on=(TipCategory.EXERCISE, TipCategory.MEDITATION)),
        ),
        ("TIPS ON", ReminderChange(turn_on=ALL)),
        ("consejos dieta off", ReminderChange(turn_off=(TipCategory.DIET,))),
        ("CONSEJOS MEDITACIÓN SI", ReminderChange(turn_on=(TipCategory.MEDITATION,))),
        ("TIPS 18:00", ReminderChange(local_time="18:00")),
        ("tips 6pm", ReminderChange(local_time="18:00")),
        ("tips 8:30 am", ReminderChange(local_time="08:30")),
        ("TIPS WEEKDAYS", ReminderChange(weekdays=DAYS["weekdays"])),
        ("TIPS PAUSE", ReminderChange(paused=True)),
        ("consejos reanudar", ReminderChange(paused=False)),
        ("TIPS ZONE America/Chicago", ReminderChange(zone="America/Chicago")),
    ],
)
def test_commands_are_understood(text: str, change: ReminderChange) -> None:
    assert parse_tips_command(text, QUIET) == change


@pytest.mark.parametrize(
    "text",
    [
        "what tips do you have for my back",
        "tips for sciatica?",
        "TIPS YOGA ON",
        "tips diet maybe",
        "STOP",
        "",
    ],
)
def test_questions_and_other_messages_are_not_commands(text: str) -> None:
    assert parse_tips_command(text, QUIET) is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("TIPS 23:00", "night"),
        ("tips 5am", "night"),
        ("TIPS ZONE Mars/Olympus", "zone"),
    ],
)
def test_refusals_say_why(text: str, reason: str) -> None:
    with pytest.raises(ReminderCommandError, match=reason):
        parse_tips_command(text, QUIET)
