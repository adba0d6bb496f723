"""Language detection for short patient messages."""

from __future__ import annotations

import pytest

from content.language import detect_language


@pytest.mark.parametrize(
    "text",
    [
        "hola",
        "cuanto cuesta",
        "tengo dolor de espalda",
        "¿Cuánto cuesta?",
        "me duele mucho el cuello",
        "atienden ninos?",
        "necesito una cita para manana",
    ],
)
def test_spanish(text: str) -> None:
    assert detect_language(text) == "es"


@pytest.mark.parametrize(
    "text",
    ["how much does it cost", "do the needles hurt", "my back hurts", "can i book online"],
)
def test_english(text: str) -> None:
    assert detect_language(text, default="es") == "en"


@pytest.mark.parametrize("text", ["ok", "thanks", "123", "", "lol", "ok thanks", "?"])
@pytest.mark.parametrize("default", ["en", "es"])
def test_no_evidence_gives_the_default(text: str, default: str) -> None:
    assert detect_language(text, default=default) == default


def test_unknown_default_becomes_english() -> None:
    assert detect_language("ok", default="fr") == "en"
