"""FAQ ranking and confidence on the clinic's real content."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest

from content.check import load_content
from content.search import FaqIndex, Match, is_confident

CONTENT = Path(__file__).resolve().parents[1] / "content"


@lru_cache(maxsize=2)
def index(lang: str) -> FaqIndex:
    store = load_content(CONTENT)
    return FaqIndex(store.answers[lang].values(), lang)


def best(text: str, lang: str = "en") -> Match:
    matches = index(lang).search(text)
    assert matches, text
    return matches[0]


@pytest.mark.parametrize(
    ("text", "lang", "topic"),
    [
        ("how much is a follow up visit", "en", "pricing"),
        ("do the needles hurt", "en", "acupuncture.pain"),
        ("what is cupping", "en", "cupping.what"),
        ("can i get acupuncture while pregnant", "en", "safety.pregnancy"),
        ("do you take insurance", "en", "billing.insurance"),
        ("cuanto cuesta la primera cita", "es", "pricing"),
        ("me dan miedo las agujas", "es", "needle_fear"),
    ],
)
def test_plain_questions_find_their_topic_confidently(text: str, lang: str, topic: str) -> None:
    match = best(text, lang)
    assert match.topic == topic
    assert is_confident(match)


def test_close_typo_is_repaired() -> None:
    match = best("do the neeedles hurt")
    assert match.topic == "acupuncture.pain"
    assert is_confident(match)


def test_real_word_is_not_repaired_into_a_clinic_word() -> None:
    # "bowl" is an everyday word, not a typo of anything in the answers.
    assert index("en").terms("bowl") == ["bowl"]
    assert index("en").terms("neeedles") == ["needl"]


@pytest.mark.parametrize(
    "text",
    [
        "what time does the super bowl start",
        "how do i reset my iphone",
        "recommend a good show on netflix",
        "how do i cancel my spotify subscription",
        "book me a flight to denver",
        "cual es la capital de peru",
    ],
)
def test_off_topic_questions_fall_back(text: str) -> None:
    for lang in ("en", "es"):
        matches = index(lang).search(text)
        assert not matches or not is_confident(matches[0]), (lang, matches[:1])


def test_results_are_sorted_and_limited() -> None:
    matches = index("en").search("how long do the needles stay in", limit=3)
    assert 1 <= len(matches) <= 3
    ranks, scores = [m.rank for m in matches], [m.score for m in matches]
    assert ranks == sorted(ranks, reverse=True)
    assert all(0.0 <= m.rank <= m.score <= 1.0 + 1e-9 for m in matches)
    assert matches[0].margin == pytest.approx(scores[0] - scores[1]) if len(scores) > 1 else True


@pytest.mark.parametrize("text", ["", "   ", "?!", "the and of", "12345"])
def test_empty_or_stopword_only_text_is_never_confident(text: str) -> None:
    matches = index("en").search(text)
    assert not matches or not is_confident(matches[0])


def test_very_long_text_is_cut_not_rejected() -> None:
    matches = index("en").search("do the needles hurt " * 500)
    assert matches and matches[0].topic == "acupuncture.pain"


def test_match_needs_both_score_and_domain_evidence() -> None:
    assert is_confident(Match("pricing", 0.6, 1.0, 0.3, 1.0))
    assert not is_confident(Match("pricing", 0.1, 1.0, 0.1, 2.0))
    assert not is_confident(Match("pricing", 0.6, 0.5, 0.3, -0.5))


def test_texting_shorthand_is_spelled_out() -> None:
    assert index("en").terms("r u open 2day", bigrams=False) == ["open", "today"]
    assert best("how many sesh").topic == "sessions.count"
    assert best("how many sesh").topic == best("how many sessions").topic


def test_a_misspelling_in_an_example_is_repaired_not_tied_to_its_topic() -> None:
    # "acupunture" is written in an example question of one topic; it must still read as
    # "acupuncture", or "does acupunture hurt" would go to that topic instead of the pain one.
    assert index("en").terms("acupunture", bigrams=False) == index("en").terms(
        "acupuncture", bigrams=False
    )
    match = best("does acupunture hurt")
    assert match.topic == "acupuncture.pain" and is_confident(match)


def test_the_telling_word_outranks_shared_common_words() -> None:
    # "do i need to change" is what-to-wear phrasing; "medication" is what the question is about.
    assert best("do i need to change my medication").topic == "medication"


def test_a_weak_match_on_an_everyday_word_is_not_confident() -> None:
    match = best("quiero hablar con una persona", "es")
    assert not is_confident(match), match
