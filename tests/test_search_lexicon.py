"""The search's word lists: word families, off-topic requests and Spanish diminutives."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest

from content.check import load_content
from content.search import FaqIndex, is_confident
from content.search_lexicon import (
    ELSEWHERE_FILE,
    SYNONYMS_FILE,
    load_elsewhere,
    load_synonyms,
)
from content.search_morphology import diminutive_bases
from content.text import stem, tokens

CONTENT = Path(__file__).resolve().parents[1] / "content"


@lru_cache(maxsize=8)
def index(lang: str, *, families: bool = True, off_topic: bool = True) -> FaqIndex:
    answers = load_content(CONTENT).answers[lang].values()
    return FaqIndex(
        answers, lang, families=None if families else {}, off_topic=None if off_topic else ()
    )


@pytest.mark.parametrize("lang", ["en", "es"])
def test_each_family_head_is_a_word_the_answers_use(lang: str) -> None:
    answers = load_content(CONTENT).answers[lang].values()
    used = {
        stem(word, lang)
        for answer in answers
        for text in (answer.title, answer.body, *answer.questions, *answer.keywords)
        for word in tokens(text)
    }
    heads = set(load_synonyms(SYNONYMS_FILE)[lang].values())
    assert sorted(head for head in heads if stem(head, lang) not in used) == []


@pytest.mark.parametrize(
    ("text", "lang", "topic"),
    [("do you treat youngsters", "en", "ages"), ("atienden escuincles?", "es", "ages")],
)
def test_a_family_word_finds_the_topic_its_head_belongs_to(
    text: str, lang: str, topic: str
) -> None:
    found = index(lang).search(text)[0]
    assert (found.topic, is_confident(found)) == (topic, True)
    bare = index(lang, families=False).search(text)[0]
    assert (bare.topic, is_confident(bare)) != (topic, True)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("what time does the pharmacy close", "en"),
        ("can you recommend a dermatologist for my rash", "en"),
        ("que farmacia abre en la noche", "es"),
    ],
)
def test_a_request_for_another_service_falls_back(text: str, lang: str) -> None:
    assert not is_confident(index(lang).search(text)[0])
    # Without the off-topic requests the same message would be answered with a clinic topic.
    assert is_confident(index(lang, off_topic=False).search(text)[0])


def test_the_clinic_questions_near_an_off_topic_word_are_still_answered() -> None:
    for text, lang, topic in [
        ("what time do you close on sundays", "en", "clinic.hours_location"),
        ("can i get cupping if i have a rash", "en", "cupping.skin_conditions"),
        ("a que hora abren", "es", "clinic.hours_location"),
    ]:
        found = index(lang).search(text)[0]
        assert (found.topic, is_confident(found)) == (topic, True), text


def test_a_word_in_two_families_or_a_phrase_is_refused(tmp_path: Path) -> None:
    twice = tmp_path / "twice.yaml"
    twice.write_text("en:\n  child: [kid]\n  young: [kid]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="two families"):
        load_synonyms(twice)
    phrase = tmp_path / "phrase.yaml"
    phrase.write_text("en:\n  child: [little one]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not one word"):
        load_synonyms(phrase)
    flat = tmp_path / "flat.yaml"
    flat.write_text("en: [kid]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="mapping of languages"):
        load_synonyms(flat)


def test_the_shipped_word_lists_cover_both_languages() -> None:
    assert set(load_synonyms(SYNONYMS_FILE)) == {"en", "es"}
    requests = load_elsewhere(ELSEWHERE_FILE)
    assert set(requests) == {"en", "es"} and all(requests.values())


@pytest.mark.parametrize(
    ("word", "base"),
    [
        ("marquita", "marca"),
        ("agujitas", "agujas"),
        ("cafecito", "cafe"),
        ("cablecitos", "cables"),
        ("cervecita", "cerveza"),
        ("ratito", "rato"),
    ],
)
def test_a_diminutive_offers_its_base_word(word: str, base: str) -> None:
    assert base in diminutive_bases(word)


def test_a_word_that_is_no_diminutive_offers_nothing() -> None:
    assert diminutive_bases("cita") == ()
    assert diminutive_bases("dolor") == ()


def test_an_unknown_diminutive_is_read_as_the_word_the_answers_use() -> None:
    assert stem("marca", "es") in index("es").terms("me quedo una marquita")
