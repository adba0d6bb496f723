"""Imports point one way: channels and the scheduler use the core, never the reverse.

Nothing in handlers/ (the core) or scheduler/ imports bot/channels/: a channel is a package
the app plugs in, so the core and the scheduler must work without any one of them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHANNELS = "bot.channels"


def imported_modules(source: str) -> Iterator[str]:
    """Yield every module a source imports, at any depth (lazy imports in functions too)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def reaches_channels(source: str) -> list[str]:
    return sorted(
        {name for name in imported_modules(source) if (name + ".").startswith(CHANNELS + ".")}
    )


def test_the_check_sees_every_form_of_import() -> None:
    source = (
        "import bot.channels.base\n"
        "from bot import channels\n"
        "def late():\n"
        "    from bot.channels.sms.sender import SmsSender\n"
        "from bot.clock import Clock\n"
        "from bot.channels_extra import x\n"
    )
    assert reaches_channels(source) == [
        "bot.channels",
        "bot.channels.base",
        "bot.channels.sms.sender",
        "bot.channels.sms.sender.SmsSender",
    ]


def test_neither_the_core_nor_the_scheduler_imports_a_channel() -> None:
    offenders = {
        str(path.relative_to(ROOT)): found
        for layer in ("handlers", "scheduler")
        for path in sorted((ROOT / layer).rglob("*.py"))
        if (found := reaches_channels(path.read_text()))
    }
    assert offenders == {}
