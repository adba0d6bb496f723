"""Opt-outs written as sentences: clear ones are a STOP, unsure ones get how to stop."""

from __future__ import annotations

import pytest

from handlers.conversation.opt_out_words import OptOut, opt_out_request


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("STOP please", "en"),
        ("Stop!! Please", "en"),
        ("please stop texting me", "en"),
        ("Stop messaging me please", "en"),
        ("no more texts", "en"),
        ("No more messages, thanks", "en"),
        ("unsubscribe me", "en"),
        ("do not text me again", "en"),
        ("take me off your list", "en"),
        ("can you stop texting me?", "en"),
        ("ya no me manden mensajes", "es"),
        ("no quiero más mensajes", "es"),
        ("No me manden más mensajes por favor", "es"),
        ("dejen de mandarme mensajes", "es"),
        ("quiero darme de baja", "es"),
        ("alto por favor", "es"),
    ],
)
def test_clear_opt_outs_are_a_stop(text: str, lang: str) -> None:
    found = opt_out_request(text)
    assert found is not None and (found.kind, found.lang) == (OptOut.CLEAR, lang)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("stop the reminders please", "en"),
        ("stop sending me tips", "en"),
        ("no more reminders", "en"),
        ("how do I unsubscribe?", "en"),
        ("why did you stop texting me?", "en"),
        ("no más recordatorios", "es"),
        ("these texts need to stop", "en"),
        ("can you stop the appointment reminders", "en"),
        ("¿cómo me doy de baja?", "es"),
    ],
)
def test_unsure_ones_are_answered_with_how_to_stop(text: str, lang: str) -> None:
    found = opt_out_request(text)
    assert found is not None and (found.kind, found.lang) == (OptOut.UNSURE, lang)


@pytest.mark.parametrize(
    "text",
    [
        "should I stop taking ibuprofen?",
        "when should I stop icing my back?",
        "I need to stop the pain",
        "please don't stop texting me",
        "I want to cancel my appointment",
        "no more appointments this month",
        "What are your texts about?",
        "any tips to stop back pain?",
        "How do I stop the pain? any tips?",
        "Do cupping marks stop hurting after a week?",
        "¿Debo dejar de tomar ibuprofeno?",
        "¿Cuándo puedo parar el tratamiento?",
        "No, no puedo ir",
        "yes",
        "",
        None,
    ],
)
def test_other_sentences_are_not_opt_outs(text: str | None) -> None:
    assert opt_out_request(text) is None
