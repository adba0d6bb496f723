"""Red-flag triage: flag emergencies, crises and urgent problems before any FAQ answer.

See docs/TRIAGE.md. The package's modules, each with one job:

- `model`: the compiled rules (categories, phrases, modifiers, rules, word readings);
- `rule_file` and `loading`: read and check content/red_flags.yaml, then compile it;
- `folding`: how a word is read (spellings folded, typos corrected, stems and sounds);
- `modifiers`: ConText-style cues (negation, past, hypothetical...) and what they cancel;
- `engine`: read a message, find concepts, fire the most severe rule;
- `explain` and `evaluation`: `clinicbot triage explain` and `clinicbot triage eval`.
"""

from handlers.triage.engine import RedFlag, Scan, blocked, fires, scan, triage
from handlers.triage.loading import load_red_flag_rules
from handlers.triage.model import Category, RedFlagRules, Rule

__all__ = [
    "Category",
    "RedFlag",
    "RedFlagRules",
    "Rule",
    "Scan",
    "blocked",
    "fires",
    "load_red_flag_rules",
    "scan",
    "triage",
]
