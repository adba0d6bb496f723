"""Pain scores in free text: one clear number from 0 to 10, in English or Spanish."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.patients.pain_score import parse_pain_score


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("7", 7),
        ("about a 6", 6),
        ("6/10", 6),
        ("3 out of 10 today", 3),
        ("zero!", 0),
        ("ten", 10),
        ("seis", 6),
        ("un 4 de 10", 4),
        ("10", 10),
        ("Better, maybe 2", 2),
    ],
)
def test_a_clear_score_is_understood(text: str, score: int) -> None:
    assert parse_pain_score(text) == score


@pytest.mark.parametrize(
    "text",
    [
        "",
        "better thanks",
        "11",
        "between 4 and 6",
        "3 or 4",
        "I have one question about parking",
        "tengo una pregunta",
        "2.5",
        "can I book on the 12th",
        "it was 7 yesterday and now it's 4, and I wanted to ask whether I should come in earlier",
    ],
)
def test_no_score_or_an_unclear_one_is_not_guessed(text: str) -> None:
    assert parse_pain_score(text) is None


@given(st.integers(min_value=0, max_value=10))
def test_every_score_round_trips(score: int) -> None:
    assert parse_pain_score(str(score)) == score
    assert parse_pain_score(f"{score}/10") == score
