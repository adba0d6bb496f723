"""Red-flag triage on messages written blind (by writers who saw neither content/ nor the rules).

Every set here has been studied: each was run blind once first (the two locked sets at the end of
a round of rule writing) and its first-run figures are in docs/TRIAGE.md (a test checks that each
set has its row there). A new set dropped into tests/eval/ is picked up by name. The next honest
measure needs a new locked set written blind. `clinicbot triage eval FILE` prints the same scores
with every miss.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from handlers.conversation.answer import Answerer
from handlers.triage import RedFlagRules
from handlers.triage.evaluation import Case, evaluate, load_cases
from tests.test_cli import clinicbot

EVAL = Path(__file__).resolve().parent / "eval"
STUDIED = sorted(path.name for path in EVAL.glob("triage_*.jsonl"))


@pytest.fixture(scope="module")
def red_flag_rules(answerer: Answerer) -> RedFlagRules:
    return answerer.rules


def _all() -> list[Case]:
    return [case for name in STUDIED for case in load_cases(EVAL / name)]


def test_the_blind_sets_are_as_large_and_as_spanish_as_the_issue_asks() -> None:
    cases = _all()
    flagged = [c for c in cases if c.expect != "none"]
    assert len(flagged) >= 300
    assert len(cases) - len(flagged) >= 150
    assert Counter(c.lang for c in flagged)["es"] >= 0.3 * len(flagged)
    assert {c.expect for c in flagged} == {"emergency", "crisis", "urgent"}


@pytest.mark.parametrize("name", STUDIED)
def test_the_studied_sets_are_all_caught_with_few_false_alarms(
    red_flag_rules: RedFlagRules, name: str
) -> None:
    score = evaluate(load_cases(EVAL / name), red_flag_rules)
    assert [line for line in score.lines() if line.startswith("miss")] == []
    assert score.recall == 1.0
    assert score.false_alarm_rate <= 0.03


def test_every_studied_set_has_its_blind_first_run_in_the_docs() -> None:
    """A set joins the studied sets only with the figures of its first, blind run recorded."""
    doc = (EVAL.parents[1] / "docs" / "TRIAGE.md").read_text(encoding="utf-8")
    rows = {line.split("`")[1]: line for line in doc.splitlines() if line.startswith("| `triage_")}
    assert sorted(rows) == STUDIED
    for name, row in rows.items():
        cases = load_cases(EVAL / name)
        flagged = sum(case.expect != "none" for case in cases)
        assert f"| {flagged} / {len(cases) - flagged} |" in row, name
        assert "%" in row.split("|")[-2], name


def test_over_triage_of_an_urgent_case_counts_as_caught_and_under_triage_does_not(
    red_flag_rules: RedFlagRules,
) -> None:
    cases = [
        Case("my legs are getting weaker every hour", "en", "urgent", "over"),
        Case("my legs are getting weaker every hour", "en", "crisis", "wrong"),
        Case("this traffic is killing me", "en", "none", "figurative"),
    ]
    score = evaluate(cases, red_flag_rules)
    assert (score.flagged, score.caught, score.near_misses) == (2, 1, 1)
    assert [o.case.kind for o in score.misses] == ["wrong"]
    assert score.false_alarms == []


def test_a_bad_case_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text('{"text": "x", "lang": "en", "expect": "none", "kind": "k"}\n{oops}\n')
    with pytest.raises(ValueError, match=r"cases.jsonl:2: not a case"):
        load_cases(path)
    result = clinicbot("triage", "eval", str(path))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "cases.jsonl:2: not a case" in result.stderr


def test_triage_explain_names_the_concepts_the_modifiers_and_the_rule() -> None:
    result = clinicbot("triage", "explain", "I took a whole bottle of my pain pills")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "concept INGESTED: 'took'" in lines
    assert any(line.startswith("FIRES emergency poisoning.overdose_taken") for line in lines)
    negated = clinicbot("triage", "explain", "no numbness in my groin").stdout.splitlines()
    assert "concept NUMB: 'numbness' (cancelled by negation)" in negated
    assert negated[-1] == "no rule fires: the message is answered as usual"


def test_triage_eval_prints_the_score_and_every_miss(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text(
        '{"text": "i cant pee and my back is killing me", "lang": "en", "expect": "emergency",'
        ' "kind": "cauda"}\n'
        '{"text": "what are your hours", "lang": "en", "expect": "crisis",'
        ' "kind": "mislabelled"}\n'
    )
    result = clinicbot("triage", "eval", str(path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "recall 50.0% (1/2) with the right category"
    assert lines[2] == "by category: emergency 100.0% (1/1), crisis 0.0% (0/1)"
    assert "miss: expected crisis, got none [mislabelled, en] what are your hours" in result.stdout


PARTLY_FIXED = EVAL / "partly_fixed"


@pytest.mark.parametrize(
    ("name", "caught", "false_alarms"),
    [("triage_locked4.jsonl", 158, 5)],  # 151 and 6 on its one blind run (docs/TRIAGE.md)
)
def test_a_spent_locked_set_not_yet_fully_fixed_does_not_lose_ground(
    red_flag_rules: RedFlagRules, name: str, caught: int, false_alarms: int
) -> None:
    """A locked set, once run, is studied; until every miss is fixed it is held where it is."""
    score = evaluate(load_cases(PARTLY_FIXED / name), red_flag_rules)
    assert score.caught >= caught
    assert len(score.false_alarms) <= false_alarms
