"""`clinicbot content check`: the shipped content passes; each kind of mistake is reported."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.settings import DEFAULT_CONTENT_DIR
from content.check import MAX_SHORT_CHARS, REQUIRED_TOPICS, check_content, load_content
from content.sms import count_segments, to_sms_text


@pytest.fixture
def content(tmp_path: Path) -> Path:
    target = tmp_path / "content"
    shutil.copytree(
        DEFAULT_CONTENT_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    return target


def _problems(directory: Path) -> list[str]:
    return [str(problem) for problem in check_content(directory)]


def test_the_shipped_content_is_clean() -> None:
    assert _problems(DEFAULT_CONTENT_DIR) == []


def test_every_required_topic_is_in_both_languages_and_fits_two_segments() -> None:
    store = load_content(DEFAULT_CONTENT_DIR)
    for lang in ("en", "es"):
        assert set(store.answers[lang]) >= set(REQUIRED_TOPICS)
        for answer in store.answers[lang].values():
            assert "{{" not in answer.body + answer.sms + answer.title
            assert count_segments(to_sms_text(answer.sms)).count <= 2


def test_variables_are_filled_per_language() -> None:
    store = load_content(DEFAULT_CONTENT_DIR)
    hours = store.clinic["hours"]
    assert hours["en"] in store.answers["en"]["clinic.hours_location"].body
    assert hours["es"] in store.answers["es"]["clinic.hours_location"].body


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_unknown_variable_is_reported_with_file_and_line(content: Path) -> None:
    path = content / "answers" / "en" / "pricing.md"
    lines = path.read_text(encoding="utf-8").splitlines()
    body_line = len(lines)  # the last line of the body
    path.write_text(
        "\n".join([*lines, "Ask for {{ prices.gold_plated }}."]) + "\n", encoding="utf-8"
    )
    assert _problems(content) == [
        f"{path}:{body_line + 1}: unknown variable {{{{ prices.gold_plated }}}}"
    ]


def test_missing_topic_and_broken_related_link(content: Path) -> None:
    (content / "answers" / "es" / "herbs.md").unlink()
    _edit(content / "answers" / "en" / "herbs.md", "related: [", "related: [no.such.topic, ")
    problems = _problems(content)
    assert any("herbs.md:1: required topic 'herbs' is missing in 'es'" in p for p in problems)
    assert any("related id 'no.such.topic' does not exist" in p for p in problems)


def test_sms_too_long_is_reported(content: Path) -> None:
    path = content / "answers" / "en" / "pricing.md"
    _edit(path, "\nsms: >-\n", "\nsms: >-\n  " + "Long text. " * 40 + "\n")
    line = path.read_text(encoding="utf-8").splitlines().index("sms: >-") + 1
    assert any(f"pricing.md:{line}: sms is 5 GSM-7 segments" in p for p in _problems(content))


def test_schema_errors(content: Path) -> None:
    path = content / "answers" / "en" / "period.md"
    _edit(path, "reviewed: 2026-11-20", "reviewed: last week\ncolour: blue")
    problems = _problems(content)
    assert any(p.startswith(f"{path}:") and "unknown field 'colour'" in p for p in problems)
    broken = content / "answers" / "en" / "ages.md"
    broken.write_text("no front matter here\n", encoding="utf-8")
    assert f"{broken}:1: missing front matter (the file must start with ---)" in _problems(content)


def test_duplicate_id_and_wrong_language_folder(content: Path) -> None:
    shutil.copy(content / "answers" / "en" / "period.md", content / "answers" / "es" / "extra.md")
    problems = _problems(content)
    assert any("extra.md" in p and "lang 'en' must be the folder name" in p for p in problems)
    assert any("extra.md" in p and "match the file name" in p for p in problems)


def test_forbidden_claims_are_flagged(content: Path) -> None:
    _edit(
        content / "answers" / "en" / "herbs.md", "\n---\n", "\n---\nOur herbs cure 90% of cases.\n"
    )
    problems = _problems(content)
    assert any("forbidden claim 'cure'" in p for p in problems)
    assert any("forbidden claim '90%'" in p for p in problems)


def test_bad_clinic_yaml(content: Path) -> None:
    _edit(content / "clinic.yaml", "timezone: America/Los_Angeles", "timezone: Pacific/Nowhere")
    assert any(
        "timezone 'Pacific/Nowhere' is not an IANA time zone" in p for p in _problems(content)
    )
    (content / "clinic.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    assert any("clinic.yaml:" in p and "invalid YAML" in p for p in _problems(content))


def test_load_content_refuses_broken_content(content: Path) -> None:
    (content / "answers" / "en" / "pricing.md").unlink()
    with pytest.raises(ValueError, match="required topic 'pricing' is missing"):
        load_content(content)


def test_a_message_missing_in_one_language_is_reported(content: Path) -> None:
    path = content / "messages" / "es.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("\nthanks:")
    end = text.index("\n", text.index("text:", start)) + 1
    path.write_text(text[:start] + "\n" + text[end:], encoding="utf-8")
    problems = _problems(content)
    assert f"{path}:1: message 'thanks' is in en.yaml only" in problems


def test_every_answer_has_a_short_form_that_fits() -> None:
    store = load_content(DEFAULT_CONTENT_DIR)
    for answers in store.answers.values():
        for answer in answers.values():
            assert 0 < len(answer.short) <= MAX_SHORT_CHARS, answer.id
            assert "{{" not in answer.short and "{%" not in answer.short


def test_short_form_too_long_or_missing_is_reported(content: Path) -> None:
    path = content / "answers" / "en" / "pricing.md"
    _edit(path, "\nshort: >-\n", "\nshort: >-\n  " + "Long text. " * 40 + "\n")
    line = path.read_text(encoding="utf-8").splitlines().index("short: >-") + 1
    assert any(
        f"pricing.md:{line}: short is " in p and f"at most {MAX_SHORT_CHARS}" in p
        for p in _problems(content)
    )
    other = content / "answers" / "es" / "herbs.md"
    text = other.read_text(encoding="utf-8")
    start = text.index("\nshort: >-\n")
    end = text.index("\n---\n", start)
    other.write_text(text[:start] + text[end:], encoding="utf-8")
    assert any("herbs.md:2: missing field 'short'" in p for p in _problems(content))


def _medicare(directory: Path, lang: str) -> str:
    answer = load_content(directory).answer("billing.medicare", lang)
    assert answer is not None
    return f"{answer.short}\n{answer.sms}\n{answer.body}"


def test_medicare_answers_follow_the_supervising_physician_fact(content: Path) -> None:
    # Licensed acupuncturists alone: Medicare cannot be billed, and the answers say so.
    alone = {lang: _medicare(content, lang) for lang in ("en", "es")}
    assert "can't bill Medicare" in alone["en"] and "no podemos facturar" in alone["es"].lower()
    assert "we can bill Original Medicare" not in alone["en"]
    _edit(
        content / "clinic.yaml",
        "medicare_supervising_physician: false",
        "medicare_supervising_physician: true",
    )
    assert _problems(content) == []  # both versions fit the limits
    supervised = {lang: _medicare(content, lang) for lang in ("en", "es")}
    assert "we can bill Original Medicare" in supervised["en"]
    assert "podemos facturar a Medicare Original" in supervised["es"]
    assert "can't bill Medicare" not in supervised["en"]
    for lang, word in (("en", "physician"), ("es", "médico")):  # who gives or supervises it
        assert word in supervised[lang] and word in alone[lang]


def test_a_condition_on_an_unknown_or_non_yes_no_fact_is_reported(content: Path) -> None:
    path = content / "answers" / "en" / "pricing.md"
    lines = path.read_text(encoding="utf-8").splitlines()
    extra = [
        "{% if has_sauna %}We have a sauna.{% endif %}",
        "{% if phone %}Call us.{% endif %}",
        "{% else %}",
    ]
    path.write_text("\n".join([*lines, *extra]) + "\n", encoding="utf-8")
    n = len(lines)
    assert _problems(content) == [
        f"{path}:{n + 1}: {{% if has_sauna %}} needs a yes/no fact (true or false) in clinic.yaml",
        f"{path}:{n + 2}: {{% if phone %}} needs a yes/no fact (true or false) in clinic.yaml",
        f"{path}:{n + 3}: a {{% ... %}} tag outside an {{% if fact %}}...{{% endif %}} section",
    ]
