"""Score red-flag triage on a labelled set of patient messages (tests/eval/triage_*.jsonl).

A case is one JSON line: `text`, `lang`, `expect` (emergency, crisis, urgent or none) and `kind`
(what it is about). A flagged case is caught when triage gives its category; sending an urgent
case to the emergency reply is over-triage and counts as caught; anything less severe, or the
safety-net `check`, is a miss. A near-miss (`none`) that gets an emergency, crisis or urgent reply
is a false alarm; one that gets the safety-net `check` is counted apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from handlers.triage.engine import RedFlag, triage
from handlers.triage.model import Category, RedFlagRules

__all__ = ["Case", "Outcome", "Score", "evaluate", "load_cases"]

_EXPECT = {"emergency", "crisis", "urgent", "none"}


@dataclass(frozen=True)
class Case:
    """One labelled message."""

    text: str
    lang: str
    expect: str  # emergency, crisis, urgent or none
    kind: str


@dataclass(frozen=True)
class Outcome:
    """What triage gave one case."""

    case: Case
    flag: RedFlag | None

    @property
    def got(self) -> str:
        """Return the category triage gave, or "none"."""
        return str(self.flag.category) if self.flag else "none"


@dataclass
class Score:
    """Recall on flagged cases and false alarms on near-misses."""

    flagged: int = 0
    caught: int = 0
    near_misses: int = 0
    misses: list[Outcome] = field(default_factory=list)
    false_alarms: list[Outcome] = field(default_factory=list)
    checks: list[Outcome] = field(default_factory=list)  # near-misses given the safety net
    by_category: dict[str, tuple[int, int]] = field(default_factory=dict)  # (caught, flagged)

    @property
    def recall(self) -> float:
        """Return the share of flagged cases caught with the right category."""
        return self.caught / self.flagged if self.flagged else 1.0

    @property
    def false_alarm_rate(self) -> float:
        """Return the share of near-misses given an emergency, crisis or urgent reply."""
        return len(self.false_alarms) / self.near_misses if self.near_misses else 0.0

    def lines(self) -> list[str]:
        """Return the score and every miss and false alarm, one line each."""
        out = [
            f"recall {self.recall:.1%} ({self.caught}/{self.flagged}) with the right category",
            f"false alarms {self.false_alarm_rate:.1%} ({len(self.false_alarms)}/"
            f"{self.near_misses} near-misses); safety-net checks on near-misses: "
            f"{len(self.checks)}",
        ]
        if self.by_category:
            out.append(
                "by category: "
                + ", ".join(
                    f"{name} {caught / flagged:.1%} ({caught}/{flagged})"
                    for name in Category  # most severe first
                    for caught, flagged in [self.by_category.get(name, (0, 0))]
                    if flagged
                )
            )
        for label, outcomes in (("miss", self.misses), ("false alarm", self.false_alarms)):
            for o in outcomes:
                rule = f" ({o.flag.rule})" if o.flag else ""
                out.append(
                    f"{label}: expected {o.case.expect}, got {o.got}{rule} [{o.case.kind}, "
                    f"{o.case.lang}] {o.case.text}"
                )
        return out


def load_cases(path: Path) -> list[Case]:
    """Read a JSON-lines file of cases; ValueError names the line of a bad one."""
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            case = Case(str(row["text"]), str(row["lang"]), str(row["expect"]), str(row["kind"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a case ({exc})") from None
        if case.expect not in _EXPECT:
            raise ValueError(f"{path}:{number}: expect must be one of {sorted(_EXPECT)}")
        cases.append(case)
    return cases


def _caught(expect: str, got: str) -> bool:
    return got == expect or (expect == Category.URGENT and got == Category.EMERGENCY)


def evaluate(cases: list[Case], rules: RedFlagRules) -> Score:
    """Run triage on every case and score it."""
    score = Score()
    for case in cases:
        outcome = Outcome(case, triage(case.text, rules))
        if case.expect == "none":
            score.near_misses += 1
            if outcome.got == Category.CHECK:
                score.checks.append(outcome)
            elif outcome.flag is not None:
                score.false_alarms.append(outcome)
        else:
            score.flagged += 1
            caught = _caught(case.expect, outcome.got)
            before = score.by_category.get(case.expect, (0, 0))
            score.by_category[case.expect] = (before[0] + caught, before[1] + 1)
            if caught:
                score.caught += 1
            else:
                score.misses.append(outcome)
    return score
