"""SMS keywords and automated SMS text: whole-message words, two segments, one STOP line."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from content.sms import count_segments
from handlers.conversation.sms_keywords import Keyword, classify, fit_automated, keyword_language

OPT_OUT = "Reply STOP to opt out."


@pytest.mark.parametrize(
    ("text", "keyword", "lang"),
    [
        ("STOP", Keyword.STOP, "en"),
        ("  stop!! ", Keyword.STOP, "en"),
        *[
            (w, Keyword.STOP, "en")
            for w in "StopAll UNSUBSCRIBE cancel End quit OPTOUT revoke".split()
        ],
        ("opt-out", Keyword.STOP, "en"),
        ("ALTO", Keyword.STOP, "es"),
        ("parar.", Keyword.STOP, "es"),
        ("START", Keyword.START, "en"),
        ("unstop", Keyword.START, "en"),
        ("Yes", Keyword.YES, "en"),
        ("SÍ", Keyword.YES, "es"),
        ("si", Keyword.YES, "es"),
        ("HELP", Keyword.HELP, "en"),
        ("info?", Keyword.HELP, "en"),
        ("Ayuda", Keyword.HELP, "es"),
    ],
)
def test_keywords_ignore_case_accents_spaces_and_punctuation(
    text: str, keyword: Keyword, lang: str
) -> None:
    assert classify(text) is keyword
    assert keyword_language(text) == lang


@pytest.mark.parametrize(
    "text", ["please stop the reminders", "I want to cancel my visit", "yes please", "", None]
)
def test_keywords_are_whole_messages_only(text: str | None) -> None:
    assert classify(text) is None


def test_fitting_adds_the_clinic_and_the_opt_out_line_once() -> None:
    body = fit_automated("Time for your stretches.", clinic_name="Willow", opt_out=OPT_OUT)
    assert body == "Willow: Time for your stretches. Reply STOP to opt out."
    again = fit_automated(body, clinic_name="Willow", opt_out=OPT_OUT)
    assert again == body


@given(st.text(max_size=1200))
def test_automated_text_always_fits_two_segments_and_keeps_the_opt_out(text: str) -> None:
    body = fit_automated(text, clinic_name="Willow Creek", opt_out=OPT_OUT)
    assert count_segments(body).count <= 2
    assert "STOP" in body
    assert body.startswith("Willow Creek") or "willow creek" in body.casefold()
