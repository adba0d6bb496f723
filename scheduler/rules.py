"""Appointment nudge rules, read from content/nudges.yaml and checked once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import yaml

from scheduler.timing import parse_hhmm

__all__ = ["ASKS", "NudgeRule", "load_nudge_rules"]

ASKS = ("confirm", "pain_score")
_KEYS = {
    "id",
    "offset_hours",
    "at",
    "message",
    "ask",
    "expires_after_hours",
    "only_without_future_visit",
    "version",
}


@dataclass(frozen=True)
class NudgeRule:
    """When a nudge goes out relative to an appointment, what it says and asks."""

    id: str
    offset: timedelta
    message: str
    expires_after: timedelta
    version: int = 1
    at: time | None = None
    ask: str | None = None
    only_without_future_visit: bool = False

    @property
    def before_visit(self) -> bool:
        """Say whether the nudge goes out before the appointment starts."""
        return self.offset < timedelta(0)


def _rule(path: Path, index: int, raw: Any) -> NudgeRule:
    where = f"{path}: rule {index + 1}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: must be a mapping")
    unknown = set(raw) - _KEYS
    if unknown:
        raise ValueError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    try:
        rule = NudgeRule(
            id=str(raw["id"]),
            offset=timedelta(hours=float(raw["offset_hours"])),
            message=str(raw["message"]),
            expires_after=timedelta(hours=float(raw["expires_after_hours"])),
            version=int(raw.get("version", 1)),
            at=parse_hhmm(str(raw["at"])) if raw.get("at") is not None else None,
            ask=str(raw["ask"]) if raw.get("ask") is not None else None,
            only_without_future_visit=bool(raw.get("only_without_future_visit", False)),
        )
    except KeyError as exc:
        raise ValueError(f"{where}: missing field {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None
    if rule.ask is not None and rule.ask not in ASKS:
        raise ValueError(f"{where}: ask must be one of {', '.join(ASKS)}")
    if rule.expires_after <= timedelta(0) or rule.version < 1:
        raise ValueError(f"{where}: expires_after_hours and version must be positive")
    return rule


def load_nudge_rules(path: Path) -> tuple[NudgeRule, ...]:
    """Read and check the nudge rules; ValueError naming the file and rule on bad data."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read nudge rules: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("rules"), list):
        raise ValueError(f"{path}: expected a `rules:` list")
    rules = tuple(_rule(path, i, item) for i, item in enumerate(raw["rules"]))
    ids = [rule.id for rule in rules]
    duplicate = next((i for i in ids if ids.count(i) > 1), None)
    if duplicate is not None:
        raise ValueError(f"{path}: rule id {duplicate!r} appears twice")
    return rules
