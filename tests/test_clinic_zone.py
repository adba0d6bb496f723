"""One clinic time zone everywhere: CLINIC_TIMEZONE first, then clinic.yaml."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from bot.app import load_answerer
from bot.errors import ContentError
from bot.settings import load_settings
from handlers.time.clinic_zone import clinic_zone, clinic_zone_name
from scheduler.imports import clinic_zone_of


def test_the_setting_wins_over_the_clinic_fact() -> None:
    clinic = {"timezone": "America/Los_Angeles"}
    assert clinic_zone(clinic) == ZoneInfo("America/Los_Angeles")
    assert clinic_zone(clinic, "America/New_York") == ZoneInfo("America/New_York")
    assert clinic_zone_name(clinic, None) == "America/Los_Angeles"


@pytest.mark.parametrize("clinic", [{}, {"timezone": "Mars/Olympus"}, {"timezone": None}])
def test_no_usable_zone_is_one_clear_line(clinic: dict[str, object]) -> None:
    with pytest.raises(ContentError, match="CLINIC_TIMEZONE"):
        clinic_zone(clinic)


def test_loaded_content_carries_the_setting_so_every_site_agrees() -> None:
    plain = load_settings()
    assert load_answerer(plain).content.clinic["timezone"] == "America/Los_Angeles"
    assert clinic_zone_of(plain) == ZoneInfo("America/Los_Angeles")
    moved = load_settings(clinic_timezone="America/New_York")
    # Hand-off hours and SMS summaries read the content's facts; imports read the setting.
    assert load_answerer(moved).content.clinic["timezone"] == "America/New_York"
    assert clinic_zone_of(moved) == ZoneInfo("America/New_York")
