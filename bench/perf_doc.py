"""Write one benchmark's section of docs/PERFORMANCE.md, leaving the others as they are."""

from __future__ import annotations

from pathlib import Path

__all__ = ["PERFORMANCE", "write_section"]

PERFORMANCE = Path(__file__).resolve().parents[1] / "docs" / "PERFORMANCE.md"


def write_section(title: str, body: str) -> None:
    """Replace (or append) the `## title` section with body."""
    text = PERFORMANCE.read_text(encoding="utf-8") if PERFORMANCE.exists() else "# Performance\n"
    heading = f"## {title}"
    section = f"{heading}\n\n{body.strip()}\n"
    if heading in text:
        start = text.index(heading)
        following = text.find("\n## ", start + len(heading))
        end = len(text) if following == -1 else following + 1
        text = text[:start] + section + ("\n" + text[end:] if following != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    PERFORMANCE.write_text(text, encoding="utf-8")
