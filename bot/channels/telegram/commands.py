"""The command menu Telegram shows, registered with setMyCommands in every language."""

from __future__ import annotations

from typing import Any

from telegram import BotCommand

from content.store import ContentStore

__all__ = ["DEFAULT_LANGUAGE", "command_list", "register_commands"]

DEFAULT_LANGUAGE = "en"  # shown to users whose Telegram language has no list of its own


def command_list(content: ContentStore, lang: str) -> list[tuple[str, str]]:
    """Return (command, description) pairs from the `telegram_commands` message."""
    pairs = []
    for line in content.message("telegram_commands", lang).text.splitlines():
        name, sep, about = line.partition(" - ")
        if sep and name.strip().isidentifier():
            pairs.append((name.strip(), about.strip()[:256]))
    return pairs


async def register_commands(bot: Any, content: ContentStore) -> None:
    """Register the command list for each language, English also as the default."""
    for lang in content.languages:
        commands = [BotCommand(name, about) for name, about in command_list(content, lang)]
        code = None if lang == DEFAULT_LANGUAGE else lang
        await bot.set_my_commands(commands, language_code=code)
