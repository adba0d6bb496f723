"""SMS text: segment counting per encoding, and keeping text GSM-7 where possible."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from content.sms import GSM7_BASIC, GSM7_EXTENDED, count_segments, to_sms_text

gsm_basic = st.text(alphabet=sorted(GSM7_BASIC - {"\r"}), max_size=800)


@pytest.mark.parametrize(
    ("text", "encoding", "count"),
    [
        ("", "GSM-7", 0),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),  # extension characters count twice
        ("€" * 81, "GSM-7", 2),
        ("á" * 70, "UCS-2", 1),
        ("á" * 71, "UCS-2", 2),
        ("😀" * 35, "UCS-2", 1),  # an emoji is two UTF-16 units
        ("😀" * 36, "UCS-2", 2),
    ],
)
def test_segments(text: str, encoding: str, count: int) -> None:
    segments = count_segments(text)
    assert (segments.encoding, segments.count) == (encoding, count)


@given(gsm_basic)
def test_gsm7_segment_count_matches_the_formula(text: str) -> None:
    n = len(text)
    expected = 0 if n == 0 else 1 if n <= 160 else -(-n // 153)
    assert count_segments(text).count == expected


@given(st.text(max_size=400))
def test_segments_always_hold_the_text(text: str) -> None:
    segments = count_segments(text)
    per_segment = (153 if segments.encoding == "GSM-7" else 67) if segments.count > 1 else 160
    if segments.encoding == "UCS-2" and segments.count == 1:
        per_segment = 70
    assert segments.units <= segments.count * per_segment


def test_typography_and_markdown_become_plain_gsm7() -> None:
    text = to_sms_text("**Hola** — ¿cómo está? “Bien” [book](https://x.example)…")
    assert text == 'Hola - ¿como esta? "Bien" book (https://x.example)...'
    assert count_segments(text).encoding == "GSM-7"


@given(st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENDED), max_size=300))
def test_plain_gsm7_text_is_not_made_longer(text: str) -> None:
    assert count_segments(to_sms_text(text)).units <= count_segments(text).units
